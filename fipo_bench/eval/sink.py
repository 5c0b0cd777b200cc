"""Where an eval's rows go: the DuckDB store, or (sharded evals) a folder of Parquet shards.

The runner only talks to a `Sink`, so one code path generates, verifies and stores for both.
Each sink writes a unit's samples and tokens in one atomic step, so a killed eval loses at
most the unit in flight and a rerun resumes from `done_keys`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from fipo_bench.eval.metrics import EvalMetrics
from fipo_bench.eval.stored import metrics_json, stored_eval_metrics


class Sink(Protocol):
    def status(self, eval_id: str) -> str | None:
        """The stored eval's status (running|done|failed), None when nothing is stored."""

    def done_keys(self, eval_id: str) -> set[tuple[str, int]]:
        """(problem_id, sample_idx) of every stored sample of the eval."""

    def begin(self, problems, eval_id: str, eval_row: dict[str, Any]) -> None:
        """Record the problems and the eval (status running) before its first unit."""

    def write_unit(self, samples: pa.Table, tokens: pa.Table) -> None: ...

    def finish(self, eval_id: str) -> EvalMetrics | None:
        """Mark the eval done and return its metrics over everything stored (None: nothing)."""

    def fail(self, eval_id: str) -> None: ...


class StoreSink:
    """The DuckDB file at `db_path`, created only when the first row is written: a model that
    fails to load leaves no database behind."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self._store = None

    def _reader(self):
        from fipo_bench.store import Store

        if self._store is not None:
            return self._store
        return Store(self.db_path, read_only=True) if self.db_path.exists() else None

    def _writer(self):
        from fipo_bench.store import Store

        if self._store is None:
            self._store = Store(self.db_path)
        return self._store

    def status(self, eval_id: str) -> str | None:
        store = self._reader()
        row = store.get_eval(eval_id) if store is not None else None
        return None if row is None else str(row["status"])

    def done_keys(self, eval_id: str) -> set[tuple[str, int]]:
        store = self._reader()
        return store.done_sample_keys(eval_id) if store is not None else set()

    def begin(self, problems, eval_id: str, eval_row: dict[str, Any]) -> None:
        store = self._writer()
        store.upsert_problems(problems)
        store.upsert_eval(eval_id, **eval_row)

    def write_unit(self, samples: pa.Table, tokens: pa.Table) -> None:
        self._writer().write_samples(samples, tokens)

    def finish(self, eval_id: str) -> EvalMetrics:
        store = self._writer()
        metrics = stored_eval_metrics(store, eval_id)
        store.set_eval_status(eval_id, "done", metrics=metrics_json(metrics))
        return metrics

    def fail(self, eval_id: str) -> None:
        if self._store is not None:
            self._store.set_eval_status(eval_id, "failed")


class ShardSink(StoreSink):
    """Shard K of N of an eval: Parquet files under `out_dir` (fipo_bench.store.shards), no
    DuckDB file. 'done' marks this shard's part complete; `fipo-bench db merge` computes the
    eval's metrics over all shards, so a shard with no unit of its own is still done."""

    def __init__(self, out_dir: Path, shard) -> None:
        from fipo_bench.store.shards import ShardStore

        self.db_path = out_dir
        self._store = ShardStore(out_dir, shard)

    def finish(self, eval_id: str) -> EvalMetrics | None:
        self._store.set_eval_status(eval_id, "done")
        if self._store.eval_samples(eval_id).num_rows == 0:
            return None
        return stored_eval_metrics(self._store, eval_id)  # this shard's samples only
