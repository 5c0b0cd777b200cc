"""The embedded verifiable task: seeded multi-step integer arithmetic with gold traces.

A problem is an expression such as `3 + 4 - 2`; its gold trace reduces it one operation per line
(multiplications first, then left to right) and ends in `Answer: N`, the DAPO protocol, so the
same verifier serves AIME and this task:

    3 + 4 = 7
    7 - 2 = 5
    Answer: 5

A configurable fraction of traces contains one slip followed by a correction introduced by
"Wait," (`3 + 4 = 8. Wait, let me re-check: 3 + 4 = 7`), a self-reflection the model can learn.

Train and test never share a problem: the split of a problem is a hash of its canonical text, so
the partition is fixed by construction, whatever the seed or the size asked for.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from fipo_bench.errors import DataError
from fipo_bench.tasks.problem import Problem

DATASET = "synthetic"
SPLITS = ("train", "test")
TEST_FRACTION = 0.2  # share of the problem space (by hash) that belongs to the test split
DEFAULT_LEVELS = (1, 2, 3)
DEFAULT_SIZE = {"train": 2000, "test": 200}  # n=None
DEFAULT_WAIT_FRACTION = 0.25
WAIT_PHRASE = "Wait, let me re-check:"
# Levels whose whole space is at most this many problems are enumerated (exact capacity, no
# rejection loops); larger ones are sampled, where a repeat is rare and simply redrawn.
_ENUMERATE_MAX = 200_000


@dataclass(frozen=True)
class Level:
    """One difficulty: `n_ops` operations on operands drawn from 0..max_operand."""

    n_ops: int
    max_operand: int
    ops: str = "+-"  # any of "+-*"

    def __post_init__(self) -> None:
        if self.n_ops < 1:
            raise DataError(f"synthetic level n_ops={self.n_ops} is invalid; allowed: >= 1")
        if self.max_operand < 1:
            raise DataError(
                f"synthetic level max_operand={self.max_operand} is invalid; allowed: >= 1"
            )
        if not self.ops or set(self.ops) - set("+-*") or len(set(self.ops)) != len(self.ops):
            raise DataError(
                f"synthetic level ops={self.ops!r} is invalid; allowed: a subset of '+-*'"
            )

    @property
    def space_size(self) -> int:
        """Number of distinct problems at this level (both splits together)."""
        return (self.max_operand + 1) ** (self.n_ops + 1) * len(self.ops) ** self.n_ops


# Named levels. 1-3 are what a ~2M-parameter char model learns in minutes on a CPU (the default
# test split); 4-5 leave headroom (larger numbers, small multiplications).
LEVELS: dict[int, Level] = {
    1: Level(n_ops=1, max_operand=9),
    2: Level(n_ops=2, max_operand=9),
    3: Level(n_ops=3, max_operand=9),
    4: Level(n_ops=3, max_operand=99),
    5: Level(n_ops=3, max_operand=9, ops="+-*"),
}


def resolve_levels(levels: int | Level | Sequence[int | Level]) -> tuple[tuple[int, Level], ...]:
    """(name, Level) pairs from named level numbers or Level objects; DataError on unknown names.

    A Level object is named by its position in `levels` (1-based), a number by itself.
    """
    if isinstance(levels, int | Level):
        levels = [levels]
    if len(levels) == 0:
        raise DataError("synthetic levels=() is empty; allowed: one or more of 1-5 or Level(...)")
    resolved = []
    for position, level in enumerate(levels, start=1):
        if isinstance(level, Level):
            resolved.append((position, level))
        elif isinstance(level, int) and not isinstance(level, bool) and level in LEVELS:
            resolved.append((level, LEVELS[level]))
        else:
            raise DataError(
                f"synthetic level {level!r} is unknown; allowed: {sorted(LEVELS)} or Level(...)"
            )
    return tuple(resolved)


# ---------------------------------------------------------------- expressions and their traces


def format_expression(operands: Sequence[int], ops: Sequence[str]) -> str:
    """Canonical problem text: operands and operators separated by single spaces."""
    parts = [str(operands[0])]
    for op, value in zip(ops, operands[1:], strict=True):
        parts += [op, str(value)]
    return " ".join(parts)


def parse_expression(text: str) -> tuple[list[int], list[str]]:
    """Inverse of format_expression (the problem text is the single source of truth)."""
    tokens = text.split(" ")
    if len(tokens) < 3 or len(tokens) % 2 == 0:
        raise DataError(f"synthetic problem {text!r} is not 'a op b [op c ...]'")
    try:
        operands = [int(t) for t in tokens[0::2]]
    except ValueError as exc:
        raise DataError(f"synthetic problem {text!r} has a non-integer operand") from exc
    ops = tokens[1::2]
    if set(ops) - set("+-*"):
        raise DataError(f"synthetic problem {text!r} has an operator outside '+-*'")
    return operands, ops


def _apply(a: int, op: str, b: int) -> int:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    return a * b


def reduction_steps(operands: Sequence[int], ops: Sequence[str]) -> list[tuple[int, str, int, int]]:
    """(a, op, b, result) per step: multiplications first, then + and - left to right."""
    values, pending = list(operands), list(ops)
    steps = []
    while pending:
        i = pending.index("*") if "*" in pending else 0
        a, op, b = values[i], pending[i], values[i + 1]
        result = _apply(a, op, b)
        steps.append((a, op, b, result))
        values[i : i + 2] = [result]
        del pending[i]
    return steps


def evaluate(text: str) -> int:
    """Exact integer value of a problem text."""
    operands, ops = parse_expression(text)
    return reduction_steps(operands, ops)[-1][3]


def _unit_hash(*parts: object) -> float:
    """Deterministic value in [0, 1) from the parts (stable across processes, unlike hash())."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_of(text: str) -> str:
    """The split a problem belongs to, fixed by its canonical text."""
    return "test" if _unit_hash("split", text) < TEST_FRACTION else "train"


def problem_id_of(text: str) -> str:
    return "syn-" + hashlib.sha256(text.encode()).hexdigest()[:12]


def has_slip(problem: Problem, wait_fraction: float = DEFAULT_WAIT_FRACTION) -> bool:
    """Whether the gold trace of this problem carries a slip + "Wait," correction.

    Decided by a hash of the problem, so a problem's trace never changes between calls and the
    share of slipped traces over many problems approaches `wait_fraction`.
    """
    _check_fraction(wait_fraction)
    return _unit_hash("slip", problem.problem) < wait_fraction


def gold_trace(problem: Problem, *, wait_fraction: float = DEFAULT_WAIT_FRACTION) -> str:
    """Step-by-step solution ending in the line `Answer: N` (no trailing newline)."""
    operands, ops = parse_expression(problem.problem)
    steps = reduction_steps(operands, ops)
    slip_step = -1
    if has_slip(problem, wait_fraction):
        slip_step = int(_unit_hash("slip-step", problem.problem) * len(steps))
    lines = []
    for i, (a, op, b, result) in enumerate(steps):
        line = f"{a} {op} {b} = {result}"
        if i == slip_step:
            # An off-by-one or -two slip: the kind of error a model makes, and one it can catch.
            offset = 1 + int(_unit_hash("slip-size", problem.problem) * 2)
            wrong = result + (offset if _unit_hash("slip-sign", problem.problem) < 0.5 else -offset)
            line = f"{a} {op} {b} = {wrong}. {WAIT_PHRASE} {line}"
        lines.append(line)
    lines.append(f"Answer: {steps[-1][3]}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- problem sets


def _check_fraction(value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise DataError(f"synthetic wait_fraction={value} is invalid; allowed: 0.0..1.0")


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise DataError(f"synthetic split {split!r} is unknown; allowed: {', '.join(SPLITS)}")


def _make_problem(text: str, level_name: int, level: Level) -> Problem:
    return Problem(
        dataset=DATASET,
        problem_id=problem_id_of(text),
        problem=text,
        answer=str(evaluate(text)),
        meta={"level": level_name, "n_ops": level.n_ops, "max_operand": level.max_operand},
    )


def _random_text(level: Level, rng: random.Random) -> str:
    operands = [rng.randint(0, level.max_operand) for _ in range(level.n_ops + 1)]
    ops = [rng.choice(level.ops) for _ in range(level.n_ops)]
    return format_expression(operands, ops)


@functools.lru_cache(maxsize=32)
def _enumerate_split(level: Level, split: str) -> tuple[str, ...]:
    values = range(level.max_operand + 1)
    texts = []
    for operands in itertools.product(values, repeat=level.n_ops + 1):
        for ops in itertools.product(level.ops, repeat=level.n_ops):
            text = format_expression(operands, ops)
            if split_of(text) == split:
                texts.append(text)
    return tuple(texts)


def _capacity(level: Level, split: str) -> int:
    """How many distinct problems of this level the split holds (estimate for sampled levels)."""
    if level.space_size <= _ENUMERATE_MAX:
        return len(_enumerate_split(level, split))
    share = TEST_FRACTION if split == "test" else 1.0 - TEST_FRACTION
    return int(level.space_size * share * 0.5)  # sampled levels: keep rejection cheap


def _allocate(n: int, capacities: Sequence[int]) -> list[int]:
    """Split n as evenly as possible over levels, never above a level's capacity."""
    counts = [0] * len(capacities)
    remaining = n
    open_levels = [i for i, c in enumerate(capacities) if c > 0]
    while remaining > 0 and open_levels:
        share, extra = divmod(remaining, len(open_levels))
        for rank, i in enumerate(list(open_levels)):
            take = min(share + (1 if rank < extra else 0), capacities[i] - counts[i])
            counts[i] += take
            remaining -= take
            if counts[i] == capacities[i]:
                open_levels.remove(i)
    return counts


def load_problems(
    split: str = "test",
    *,
    n: int | None = None,
    seed: int = 0,
    levels: int | Level | Sequence[int | Level] = DEFAULT_LEVELS,
) -> list[Problem]:
    """`n` distinct problems of one split, spread evenly over `levels`, in a seeded order.

    The same (split, n, seed, levels) always gives the same list; problem ids depend only on the
    problem text, so a problem keeps its id across seeds and sizes.
    """
    _check_split(split)
    resolved = resolve_levels(levels)
    n = DEFAULT_SIZE[split] if n is None else n
    if n < 0:
        raise DataError(f"synthetic n={n} is invalid; allowed: >= 0")
    capacities = [_capacity(level, split) for _, level in resolved]
    if n > sum(capacities):
        names = [name for name, _ in resolved]
        raise DataError(
            f"synthetic n={n} exceeds the {sum(capacities)} distinct {split} problems of "
            f"levels {names}; allowed: n <= {sum(capacities)} or harder levels"
        )
    rng = random.Random(f"synthetic:{split}:{seed}")
    problems: list[Problem] = []
    seen: set[str] = set()
    for (name, level), count in zip(resolved, _allocate(n, capacities), strict=True):
        if level.space_size <= _ENUMERATE_MAX:
            texts = [t for t in _enumerate_split(level, split) if t not in seen]
            picked = rng.sample(texts, min(count, len(texts)))
        else:
            picked = []
            while len(picked) < count:
                text = _random_text(level, rng)
                if text not in seen and split_of(text) == split:
                    picked.append(text)
                    seen.add(text)
        seen.update(picked)
        problems += [_make_problem(text, name, level) for text in picked]
    rng.shuffle(problems)
    return problems


def iter_problems(
    split: str = "train",
    *,
    seed: int = 0,
    levels: int | Level | Sequence[int | Level] = DEFAULT_LEVELS,
) -> Iterator[Problem]:
    """An endless seeded stream of problems of one split (repeats allowed), levels uniform.

    For warm-up and RL training, which want fresh draws rather than a fixed list.
    """
    _check_split(split)
    resolved = resolve_levels(levels)
    rng = random.Random(f"synthetic-stream:{split}:{seed}")
    while True:
        name, level = resolved[rng.randrange(len(resolved))]
        text = _random_text(level, rng)
        if split_of(text) == split:
            yield _make_problem(text, name, level)
