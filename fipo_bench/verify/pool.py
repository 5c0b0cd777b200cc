"""Parent side: long-lived pebble pools that run `judge.judge_chunk` and survive hung workers.

One pool per worker count, created lazily under a lock, recreated when pebble reports it
broken or after a fork, stopped at interpreter exit. Workers are forked (where the platform
can): forkserver/spawn workers re-import the caller's `__main__`, so a script without an
`if __name__ == "__main__":` guard would start pools recursively and hang; a forked worker only
runs pebble's loop and math-verify, both imported before the fork, so a replacement for a
killed worker is ready in milliseconds.

Deadlines, per chunk of pairs:
- in the worker, every item gets `timeout_s` of wall time (SIGALRM, see judge.py), and no
  item is started after `slice_s` into the chunk (a prefix comes back, the rest is resubmitted);
- in the parent, pebble kills the worker at slice_s + timeout_s + KILL_SLACK_S, which only
  happens when an item hangs where SIGALRM cannot reach (inside C code). The chunk's progress
  file says which items finished; the one after them is the hung item ("timeout"), the rest
  are resubmitted. So one hanging item costs one timeout of wall time, not a chunk's worth.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import multiprocessing
import os
import shutil
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass

from pebble import ProcessExpired, ProcessPool

from fipo_bench.verify import judge, warm
from fipo_bench.verify.judge import STATUS_ERROR, STATUS_TIMEOUT, Verdict

# Parent-side allowance on top of the worker's own deadlines: task pickling, pipe transfer,
# pebble's 0.1 s polling, and a loaded machine (CPU shared by many processes).
KILL_SLACK_S = 1.0
# Time after which a worker stops starting new items of a chunk and returns what it has.
SLICE_S = 0.5
# Items per chunk: big enough to amortise a task round trip, small enough to balance workers.
MAX_CHUNK_ITEMS = 64
CHUNKS_PER_WORKER = 4
# warm_up: rounds of one no-op task per worker until every worker has answered once.
_WARM_ROUNDS = 4
_READY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class PoolStats:
    """Counters since process start: how often the slow paths were taken."""

    chunks: int  # chunk tasks scheduled, resubmissions included
    resubmitted: int  # tasks that carried the unjudged rest of an earlier chunk
    killed: int  # chunks whose worker pebble killed at the chunk deadline
    lost: int  # chunks whose worker died on its own (crash, OOM kill) or that failed


class _Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(("chunks", "resubmitted", "killed", "lost"), 0)

    def add(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def snapshot(self) -> PoolStats:
        with self._lock:
            return PoolStats(**self._counts)


_COUNTERS = _Counters()


@dataclass(frozen=True)
class _Chunk:
    start: int
    stop: int
    progress_path: str


class _Pools:
    """Pools by worker count, owned by one process id (a forked child builds its own)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner_pid = os.getpid()
        self._pools: dict[int, ProcessPool] = {}
        self._progress_dir: str | None = None
        self._chunk_ids = itertools.count()

    def get(self, workers: int) -> ProcessPool:
        with self._lock:
            self._forget_if_forked()
            pool = self._pools.get(workers)
            if pool is None or not pool.active:
                pool = ProcessPool(
                    max_workers=workers, initializer=warm.warm_up, context=_worker_context()
                )
                self._pools[workers] = pool
            return pool

    def discard(self, workers: int, pool: ProcessPool) -> None:
        """Drop a pool that refused work; the next `get` builds a fresh one."""
        with self._lock:
            if self._pools.get(workers) is pool:
                del self._pools[workers]
        pool.stop()

    def progress_path(self) -> str:
        with self._lock:
            self._forget_if_forked()
            if self._progress_dir is None or not os.path.isdir(self._progress_dir):
                self._progress_dir = tempfile.mkdtemp(prefix="fipo-verify-")
            return os.path.join(self._progress_dir, f"{next(self._chunk_ids)}.log")

    def shutdown(self) -> None:
        with self._lock:
            if self._owner_pid != os.getpid():
                return  # a forked child must not stop its parent's workers
            pools, self._pools = list(self._pools.values()), {}
            progress_dir, self._progress_dir = self._progress_dir, None
        for pool in pools:
            pool.stop()
        for pool in pools:
            pool.join(timeout=5.0)
        if progress_dir is not None:
            shutil.rmtree(progress_dir, ignore_errors=True)

    def _forget_if_forked(self) -> None:
        if self._owner_pid != os.getpid():
            self._owner_pid = os.getpid()
            self._pools = {}
            self._progress_dir = None


_POOLS = _Pools()
atexit.register(_POOLS.shutdown)


def shutdown() -> None:
    """Stop every verifier worker now (they are restarted lazily by the next call)."""
    _POOLS.shutdown()


def stats() -> PoolStats:
    return _COUNTERS.snapshot()


def warm_up(workers: int) -> int:
    """Start the pool for `workers`; return how many workers have run their initializer."""
    seen: set[int] = set()
    for _ in range(_WARM_ROUNDS):
        pool = _POOLS.get(workers)
        try:
            futures = [pool.schedule(judge.ready, timeout=_READY_TIMEOUT_S) for _ in range(workers)]
            seen.update(future.result() for future in futures)
        except (RuntimeError, TimeoutError, ProcessExpired):
            _POOLS.discard(workers, pool)  # the next call builds a fresh pool
            continue
        if len(seen) >= workers:
            break
    return len(seen)


def default_workers() -> int:
    """Worker processes used when the caller does not say: the CPUs this process may use, <= 4."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus))


def judge_pairs(
    pairs: Sequence[tuple[str, str]],
    *,
    timeout_s: float,
    workers: int,
    slice_s: float = SLICE_S,
    kill_slack_s: float = KILL_SLACK_S,
) -> list[Verdict]:
    """Verdicts for (gold, extracted answer) pairs, in order, judged in worker processes.

    `slice_s` and `kill_slack_s` are the chunk deadlines of the module docstring; callers keep
    the defaults (tests shrink them to reach the kill path with a real pathological answer).
    """
    verdicts: list[Verdict | None] = [None] * len(pairs)
    kill_after_s = slice_s + timeout_s + kill_slack_s
    size = _chunk_size(len(pairs), workers)
    inflight: dict[Future, _Chunk] = {}

    def submit(start: int, stop: int) -> None:
        chunk = _Chunk(start, stop, _POOLS.progress_path())
        args = (list(pairs[start:stop]), timeout_s, slice_s, chunk.progress_path)
        inflight[_schedule(workers, args, kill_after_s)] = chunk
        _COUNTERS.add("chunks")

    for start in range(0, len(pairs), size):
        submit(start, min(start + size, len(pairs)))
    while inflight:
        finished, _ = wait(inflight, return_when=FIRST_COMPLETED)
        for future in finished:
            chunk = inflight.pop(future)
            judged = _chunk_outcome(future, chunk)
            verdicts[chunk.start : chunk.start + len(judged)] = judged
            _remove(chunk.progress_path)
            if chunk.start + len(judged) < chunk.stop:
                _COUNTERS.add("resubmitted")
                submit(chunk.start + len(judged), chunk.stop)
    return [verdict for verdict in verdicts if verdict is not None]


def _schedule(workers: int, args: tuple, kill_after_s: float) -> Future:
    pool = _POOLS.get(workers)
    try:
        return pool.schedule(judge.judge_chunk, args=args, timeout=kill_after_s)
    except RuntimeError:  # "The Pool is not active": broken or stopped by shutdown()
        _POOLS.discard(workers, pool)
        return _POOLS.get(workers).schedule(judge.judge_chunk, args=args, timeout=kill_after_s)


def _chunk_outcome(future: Future, chunk: _Chunk) -> list[Verdict]:
    """The verdicts of a prefix of the chunk (at least one item, so every round progresses)."""
    try:
        judged = future.result()
    except TimeoutError:
        _COUNTERS.add("killed")
        # Killed by pebble: the item after the recorded ones hung beyond SIGALRM's reach.
        return [*judge.read_progress(chunk.progress_path), (STATUS_TIMEOUT, False)]
    except ProcessExpired:
        _COUNTERS.add("lost")
        # The worker died (segfault, OOM kill) on the item after the recorded ones.
        return [*judge.read_progress(chunk.progress_path), (STATUS_ERROR, False)]
    except Exception:
        _COUNTERS.add("lost")
        # The chunk function itself failed (e.g. the progress file could not be written).
        return [*judge.read_progress(chunk.progress_path), (STATUS_ERROR, False)]
    if not judged:
        return [(STATUS_ERROR, False)]
    return judged


def _chunk_size(n_pairs: int, workers: int) -> int:
    return max(1, min(MAX_CHUNK_ITEMS, -(-n_pairs // (workers * CHUNKS_PER_WORKER))))


def _worker_context() -> multiprocessing.context.BaseContext:
    if "fork" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")  # workers import math-verify in warm_up
    # Warmed here, once, so that every forked worker (and every replacement of a killed one)
    # starts with math-verify, sympy and their parsers built: a restart costs milliseconds.
    warm.warm_up()
    return multiprocessing.get_context("fork")


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)
