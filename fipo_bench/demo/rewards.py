"""Example plug-in rewards for `train --reward-fn` (TRL's reward-function signature).

    fipo-bench train --preset tiny-dapo --model DIR --steps 30 --out RUN \\
        --reward-fn fipo_bench.demo.rewards:ends_with_even_digit \\
        --set rewards.correctness_weight=0 --set rollout.filter_metric=reward

Each takes the prompts, the completions and the row fields (answer, problem, ... as keyword
lists) and returns one float per completion. They are deliberately trivial: a reward any policy
can learn in a few steps shows that the trainer turns reward into behaviour (tests/
test_learning_rewards.py), whatever the task.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def ends_with_even_digit(
    prompts: Sequence[str], completions: Sequence[str], **fields: Any
) -> list[float]:
    """1.0 when the completion's last non-space character is 0, 2, 4, 6 or 8, else 0.0."""
    return [1.0 if text.rstrip()[-1:] in set("02468") else 0.0 for text in completions]


def ends_with_zero(
    prompts: Sequence[str], completions: Sequence[str], **fields: Any
) -> list[float]:
    """1.0 when the completion's last non-space character is 0, else 0.0."""
    return [1.0 if text.rstrip().endswith("0") else 0.0 for text in completions]
