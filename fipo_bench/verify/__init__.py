"""Answer verification: extract the final answer, judge it with math-verify in killable workers.

    from fipo_bench.verify import check, check_many
    check("025", "... Answer: 25")  # VerifyResult(correct=True, extracted='25', status='ok')
    check_many([(gold, response), ...], timeout_s=5.0, workers=2)  # results in item order

Extraction protocols and their priority: see `extract.py`. Deadlines and worker pools: `pool.py`.
"""

from fipo_bench.verify.cache import CacheInfo
from fipo_bench.verify.check import (
    DEFAULT_TIMEOUT_S,
    VerifyResult,
    cache_info,
    check,
    check_many,
    clear_cache,
)
from fipo_bench.verify.extract import extract_answer
from fipo_bench.verify.judge import STATUSES
from fipo_bench.verify.pool import PoolStats, default_workers, shutdown, stats

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "STATUSES",
    "CacheInfo",
    "PoolStats",
    "VerifyResult",
    "cache_info",
    "check",
    "check_many",
    "clear_cache",
    "default_workers",
    "extract_answer",
    "shutdown",
    "stats",
]
