"""`Store`: every read and write of the fipo-bench DuckDB file goes through here.

Each call opens the file, does one thing, and closes it again, so a long-running trainer or
evaluator never blocks the dashboard for longer than one batch. Every write is one
transaction: it lands whole or not at all (a killed writer leaves the file as before the batch),
and rerunning it replaces rows instead of duplicating them. The SQL lives in the modules this
class calls: writes.py, sample_writes.py, queries.py, export.py.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Unpack

import duckdb
import pyarrow as pa

from fipo_bench.errors import StoreError
from fipo_bench.store import export, merge, queries, sample_writes, writes
from fipo_bench.store.batches import one_of
from fipo_bench.store.connection import (
    StoreLockedError,
    check_version,
    committed,
    migrate,
    open_connection,
    schema_version,
)
from fipo_bench.store.queries import StoreInfo
from fipo_bench.store.schema import ANALYSIS_KINDS, SCHEMA_VERSION
from fipo_bench.store.writes import EvalFields, ProblemLike, RunFields


class Store:
    """The fipo-bench database at `path`.

    read_only=False (a writer): creates the file if needed and migrates it to this code's
    schema version. read_only=True (a reader: dashboard, reports): never changes the file.
    lock_timeout_s: how long any call waits for another process's lock before StoreError.
    Errors: StoreError if the file is not DuckDB, not a fipo-bench database, has a newer schema
    version, is missing (readers), stays locked, or the disk or file fails under a call.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, read_only: bool = False, lock_timeout_s: float = 10.0
    ) -> None:
        if lock_timeout_s < 0:
            raise StoreError(f"lock_timeout_s must be >= 0, got {lock_timeout_s}")
        self.path = Path(path)
        self.read_only = read_only
        self.lock_timeout_s = float(lock_timeout_s)
        self._local = threading.local()  # per thread: the connection held by reading()
        if self.path.is_dir():
            raise StoreError(f"database path {self.path} is a folder; give a .duckdb file path")
        if read_only:
            if not self.path.exists():
                raise StoreError(f"database {self.path} does not exist; run a command that writes")
            with self._connect(read_only=True) as con:
                self.file_schema_version = schema_version(con, self.path)
            check_version(self.file_schema_version, self.path)
        else:
            if self.path.parent and not self.path.parent.exists():
                raise StoreError(
                    f"folder {self.path.parent} of database {self.path} does not exist"
                )
            created = not self.path.exists()
            try:
                with self._connect(read_only=False) as con:
                    migrate(con, self.path)
            except StoreLockedError:
                raise  # the file is another process's
            except StoreError:
                if created:  # a full disk or a read-only folder: leave no empty file behind
                    for leftover in (self.path, self.path.with_name(self.path.name + ".wal")):
                        with suppress(OSError):  # e.g. never created on a read-only folder
                            leftover.unlink()
                raise
            self.file_schema_version = SCHEMA_VERSION

    # ---- connections ------------------------------------------------------------------------

    @contextmanager
    def _connect(self, *, read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        with open_connection(
            self.path, read_only=read_only, lock_timeout_s=self.lock_timeout_s
        ) as con:
            yield con

    def _check_readable(self) -> None:
        if self.file_schema_version < SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {self.file_schema_version}, older than"
                f" {SCHEMA_VERSION}; run `fipo-bench db migrate --db {self.path}` first"
            )

    @contextmanager
    def reading(self) -> Iterator[Store]:
        """Hold one read-only connection for a group of reads, e.g. one dashboard page.

        Opening a DuckDB file costs ~25 ms, often more than the query; inside this block every
        read method of this thread reuses one connection. Writers in other processes wait (up
        to their lock_timeout_s) while it is held, so keep the block short. Writing from inside
        it raises StoreError.
        """
        if getattr(self._local, "held", None) is not None:
            yield self  # nested: the outer block owns the connection
            return
        self._check_readable()
        with self._connect(read_only=True) as con:
            self._local.held = con
            try:
                yield self
            finally:
                self._local.held = None

    @contextmanager
    def _reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        held = getattr(self._local, "held", None)
        if held is not None:
            yield held
            return
        self._check_readable()
        # Readers take a shared read-only open even in a writer Store: several processes can
        # read at once, and no reader ever needs the write lock.
        with self._connect(read_only=True) as con:
            yield con

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        if self.read_only:
            raise StoreError(f"store {self.path} was opened read_only; open it without read_only")
        if getattr(self._local, "held", None) is not None:
            raise StoreError(f"cannot write to {self.path} inside Store.reading(); leave it first")
        with self._connect(read_only=False) as con, committed(con, self.path) as tx:
            yield tx

    # ---- writes (writes.py, sample_writes.py) -----------------------------------------------

    def upsert_run(self, run_id: str, **fields: Unpack[RunFields]) -> None:
        """Create or update run `run_id`; created_at keeps its first value.

        Fields (writes.RunFields): kind (train|eval|import, required), name, algo, preset,
        config, model_path."""
        with self._transaction() as con:
            writes.upsert_run(con, run_id, **fields)

    def add_checkpoint(
        self,
        run_id: str,
        step: int,
        path: str | os.PathLike[str],
        *,
        ckpt_id: str | None = None,
    ) -> str:
        """Record a saved checkpoint; returns its id (default f"{run_id}@{step}"). Upsert by id."""
        with self._transaction() as con:
            return writes.add_checkpoint(con, run_id, step, path, ckpt_id=ckpt_id)

    def upsert_problems(self, problems: Iterable[ProblemLike]) -> int:
        """Insert or replace problems keyed by (dataset, problem_id); returns how many."""
        batch = writes.problems_batch(problems)
        if batch.num_rows == 0:
            return 0
        with self._transaction() as con:
            return writes.upsert_problems(con, batch)

    def upsert_eval(self, eval_id: str, **fields: Unpack[EvalFields]) -> bool:
        """Create eval `eval_id` (status running) or reopen it to resume.

        Fields (writes.EvalFields): dataset, n, temperature, top_p, max_tokens, seed, engine
        (required); run_id, step, ckpt_id, model_path, prompt_template, config. run_id + step:
        a validation eval made by training run `run_id` at that step (step needs a run_id).
        Returns True when the eval already existed (resume: see `done_sample_keys`).
        Reopening sets status back to running and may change n, engine, paths or step, but
        StoreError if the dataset, temperature, top_p, max_tokens or seed differ: those define
        the samples already stored, and mixing them would corrupt the eval.
        """
        with self._transaction() as con:
            return writes.upsert_eval(con, eval_id, **fields)

    def set_eval_status(
        self, eval_id: str, status: str, *, metrics: Mapping[str, Any] | None = None
    ) -> None:
        """Set status (running|done|failed); done/failed stamp finished_at. metrics: JSON dict."""
        with self._transaction() as con:
            writes.set_eval_status(con, eval_id, status, metrics=metrics)

    def write_samples(self, samples: pa.Table, tokens: pa.Table | None = None) -> int:
        """Write a batch of samples (and their tokens) in one transaction; returns #samples.

        samples: one row per response. Required: sample_id, dataset, problem_id, sample_idx,
        text, n_tokens, and an owner: eval_id, or run_id + step for training rollouts. Optional
        (absent or null: NULL): finish_reason, extracted, correct, verify_status
        (ok|no_answer|timeout|error), answer_source (box|answer_line|raw|none), reward,
        advantage, and for imported samples the source tool's own verdict: source_score,
        source_correct. sample_id must equal ids.sample_id(owner, problem_id, sample_idx).
        tokens: one row per response token, for samples of this batch only. Required: sample_id,
        pos, token_id; optional: token, logp and the credit columns (CREDIT_COLUMNS).
        Idempotent per sample_id: a sample already stored is replaced, and so are all of its
        token and pivot rows (tokens=None leaves rewritten samples with no tokens).
        """
        tokens = sample_writes.check_samples(samples, tokens)  # bad input never opens the file
        if samples.num_rows == 0:
            return 0
        with self._transaction() as con:
            return sample_writes.insert_samples(con, samples, tokens)

    def update_token_credit(self, tokens: pa.Table) -> int:
        """Set credit columns of stored token rows; returns the number of rows updated.

        tokens: sample_id, pos and one or more of ref_logp, delta, future_kl, influence_weight,
        entropy (other columns are refused). Every (sample_id, pos) must already be stored,
        else StoreError and nothing changes.
        """
        tokens, credit = sample_writes.check_credit(tokens)
        if tokens.num_rows == 0:
            return 0
        with self._transaction() as con:
            return sample_writes.update_token_credit(con, tokens, credit)

    def write_pivots(
        self,
        pivots: pa.Table,
        *,
        replace: tuple[Sequence[int], Sequence[str]] | None = None,
    ) -> int:
        """Store pivots; returns the number of rows written.

        pivots: sample_id, pos, kind (keyword|credit|entropy), optional label and score.
        replace=None: the stored pivots of each (sample_id, kind) present in the batch are
        removed first, so rerunning an analysis never duplicates.
        replace=(sample_ids, kinds): every stored pivot of those samples of those kinds is
        removed first, whether or not the batch has rows for it: a sample with no new hits ends
        with none (an empty batch only clears). Every batch row must then lie inside that scope.
        Every sample_id of the batch must be stored.
        """
        with self._transaction() as con:
            return sample_writes.write_pivots(con, pivots, replace)

    def upsert_analysis(self, eval_id: str, kind: str, settings: Mapping[str, Any]) -> None:
        """Record the settings eval `eval_id`'s stored analysis `kind` (credit|pivots) was
        computed with, replacing any earlier ones; updated_at is set to now.

        StoreError for an unknown kind or an eval that is not stored."""
        with self._transaction() as con:
            writes.upsert_analysis(con, eval_id, kind, settings)

    def write_train_metrics(self, run_id: str, step: int, metrics: Mapping[str, float]) -> int:
        """Upsert one step's metrics (name -> value) of run `run_id`; returns how many."""
        if not metrics:
            return 0
        with self._transaction() as con:
            return writes.write_train_metrics(con, run_id, step, metrics)

    def merge_shards(self, plan: merge.ShardPlan) -> merge.MergeResult:
        """Write the shards `merge.scan_shards` checked, in one transaction (merge.py)."""
        with self._transaction() as con:
            return merge.write_merge(con, plan)

    # ---- reads (queries.py) -----------------------------------------------------------------

    def read_table(
        self,
        sql: str,
        params: Sequence[Any] = (),
        *,
        views: Mapping[str, pa.Table] | None = None,
    ) -> pa.Table:
        """Run one read query through this store's reader connection; returns every row.

        For the store package's query modules (dashboard_queries, analysis_queries): SQL lives
        only in fipo_bench.store, everyone else calls those functions. Honours
        `Store.reading()` (reuses its connection), the read-only open and the lock retry.
        views: Arrow tables (e.g. an id list to SEMI JOIN) visible to this query only.
        StoreError for a query DuckDB rejects, a write among them: the connection is read-only.
        """
        with self._reader() as con:
            try:
                return queries.read_with_views(con, sql, params, views)
            except duckdb.Error as exc:
                first_line = str(exc).splitlines()[0]
                raise StoreError(f"read query on {self.path} failed: {first_line}") from exc

    def list_runs(self, kind: str | None = None) -> pa.Table:
        """All runs (optionally of one kind), oldest first."""
        with self._reader() as con:
            return queries.list_runs(con, kind)

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """One run as a dict (config parsed from JSON), or None."""
        with self._reader() as con:
            return queries.get_run(con, run_id)

    def checkpoints(self, run_id: str) -> pa.Table:
        """Checkpoints of a run, by step: ckpt_id, run_id, step, path, created_at."""
        with self._reader() as con:
            return queries.checkpoints(con, run_id)

    def problems(self, dataset: str) -> pa.Table:
        """Stored problems of one dataset, by problem_id."""
        with self._reader() as con:
            return queries.problems(con, dataset)

    def list_evals(self, *, run_id: str | None = None, dataset: str | None = None) -> pa.Table:
        """Evals (optionally filtered) with n_samples, n_problems and accuracy of stored samples."""
        with self._reader() as con:
            return queries.list_evals(con, run_id=run_id, dataset=dataset)

    def get_eval(self, eval_id: str) -> dict[str, Any] | None:
        """One eval as a dict (config and metrics parsed from JSON), or None."""
        with self._reader() as con:
            return queries.get_eval(con, eval_id)

    def done_sample_keys(self, eval_id: str) -> set[tuple[str, int]]:
        """{(problem_id, sample_idx)} already stored for an eval: what a resume can skip."""
        with self._reader() as con:
            return queries.done_sample_keys(con, eval_id)

    def eval_samples(self, eval_id: str, *, problem_id: str | None = None) -> pa.Table:
        """Samples of an eval (optionally one problem), by problem_id then sample_idx."""
        with self._reader() as con:
            return queries.eval_samples(con, eval_id, problem_id=problem_id)

    def trajectory(self, sample_id: int) -> pa.Table:
        """Token rows of one sample, by pos (empty table if none stored)."""
        with self._reader() as con:
            return queries.trajectory(con, sample_id)

    def pivots(self, sample_id: int, kind: str | None = None) -> pa.Table:
        """Pivots of one sample (optionally one kind), by pos."""
        with self._reader() as con:
            return queries.pivots(con, sample_id, kind)

    def get_analysis(self, eval_id: str, kind: str) -> dict[str, Any] | None:
        """{eval_id, kind, settings (parsed JSON), updated_at} of an eval's analysis, or None."""
        one_of(kind, ANALYSIS_KINDS, "analysis kind")
        with self._reader() as con:
            return queries.get_analysis(con, eval_id, kind)

    def train_metrics(self, run_id: str, names: Sequence[str] | None = None) -> pa.Table:
        """Metric curves of a run, long format (step, name, value), by name then step."""
        with self._reader() as con:
            return queries.train_metrics(con, run_id, names)

    def table_counts(self) -> dict[str, int]:
        """Row count of every store table, in TABLES order."""
        with self._reader() as con:
            return queries.table_counts(con)

    def info(self) -> StoreInfo:
        """Path, schema versions (file and code), file size and row counts.

        Works on a file with an older schema (counts only the tables that exist) so that
        `db info` can say it needs migrating.
        """
        with self._connect(read_only=True) as con:
            return queries.store_info(con, self.path)

    # ---- export (export.py) -----------------------------------------------------------------

    def export_table(self, table: str, format: str, out: str | os.PathLike[str]) -> Path:
        """Write one table to `out` as parquet or csv; returns the path.

        Written to a temporary file in the same folder, then renamed: a failure leaves no
        partial file. StoreError for an unknown table or format, an output that is a folder,
        or a folder that is missing or not writable.
        """
        out_path = export.check_export(table, format, out)
        with self._reader() as con:
            return export.copy_table(con, self.path, table, format, out_path)
