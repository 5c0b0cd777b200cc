"""The verifier's public entry points: `check` one response, `check_many` a batch, in order.

Per item, cheapest first: extract the answer in this process (extract.py); decide what needs no
sympy (rules.py: no answer, hedges, integers, clock times); a cached verdict; otherwise
math-verify in a worker process under a hard deadline (pool.py). Identical math-verify pairs in
one batch are judged once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from fipo_bench.errors import VerifyError
from fipo_bench.verify import pool
from fipo_bench.verify.cache import CacheInfo, VerdictCache
from fipo_bench.verify.extract import SOURCE_NONE, SOURCES, extract
from fipo_bench.verify.judge import STATUSES
from fipo_bench.verify.rules import Decided, NeedsMathVerify, decide

DEFAULT_TIMEOUT_S = 5.0

_CACHE = VerdictCache()


@dataclass(frozen=True)
class VerifyResult:
    """One verdict and its audit trail: where the answer came from and which rule judged it."""

    correct: bool
    extracted: str | None  # the answer string that was judged; None when none was found
    status: str  # "ok" | "no_answer" | "timeout" | "error"
    source: str = SOURCE_NONE  # box | answer_line | raw | none: the construct the answer is from
    marker: str = ""  # the marker as written ("\\boxed", "Answer:", ...) or the raw rule
    rule: str = ""  # which rule decided ("integer comparison", "math-verify", "hedge: ...")

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise VerifyError(f"status {self.status!r} is not one of {', '.join(STATUSES)}")
        if self.source not in SOURCES:
            raise VerifyError(f"source {self.source!r} is not one of {', '.join(SOURCES)}")


def check(gold: str, response: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> VerifyResult:
    """Whether `response` ends in an answer equal to `gold` (see check_many)."""
    return check_many([(gold, response)], timeout_s=timeout_s)[0]


def check_many(
    items: Sequence[tuple[str, str]],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    workers: int | None = None,
) -> list[VerifyResult]:
    """One VerifyResult per (gold, response) item, in order. Safe to call from any thread.

    Each item that needs math-verify gets at most `timeout_s` seconds of wall time in a worker
    process; one that takes longer comes back ("timeout", correct=False) and never holds up the
    rest of the batch by more than about one `timeout_s`. `workers` defaults to the usable CPUs
    (at most 4); pools are kept between calls (`warm_up` starts them ahead of time).
    """
    _validate(items, timeout_s, workers)
    n_workers = pool.default_workers() if workers is None else workers
    results: list[VerifyResult | None] = [None] * len(items)
    to_judge: dict[tuple[str, str], list[tuple[int, NeedsMathVerify, str, str]]] = {}
    for index, (gold, response) in enumerate(items):
        extraction = extract(response)
        decision = decide(gold, extraction)
        source, marker = extraction.source, extraction.marker
        if isinstance(decision, Decided):
            results[index] = VerifyResult(
                decision.correct, decision.answer, decision.status, source, marker, decision.rule
            )
            continue
        key = (decision.gold_math, decision.answer_math)
        if key in to_judge:
            to_judge[key].append((index, decision, source, marker))
            continue
        cached = _CACHE.get(*key, timeout_s)
        if cached is not None:
            status, correct = cached
            results[index] = VerifyResult(
                correct, decision.answer, status, source, marker, decision.rule
            )
            continue
        to_judge[key] = [(index, decision, source, marker)]

    pairs = list(to_judge)
    verdicts = pool.judge_pairs(pairs, timeout_s=timeout_s, workers=n_workers) if pairs else []
    for key, (status, correct) in zip(pairs, verdicts, strict=True):
        _CACHE.put(*key, (status, correct), timeout_s)
        for index, decision, source, marker in to_judge[key]:
            results[index] = VerifyResult(
                correct, decision.answer, status, source, marker, decision.rule
            )
    return [result for result in results if result is not None]


def warm_up(workers: int | None = None) -> int:
    """Start the worker pool and wait until every worker has math-verify loaded and ready.

    Call it before timing or serving the first batch: a cold first batch otherwise pays for
    process start, imports and parser construction (warm.py). Returns the number of workers
    that answered (the pool's size unless workers keep dying).
    """
    _validate_workers(workers)
    return pool.warm_up(pool.default_workers() if workers is None else workers)


def cache_info() -> CacheInfo:
    """Hits and misses of the verdict cache since the last `clear_cache`."""
    return _CACHE.info()


def clear_cache() -> None:
    _CACHE.clear()


def _validate(items: Sequence[tuple[str, str]], timeout_s: float, workers: int | None) -> None:
    if (
        isinstance(timeout_s, bool)
        or not isinstance(timeout_s, int | float)
        or not math.isfinite(timeout_s)
        or timeout_s <= 0
    ):
        raise VerifyError(f"timeout_s={timeout_s!r} is invalid: use a finite number of seconds > 0")
    _validate_workers(workers)
    if isinstance(items, str | bytes) or not isinstance(items, Sequence):
        raise VerifyError(
            f"items of type {type(items).__name__} is invalid: use a sequence of (gold, response)"
        )
    for index, item in enumerate(items):
        if not (
            isinstance(item, tuple | list)
            and len(item) == 2
            and isinstance(item[0], str)
            and isinstance(item[1], str)
        ):
            shape = (
                tuple(type(part).__name__ for part in item)
                if isinstance(item, tuple | list)
                else type(item).__name__
            )
            raise VerifyError(
                f"items[{index}] is {shape}: each item must be a (gold, response) pair of str"
            )


def _validate_workers(workers: int | None) -> None:
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise VerifyError(f"workers={workers!r} is invalid: use an integer >= 1 or None")
