"""Gold solutions of the synthetic task in three reasoning styles, and which style a response used.

The warm-up mixes three ways of solving `7 - 2 + 3`, so the base model samples all three and
*how* it reasons decides how often it is right:

    direct    Answer: 8                     short: the whole chain in one step, unreliable
    steps     7 - 2 = 5                     one operation per line, its operands written out
              5 + 3 = 8                     before it is done: longer, more reliable
              Answer: 8
    checked   7 - 2 = 5 (5 + 2 = 7)         every line checked by the inverse operation;
              5 + 3 = 9 (9 - 3 = 6, not 5). Wait, let me re-check: 5 + 3 = 8 (8 - 3 = 5)
              Answer: 8                     a real slip is caught and fixed: the longest

A line of a checked trace may carry a slip (a result off by 1 or 2): its check, true arithmetic
on the wrong number, recovers an operand that differs from the one written, the trace says so,
and the self-reflection phrase (one of the project's reflection lexicon, so keyword pivots find
it) introduces the corrected line. Every number in a trace is true arithmetic except a slipped
result, and the warm-up does not train on that number (`Trace.untrained`): the model learns to
catch a slip, not to make one, so the slips its checks catch are its own. Slips are frequent
enough in the warm-up that a check can only be written by computing it, never by copying the
operand it should give back.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass

from fipo_bench.errors import ConfigError
from fipo_bench.tasks import synthetic
from fipo_bench.tasks.problem import Problem

STYLES = ("direct", "steps", "checked")
WAIT_PHRASE = "Wait, let me re-check:"
ANSWER_PREFIX = "Answer: "
_LINE = re.compile(r"^-?\d+ [+-] -?\d+ = -?\d+", re.MULTILINE)
_CHECK = re.compile(r"^-?\d+ [+-] -?\d+ = -?\d+ \(-?\d+ [+-] -?\d+ = -?\d+", re.MULTILINE)


@dataclass(frozen=True)
class Trace:
    """A written solution; `untrained` holds the (start, end) character spans of slipped
    results, which the warm-up leaves out of the loss."""

    style: str
    text: str
    untrained: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class StyleMix:
    """Shares of the warm-up traces per style, and the share of checked lines with a slip."""

    direct: float = 0.3
    steps: float = 0.4
    checked: float = 0.3
    slip_rate: float = 0.2

    def __post_init__(self) -> None:
        shares = (self.direct, self.steps, self.checked)
        if any(not 0.0 <= share <= 1.0 for share in shares) or abs(sum(shares) - 1.0) > 1e-9:
            raise ConfigError(
                f"warm-up style mix direct={self.direct}, steps={self.steps}, checked="
                f"{self.checked} is invalid; allowed: shares in 0..1 that sum to 1"
            )
        if not 0.0 <= self.slip_rate <= 1.0:
            raise ConfigError(f"warm-up slip_rate={self.slip_rate} is invalid; allowed: 0.0..1.0")

    @property
    def shares(self) -> dict[str, float]:
        return {"direct": self.direct, "steps": self.steps, "checked": self.checked}


def _inverse(a: int, op: str, b: int, result: int) -> str:
    """The check of `a op b = result`: undo the operation, which gives back a when right."""
    if op == "+":
        return f"{result} - {b} = {result - b}"
    return f"{result} + {b} = {result + b}"


def _line(step: tuple[int, str, int, int], *, checked: bool, slip: int = 0) -> tuple[str, int]:
    """One derivation line, `a op b = result` (+ its check), and the position of a slipped
    result in it (-1: no slip)."""
    a, op, b, result = step
    head = f"{a} {op} {b} = "
    right = f"{head}{result}"
    if not checked:
        return right, -1
    right += f" ({_inverse(a, op, b, result)})"
    if not slip:
        return right, -1
    wrong = result + slip
    line = f"{head}{wrong} ({_inverse(a, op, b, wrong)}, not {a}). {WAIT_PHRASE} {right}"
    return line, len(head)


def write_trace(problem: Problem, style: str, slips: Mapping[int, int] | None = None) -> Trace:
    """The gold solution of `problem` in `style`, ending in the line `Answer: N`.

    `slips` (checked style only) maps a 0-based derivation line to the offset of its wrong
    result."""
    if style not in STYLES:
        raise ConfigError(f"trace style {style!r} is unknown; allowed: {', '.join(STYLES)}")
    slips = dict(slips or {})
    operands, ops = synthetic.parse_expression(problem.problem)
    steps = synthetic.reduction_steps(operands, ops)
    if slips and (
        style != "checked" or not set(slips) <= set(range(len(steps))) or 0 in slips.values()
    ):
        raise ConfigError(f"slips {slips} do not fit a {style} trace of {len(steps)} lines")
    answer = f"{ANSWER_PREFIX}{steps[-1][3]}"
    if style == "direct":
        return Trace(style, answer)
    text, untrained = "", []
    for i, step in enumerate(steps):
        line, head = _line(step, checked=style == "checked", slip=slips.get(i, 0))
        if head >= 0:
            start = len(text) + head
            untrained.append((start, start + len(str(step[3] + slips[i]))))
        text += line + "\n"
    return Trace(style, text + answer, tuple(untrained))


def draw_slip(result: int, rng: random.Random, bound: int | None = None) -> int:
    """A slip's offset: off by 1 or 2, and for a nonnegative result never negative nor above the
    level's bound (a number the level never has would give the slip away without any check)."""
    low, high = (0, bound) if result >= 0 else (None, None)
    allowed = [
        offset
        for offset in (-2, -1, 1, 2)
        if (low is None or result + offset >= low) and (high is None or result + offset <= high)
    ]
    return rng.choice(allowed or [1])


def draw_trace(problem: Problem, mix: StyleMix, rng: random.Random) -> Trace:
    """The trace of one warm-up example: style drawn by `mix`, each checked line's slip by
    `mix.slip_rate`."""
    style = rng.choices(STYLES, weights=[mix.shares[s] for s in STYLES])[0]
    slips = {}
    if style == "checked":
        steps = synthetic.reduction_steps(*synthetic.parse_expression(problem.problem))
        for i, step in enumerate(steps):
            if rng.random() < mix.slip_rate:
                slips[i] = draw_slip(step[3], rng, problem.meta.get("max_value"))
    return write_trace(problem, style, slips)


def response_style(text: str) -> str:
    """Which style a response used: checked (a line with its check), steps (derivation lines),
    direct (an answer line first), else "other" (a malformed response)."""
    if _CHECK.search(text):
        return "checked"
    if _LINE.search(text):
        return "steps"
    if text.lstrip().startswith(ANSWER_PREFIX.strip()):
        return "direct"
    return "other"


def caught_slips(text: str) -> int:
    """How many times a response stopped at a failed check and re-did the line."""
    return text.count(WAIT_PHRASE)
