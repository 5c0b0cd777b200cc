"""The store across real processes: a killed writer, readers during writes, a stuck lock.

DuckDB allows one writer process per file and a read-only open conflicts with an open writer;
these tests run the writer in a child process (never a mock) and check what the parent sees.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fipo_bench.errors import StoreError
from fipo_bench.store import Store

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# Builds one batch of `n_samples` samples with `tokens_per_sample` tokens each, owned by `owner`.
BATCH_CODE = """
import sys, numpy as np, pyarrow as pa
from fipo_bench.store import Store, sample_id

def batch(owner, n_samples, tokens_per_sample):
    pids = [f"p{i}" for i in range(n_samples)]
    ids = np.array(sorted(sample_id(owner, p, 0) for p in pids), dtype=np.int64)
    by_id = {sample_id(owner, p, 0): p for p in pids}
    samples = pa.table({
        "sample_id": ids, "eval_id": [owner] * n_samples, "dataset": ["d"] * n_samples,
        "problem_id": [by_id[int(i)] for i in ids], "sample_idx": [0] * n_samples,
        "text": ["x"] * n_samples, "n_tokens": [tokens_per_sample] * n_samples,
    })
    n = n_samples * tokens_per_sample
    tokens = pa.table({
        "sample_id": np.repeat(ids, tokens_per_sample),
        "pos": np.tile(np.arange(tokens_per_sample, dtype=np.int32), n_samples),
        "token_id": np.arange(n, dtype=np.int32) % 1000,
        "logp": np.full(n, -0.5, dtype=np.float32),
    })
    return samples, tokens
"""


def spawn(tmp_path: Path, body: str, *args: str) -> subprocess.Popen[str]:
    script = tmp_path / "child.py"
    script.write_text(BATCH_CODE + textwrap.dedent(body))
    return subprocess.Popen(
        [sys.executable, str(script), *args],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def wait_for_line(proc: subprocess.Popen[str], expected: str) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line == expected, f"child said {line!r} (exit code {proc.poll()})"


def disk_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}.wal")) if p.exists())


def wait_until_bytes_hit_disk(path: Path, proc: subprocess.Popen[str]) -> None:
    """Return once the writer has put part of the batch on disk: the kill lands mid-write."""
    before = disk_bytes(path)
    deadline = time.monotonic() + 60
    while disk_bytes(path) == before and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)


def test_a_writer_killed_mid_batch_leaves_the_database_as_before_that_batch(tmp_path: Path):
    path = tmp_path / "k.duckdb"
    child = spawn(
        tmp_path,
        """
        store = Store(sys.argv[1])
        store.write_samples(*batch("small", 4, 10))
        big = batch("big", 200, 25_000)  # 5M token rows: seconds to write on this machine
        print("writing", flush=True)
        store.write_samples(*big)
        print("done", flush=True)
        """,
        str(path),
    )
    try:
        wait_for_line(child, "writing")
        wait_until_bytes_hit_disk(path, child)
        assert child.poll() is None, "the big batch finished before the kill: make it bigger"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    store = Store(path)  # reopening replays the WAL: only committed batches survive
    counts = store.table_counts()
    assert (counts["samples"], counts["tokens"]) == (4, 40)
    assert store.done_sample_keys("big") == set()


def test_after_a_killed_write_the_same_samples_write_again_without_duplicates(tmp_path: Path):
    path = tmp_path / "r.duckdb"
    child = spawn(
        tmp_path,
        """
        store = Store(sys.argv[1])
        big = batch("big", 200, 25_000)
        print("writing", flush=True)
        store.write_samples(*big)
        print("done", flush=True)
        """,
        str(path),
    )
    try:
        wait_for_line(child, "writing")
        time.sleep(0.3)
        assert child.poll() is None
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    # Write (a part of) the same eval twice in fresh children: p0..p19 of the killed batch
    # have the same sample_ids, and the second run replaces instead of duplicating.
    for _ in range(2):
        rerun = spawn(
            tmp_path, 'Store(sys.argv[1]).write_samples(*batch("big", 20, 1000))\n', str(path)
        )
        assert rerun.wait(timeout=120) == 0
    counts = Store(path, read_only=True).table_counts()
    assert (counts["samples"], counts["tokens"]) == (20, 20_000)


def test_readers_retry_while_a_writer_flushes_and_only_ever_see_whole_batches(tmp_path: Path):
    path = tmp_path / "c.duckdb"
    rows_per_batch = 20 * 20_000
    n_batches = 5
    child = spawn(
        tmp_path,
        """
        store = Store(sys.argv[1], lock_timeout_s=60)
        print("started", flush=True)
        for b in range(int(sys.argv[2])):
            store.write_samples(*batch(f"e{b}", 20, 20_000))
        print("done", flush=True)
        """,
        str(path),
        str(n_batches),
    )
    seen: list[int] = []
    reads_while_writing = 0
    try:
        wait_for_line(child, "started")
        while child.poll() is None:
            # A reader during a flush hits the writer's lock and must wait, not fail.
            tokens = Store(path, read_only=True, lock_timeout_s=60).table_counts()["tokens"]
            seen.append(tokens)
            if child.poll() is None:
                reads_while_writing += 1
        assert child.returncode == 0
    finally:
        if child.poll() is None:
            child.kill()
    assert reads_while_writing >= 2
    assert all(count % rows_per_batch == 0 for count in seen), seen
    assert seen == sorted(seen)
    assert Store(path, read_only=True).table_counts()["tokens"] == n_batches * rows_per_batch


def test_a_lock_held_too_long_is_a_store_error_naming_the_file(tmp_path: Path):
    path = tmp_path / "l.duckdb"
    writer = Store(path, lock_timeout_s=0.5)  # a trainer's Store, opened before the lock
    writer.write_train_metrics("r", 1, {"x": 1.0})
    holder = spawn(
        tmp_path,
        """
        import duckdb, time
        con = duckdb.connect(sys.argv[1])
        print("holding", flush=True)
        time.sleep(60)
        """,
        str(path),
    )
    try:
        wait_for_line(holder, "holding")
        expected = re.escape(
            f"database {path} stayed locked by another process (PID {holder.pid}) for 0.5 s"
        )
        with pytest.raises(StoreError, match=expected):
            Store(path, read_only=True, lock_timeout_s=0.5)
        with pytest.raises(StoreError, match="stayed locked"):
            writer.write_train_metrics("r", 2, {"x": 2.0})
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert Store(path, read_only=True).train_metrics("r")["value"].to_pylist() == [1.0]
