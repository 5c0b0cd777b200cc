"""Answer verification: extract the final answer, judge it with math-verify in killable workers.

    from fipo_bench.verify import check, check_many, warm_up
    warm_up(workers=2)  # optional: start the workers before the first batch is timed
    check("025", "... Answer: 25")  # VerifyResult(correct=True, extracted='25', status='ok',
                                    #   source='answer_line', marker='Answer:', rule=...)
    check_many([(gold, response), ...], timeout_s=5.0, workers=2)  # results in item order

Extraction protocol (last answer-bearing construct wins, raw fallback): `extract.py`. Verdict
rules before math-verify (hedges, integers, clock times, several answers as one set):
`rules.py`. Deadlines and worker pools: `pool.py`.
"""

from fipo_bench.verify.cache import CacheInfo
from fipo_bench.verify.check import (
    DEFAULT_TIMEOUT_S,
    VerifyResult,
    cache_info,
    check,
    check_many,
    clear_cache,
    warm_up,
)
from fipo_bench.verify.extract import SOURCES, Extraction, extract, extract_answer
from fipo_bench.verify.judge import STATUSES
from fipo_bench.verify.pool import PoolStats, default_workers, shutdown, stats

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "SOURCES",
    "STATUSES",
    "CacheInfo",
    "Extraction",
    "PoolStats",
    "VerifyResult",
    "cache_info",
    "check",
    "check_many",
    "clear_cache",
    "default_workers",
    "extract",
    "extract_answer",
    "shutdown",
    "stats",
    "warm_up",
]
