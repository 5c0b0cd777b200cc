"""The embedded verifiable task: seeded multi-step integer arithmetic, in disjoint splits.

A problem is a chain of additions and subtractions such as `3 + 4 - 2`, evaluated left to right;
its answer is the integer value. The difficulty levels (operation count, operand range, a bound
on every running value) are data: `data/synthetic_levels.toml`. How a solution is written (a
direct answer, a step-by-step derivation, one with checks) is the warm-up's business:
`fipo_bench.models.traces`.

Train and test never share a problem: the split of a problem is a hash of its canonical text, so
the partition is fixed by construction, whatever the seed or the size asked for.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import random
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from fipo_bench.errors import DataError
from fipo_bench.resources import data_text
from fipo_bench.tasks.problem import Problem

DATASET = "synthetic"
SPLITS = ("train", "test")
OPS = "+-"
TEST_FRACTION = 0.2  # share of the problem space (by hash) that belongs to the test split
DEFAULT_SIZE = {"train": 2000, "test": 200}  # n=None
LEVELS_FILE = "synthetic_levels.toml"  # in the project's data/ (fipo_bench.data when installed)
# Levels whose whole space is at most this many problems are enumerated (exact capacity, no
# rejection loops); larger ones are sampled, where a repeat is rare and simply redrawn.
_ENUMERATE_MAX = 200_000


@dataclass(frozen=True)
class Level:
    """One difficulty: `n_ops` operations on operands 0..max_operand; with `max_value`, every
    running value (operands and intermediate results) stays within 0..max_value."""

    n_ops: int
    max_operand: int
    ops: str = OPS
    max_value: int | None = None

    def __post_init__(self) -> None:
        if self.n_ops < 1:
            raise DataError(f"synthetic level n_ops={self.n_ops} is invalid; allowed: >= 1")
        if self.max_operand < 1:
            raise DataError(
                f"synthetic level max_operand={self.max_operand} is invalid; allowed: >= 1"
            )
        if not self.ops or set(self.ops) - set(OPS) or len(set(self.ops)) != len(self.ops):
            raise DataError(
                f"synthetic level ops={self.ops!r} is invalid; allowed: a subset of {OPS!r}"
            )
        if self.max_value is not None and self.max_value < self.max_operand:
            raise DataError(
                f"synthetic level max_value={self.max_value} is invalid; allowed: >= "
                f"max_operand={self.max_operand}, or none"
            )

    @property
    def space_size(self) -> int:
        """Number of operand/operator combinations (before the running-value bound)."""
        return (self.max_operand + 1) ** (self.n_ops + 1) * len(self.ops) ** self.n_ops

    def admits(self, operands: Sequence[int], ops: Sequence[str]) -> bool:
        """Whether every running value stays within the level's bound."""
        if self.max_value is None:
            return True
        return all(0 <= value <= self.max_value for value in running_values(operands, ops))


def parse_levels(text: str, source: str) -> tuple[dict[int, Level], tuple[int, ...]]:
    """The named levels and the default list of a levels file; DataError naming the entry."""
    try:
        data = tomllib.loads(text)
        levels = {int(name): Level(**spec) for name, spec in data["levels"].items()}
        default = tuple(int(name) for name in data["default"])
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise DataError(f"synthetic levels file {source} is unreadable ({exc})") from exc
    unknown = [name for name in default if name not in levels]
    if unknown or not default:
        raise DataError(f"synthetic levels file {source}: default {list(default)} names no level")
    return levels, default


LEVELS, DEFAULT_LEVELS = parse_levels(data_text(LEVELS_FILE), f"data/{LEVELS_FILE}")


def resolve_levels(levels: int | Level | Sequence[int | Level]) -> tuple[tuple[int, Level], ...]:
    """(name, Level) pairs from named level numbers or Level objects; DataError on unknown names.

    A Level object is named by its position in `levels` (1-based), a number by itself.
    """
    if isinstance(levels, int | Level):
        levels = [levels]
    if len(levels) == 0:
        raise DataError(
            f"synthetic levels=() is empty; allowed: one or more of {sorted(LEVELS)} or Level(...)"
        )
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


# ---------------------------------------------------------------- expressions and their values


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
    if set(ops) - set(OPS):
        raise DataError(f"synthetic problem {text!r} has an operator outside {OPS!r}")
    return operands, ops


def apply(a: int, op: str, b: int) -> int:
    return a + b if op == "+" else a - b


def reduction_steps(operands: Sequence[int], ops: Sequence[str]) -> list[tuple[int, str, int, int]]:
    """(a, op, b, result) per step, left to right: one line of a step-by-step derivation each."""
    steps = []
    value = operands[0]
    for op, b in zip(ops, operands[1:], strict=True):
        result = apply(value, op, b)
        steps.append((value, op, b, result))
        value = result
    return steps


def running_values(operands: Sequence[int], ops: Sequence[str]) -> list[int]:
    """The operands and every intermediate result, the numbers a derivation writes."""
    return [*operands, *(step[3] for step in reduction_steps(operands, ops))]


def evaluate(text: str) -> int:
    """Exact integer value of a problem text."""
    operands, ops = parse_expression(text)
    return reduction_steps(operands, ops)[-1][3]


def unit_hash(*parts: object) -> float:
    """Deterministic value in [0, 1) from the parts (stable across processes, unlike hash())."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_of(text: str) -> str:
    """The split a problem belongs to, fixed by its canonical text."""
    return "test" if unit_hash("split", text) < TEST_FRACTION else "train"


def problem_id_of(text: str) -> str:
    return "syn-" + hashlib.sha256(text.encode()).hexdigest()[:12]


# ---------------------------------------------------------------------------- problem sets


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise DataError(f"synthetic split {split!r} is unknown; allowed: {', '.join(SPLITS)}")


def _make_problem(text: str, level_name: int, level: Level) -> Problem:
    return Problem(
        dataset=DATASET,
        problem_id=problem_id_of(text),
        problem=text,
        answer=str(evaluate(text)),
        meta={
            "level": level_name,
            "n_ops": level.n_ops,
            "max_operand": level.max_operand,
            "max_value": level.max_value,
        },
    )


def _random_text(level: Level, rng: random.Random) -> str:
    """A problem of `level` drawn uniformly from those it admits (rejection sampling)."""
    while True:
        operands = [rng.randint(0, level.max_operand) for _ in range(level.n_ops + 1)]
        ops = [rng.choice(level.ops) for _ in range(level.n_ops)]
        if level.admits(operands, ops):
            return format_expression(operands, ops)


@functools.lru_cache(maxsize=32)
def _enumerate_split(level: Level, split: str) -> tuple[str, ...]:
    values = range(level.max_operand + 1)
    texts = []
    for operands in itertools.product(values, repeat=level.n_ops + 1):
        for ops in itertools.product(level.ops, repeat=level.n_ops):
            if level.admits(operands, ops):
                text = format_expression(operands, ops)
                if split_of(text) == split:
                    texts.append(text)
    return tuple(texts)


@functools.lru_cache(maxsize=32)
def _admitted_share(level: Level) -> float:
    """Share of a sampled level's combinations within its bound (a fixed seeded estimate)."""
    rng = random.Random("synthetic-admitted")
    draws = 4000
    hits = 0
    for _ in range(draws):
        operands = [rng.randint(0, level.max_operand) for _ in range(level.n_ops + 1)]
        hits += level.admits(operands, [rng.choice(level.ops) for _ in range(level.n_ops)])
    return hits / draws


def _capacity(level: Level, split: str) -> int:
    """How many distinct problems of this level the split holds (estimate for sampled levels)."""
    if level.space_size <= _ENUMERATE_MAX:
        return len(_enumerate_split(level, split))
    share = TEST_FRACTION if split == "test" else 1.0 - TEST_FRACTION
    # sampled levels: half the estimated space, so rejection of repeats stays cheap
    return int(level.space_size * _admitted_share(level) * share * 0.5)


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
