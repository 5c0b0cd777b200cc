"""The verifier's public entry points: `check` one response, `check_many` a batch, in order.

Per item, cheapest first: extract the answer in this process (no answer -> "no_answer"); both
gold and answer plain integers -> compare as integers ("025" == 25, no sympy: the AIME case);
a cached verdict; otherwise math-verify in a worker process under a hard deadline (pool.py).
Identical (gold, answer) pairs in one batch are judged once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from fipo_bench.errors import VerifyError
from fipo_bench.verify import pool
from fipo_bench.verify.cache import CacheInfo, VerdictCache
from fipo_bench.verify.extract import extract_answer, plain_integer
from fipo_bench.verify.judge import STATUS_NO_ANSWER, STATUS_OK, STATUSES

DEFAULT_TIMEOUT_S = 5.0

_CACHE = VerdictCache()


@dataclass(frozen=True)
class VerifyResult:
    correct: bool
    extracted: str | None  # the answer string that was judged; None when none was found
    status: str  # "ok" | "no_answer" | "timeout" | "error"

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise VerifyError(f"status {self.status!r} is not one of {', '.join(STATUSES)}")


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
    (at most 4); pools are kept between calls.
    """
    _validate(items, timeout_s, workers)
    n_workers = pool.default_workers() if workers is None else workers
    results: list[VerifyResult | None] = [None] * len(items)
    to_judge: dict[tuple[str, str], list[int]] = {}
    for index, (gold, response) in enumerate(items):
        answer = extract_answer(response)
        if answer is None:
            results[index] = VerifyResult(False, None, STATUS_NO_ANSWER)
            continue
        gold_int, answer_int = plain_integer(gold), plain_integer(answer)
        if gold_int is not None and answer_int is not None:
            results[index] = VerifyResult(gold_int == answer_int, answer, STATUS_OK)
            continue
        if (gold, answer) in to_judge:
            to_judge[(gold, answer)].append(index)
            continue
        cached = _CACHE.get(gold, answer, timeout_s)
        if cached is not None:
            results[index] = VerifyResult(cached[1], answer, cached[0])
            continue
        to_judge[(gold, answer)] = [index]

    pairs = list(to_judge)
    verdicts = pool.judge_pairs(pairs, timeout_s=timeout_s, workers=n_workers) if pairs else []
    for (gold, answer), (status, correct) in zip(pairs, verdicts, strict=True):
        _CACHE.put(gold, answer, (status, correct), timeout_s)
        for index in to_judge[(gold, answer)]:
            results[index] = VerifyResult(correct, answer, status)
    return [result for result in results if result is not None]


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
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise VerifyError(f"workers={workers!r} is invalid: use an integer >= 1 or None")
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
