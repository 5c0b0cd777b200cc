"""Gold solutions of the synthetic task in three reasoning styles, and which style a response used.

The warm-up mixes three ways of solving `7 - 2 + 3`, so the base model samples all three and
*how* it reasons decides how often it is right:

    direct    Answer: 8                        short: the whole chain in one step, unreliable
    steps     7 - 2 = 5                        one operation per line, more reliable
              5 + 3 = 8
              Answer: 8
    checked   7 - 2 = 5 (5 + 2 = 7)            every line checked by its inverse operation;
              5 + 3 = 9 (9 - 3 = 6, not 5). Wait, let me re-check: 5 + 3 = 8 (8 - 3 = 5)
              Answer: 8                        a real slip is caught and fixed: the longest

A checked trace may carry one slip (a result off by 1 or 2): its check then recovers an operand
that differs from the one written, the trace says so, and the self-reflection phrase (one of the
project's reflection lexicon, so keyword pivots find it) introduces the corrected line. Every
number in a trace is true arithmetic except the slipped result itself, and the warm-up does not
train on that number (`Trace.untrained`): the model learns to catch a slip, not to make one, so
the slips its checks catch are its own.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from fipo_bench.errors import ConfigError
from fipo_bench.tasks import synthetic
from fipo_bench.tasks.problem import Problem

STYLES = ("direct", "steps", "checked")
WAIT_PHRASE = "Wait, let me re-check:"
ANSWER_PREFIX = "Answer: "
_LINE = re.compile(r"^-?\d+ [+-] -?\d+ = -?\d+", re.MULTILINE)
_CHECK = re.compile(r"= -?\d+ \(-?\d+ [+-] -?\d+ = -?\d+")


@dataclass(frozen=True)
class Slip:
    """A wrong result at derivation line `step` (0-based): the true result plus `offset`."""

    step: int
    offset: int


@dataclass(frozen=True)
class Trace:
    """A written solution; `untrained` is the (start, end) character span of a slipped result,
    which the warm-up leaves out of the loss (None: every character is trained on)."""

    style: str
    text: str
    untrained: tuple[int, int] | None = None


@dataclass(frozen=True)
class StyleMix:
    """Shares of the warm-up traces per style, and of checked traces that carry a caught slip."""

    direct: float = 0.3
    steps: float = 0.4
    checked: float = 0.3
    slip_fraction: float = 0.5

    def __post_init__(self) -> None:
        shares = (self.direct, self.steps, self.checked)
        if any(not 0.0 <= share <= 1.0 for share in shares) or abs(sum(shares) - 1.0) > 1e-9:
            raise ConfigError(
                f"warm-up style mix direct={self.direct}, steps={self.steps}, checked="
                f"{self.checked} is invalid; allowed: shares in 0..1 that sum to 1"
            )
        if not 0.0 <= self.slip_fraction <= 1.0:
            raise ConfigError(
                f"warm-up slip_fraction={self.slip_fraction} is invalid; allowed: 0.0..1.0"
            )

    @property
    def shares(self) -> dict[str, float]:
        return {"direct": self.direct, "steps": self.steps, "checked": self.checked}


def _inverse(a: int, op: str, b: int, result: int) -> str:
    """The check of `a op b = result`: undo the operation, which gives back a when right."""
    if op == "+":
        return f"{result} - {b} = {result - b}"
    return f"{result} + {b} = {result + b}"


def _checked_line(a: int, op: str, b: int, result: int, slip_offset: int) -> tuple[str, int]:
    """The line, and the length of its head before the slipped result (-1: no slip)."""
    right = f"{a} {op} {b} = {result} ({_inverse(a, op, b, result)})"
    if not slip_offset:
        return right, -1
    wrong = result + slip_offset
    head = f"{a} {op} {b} = "
    check = f"({_inverse(a, op, b, wrong)}, not {a}). {WAIT_PHRASE} {right}"
    return f"{head}{wrong} {check}", len(head)


def write_trace(problem: Problem, style: str, slip: Slip | None = None) -> Trace:
    """The gold solution of `problem` in `style`, ending in the line `Answer: N`."""
    if style not in STYLES:
        raise ConfigError(f"trace style {style!r} is unknown; allowed: {', '.join(STYLES)}")
    operands, ops = synthetic.parse_expression(problem.problem)
    steps = synthetic.reduction_steps(operands, ops)
    answer = f"{ANSWER_PREFIX}{steps[-1][3]}"
    if style == "direct":
        return Trace(style, answer)
    if slip is not None and (
        style != "checked" or not 0 <= slip.step < len(steps) or not slip.offset
    ):
        raise ConfigError(f"slip {slip} does not fit a {style} trace of {len(steps)} lines")
    text, untrained = "", None
    for i, (a, op, b, result) in enumerate(steps):
        if style == "steps":
            text += f"{a} {op} {b} = {result}\n"
            continue
        offset = slip.offset if slip is not None and slip.step == i else 0
        line, head = _checked_line(a, op, b, result, offset)
        if head >= 0:
            start = len(text) + head
            untrained = (start, start + len(str(result + offset)))
        text += line + "\n"
    return Trace(style, text + answer, untrained)


def draw_trace(problem: Problem, mix: StyleMix, rng: random.Random) -> Trace:
    """The trace of one warm-up example: style drawn by `mix`, a slip by its fraction."""
    style = rng.choices(STYLES, weights=[mix.shares[s] for s in STYLES])[0]
    slip = None
    if style == "checked" and rng.random() < mix.slip_fraction:
        operands, ops = synthetic.parse_expression(problem.problem)
        steps = synthetic.reduction_steps(operands, ops)
        step = rng.randrange(len(steps))
        offset = rng.choice((-2, -1, 1, 2))
        result = steps[step][3]
        if result >= 0 > result + offset:
            offset = -offset  # a slip writes a plausible number: no sign a level never has
        slip = Slip(step, offset)
    return write_trace(problem, style, slip)


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
