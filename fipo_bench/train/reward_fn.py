"""A plug-in reward, `rewards.reward_fn = "module:callable"`, with TRL's reward-function shape.

    def my_reward(prompts: list[str], completions: list[str], **fields) -> list[float]

`fields` carries one list per row field, aligned with the completions: `answer` (the gold),
`problem` (the statement), `problem_id`, `dataset`, and `correct` (the verifier's verdict).
Unknown keyword arguments must be accepted (`**kwargs`), as TRL asks of its reward functions.
The function is imported and called once on a probe when training starts, so a typo or a wrong
signature fails before anything is written.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Sequence
from typing import Any

from fipo_bench.errors import ConfigError, DataError

RewardFn = Callable[..., Sequence[float]]

_PROBE_PROMPT = "1 + 1\n"
_PROBE_COMPLETION = "1 + 1 = 2\nAnswer: 2"


def load_reward_fn(spec: str) -> RewardFn:
    """Import `module:callable` and check it answers a one-completion probe with one number."""
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as err:
        raise ConfigError(
            f"rewards.reward_fn={spec!r}: cannot import module {module_name!r} ({err}); allowed:"
            " module:callable importable from the current directory or the environment"
        ) from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ConfigError(f"rewards.reward_fn={spec!r}: {module_name} has no callable {attr!r}")
    call_reward_fn(
        fn,
        spec,
        [_PROBE_PROMPT],
        [_PROBE_COMPLETION],
        {"answer": ["2"], "problem": ["1 + 1"], "problem_id": ["probe"], "dataset": ["probe"],
         "correct": [True]},
    )  # fmt: skip
    return fn


def call_reward_fn(
    fn: RewardFn,
    spec: str,
    prompts: list[str],
    completions: list[str],
    fields: dict[str, list[Any]],
) -> list[float]:
    """The plug-in's rewards, checked: one finite number per completion."""
    try:
        values = list(fn(prompts, completions, **fields))
    except Exception as err:
        raise DataError(f"rewards.reward_fn={spec!r} raised {type(err).__name__}: {err}") from None
    if len(values) != len(completions):
        raise DataError(
            f"rewards.reward_fn={spec!r} returned {len(values)} values for {len(completions)}"
            " completions; allowed: one float per completion"
        )
    out = []
    for value in values:
        try:
            number = math.nan if isinstance(value, bool | str) else float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number):
            raise DataError(
                f"rewards.reward_fn={spec!r} returned {value!r}; allowed: a finite float per"
                " completion"
            )
        out.append(number)
    return out
