"""`Store`: every read and write of the fipo-bench DuckDB file goes through here.

Each call opens the file, does one thing, and closes it again, so a long-running trainer or
evaluator never blocks the dashboard for longer than one batch. Every write is one
transaction: it lands whole or not at all (a killed writer leaves the file as before the batch),
and rerunning it replaces rows instead of duplicating them.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from fipo_bench.errors import StoreError
from fipo_bench.store import queries
from fipo_bench.store.batches import (
    TableColumns,
    check_columns,
    check_unique,
    require_columns,
    sort_by_key,
)
from fipo_bench.store.connection import (
    check_version,
    migrate,
    open_connection,
    scalar,
    schema_version,
)
from fipo_bench.store.ids import rollout_owner, sample_id
from fipo_bench.store.schema import (
    ANALYSIS_KINDS,
    ANSWER_SOURCES,
    EVAL_STATUSES,
    PIVOT_KINDS,
    RUN_KINDS,
    SCHEMA_VERSION,
    TABLES,
    VERIFY_STATUSES,
)

CREDIT_COLUMNS = ("ref_logp", "delta", "future_kl", "influence_weight", "entropy")
EXPORT_FORMATS = ("parquet", "csv")
# Settings that define what an eval's samples mean: resuming with other values would mix runs.
_EVAL_IDENTITY = ("dataset", "temperature", "top_p", "max_tokens", "seed")


class ProblemLike(Protocol):
    """What `upsert_problems` reads (fipo_bench.tasks.Problem fits; the store cannot import it)."""

    dataset: str
    problem_id: str
    problem: str
    answer: str
    meta: Mapping[str, Any]


@dataclass(frozen=True)
class StoreInfo:
    path: Path
    schema_version: int
    code_schema_version: int
    file_size_bytes: int
    table_counts: dict[str, int]


def _json(value: Mapping[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(dict(value), sort_keys=True, default=str)


def _one_of(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise StoreError(f"{what} {value!r} is not allowed; use one of {', '.join(allowed)}")


class Store:
    """The fipo-bench database at `path`.

    read_only=False (a writer): creates the file if needed and migrates it to this code's
    schema version. read_only=True (a reader: dashboard, reports): never changes the file.
    lock_timeout_s: how long any call waits for another process's lock before StoreError.
    Errors: StoreError if the file is not DuckDB, not a fipo-bench database, has a newer schema
    version, is missing (readers), or stays locked.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, read_only: bool = False, lock_timeout_s: float = 10.0
    ) -> None:
        if lock_timeout_s < 0:
            raise StoreError(f"lock_timeout_s must be >= 0, got {lock_timeout_s}")
        self.path = Path(path)
        self.read_only = read_only
        self.lock_timeout_s = float(lock_timeout_s)
        self._columns: dict[str, TableColumns] = {}
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
            with self._connect(read_only=False) as con:
                migrate(con, self.path)
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
        with self._connect(read_only=False) as con:
            con.begin()
            try:
                yield con
            except duckdb.Error as exc:
                con.rollback()
                # A bad value that passed the Arrow checks (e.g. a string in an int column).
                first_line = str(exc).splitlines()[0]
                raise StoreError(f"write to {self.path} rolled back: {first_line}") from exc
            except BaseException:
                con.rollback()
                raise
            con.commit()

    def _table_columns(self, con: duckdb.DuckDBPyConnection, table: str) -> TableColumns:
        if table not in self._columns:
            info = con.execute(f"PRAGMA table_info('{table}')").fetchall()
            # PRAGMA table_info rows: (cid, name, type, notnull, default, pk)
            names = tuple(r[1] for r in info)
            required = frozenset(r[1] for r in info if r[3] and r[4] is None)
            self._columns[table] = TableColumns(table, names, required)
        return self._columns[table]

    def _insert(
        self,
        con: duckdb.DuckDBPyConnection,
        table: str,
        batch: pa.Table,
        *,
        or_replace: bool = False,
    ) -> None:
        """Bulk insert of an Arrow batch (already checked) in its row order.

        Registered views are never unregistered in a write: they die with the connection,
        which every write closes, and unregistering inside an aborted transaction would
        raise and hide the error that aborted it.
        """
        cols = ", ".join(f'"{c}"' for c in batch.column_names)
        view = f"_batch_{table}"
        con.register(view, batch)
        verb = "INSERT OR REPLACE" if or_replace else "INSERT"
        con.execute(f"{verb} INTO {table} ({cols}) SELECT {cols} FROM {view}")

    # ---- runs, checkpoints, problems --------------------------------------------------------

    def upsert_run(
        self,
        run_id: str,
        *,
        kind: str,
        name: str | None = None,
        algo: str | None = None,
        preset: str | None = None,
        config: Mapping[str, Any] | None = None,
        model_path: str | os.PathLike[str] | None = None,
    ) -> None:
        """Create or update run `run_id` (kind: train|eval|import); created_at keeps its first."""
        _one_of(kind, RUN_KINDS, "run kind")
        if not run_id:
            raise StoreError("run_id must be a non-empty string")
        with self._transaction() as con:
            con.execute(
                """
                INSERT INTO runs (run_id, kind, name, algo, preset, config, model_path)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (run_id) DO UPDATE SET kind = excluded.kind, name = excluded.name,
                    algo = excluded.algo, preset = excluded.preset, config = excluded.config,
                    model_path = excluded.model_path
                """,
                [
                    run_id,
                    kind,
                    name,
                    algo,
                    preset,
                    _json(config),
                    None if model_path is None else str(model_path),
                ],
            )

    def add_checkpoint(
        self,
        run_id: str,
        step: int,
        path: str | os.PathLike[str],
        *,
        ckpt_id: str | None = None,
    ) -> str:
        """Record a saved checkpoint; returns its id (default f"{run_id}@{step}"). Upsert by id."""
        ckpt_id = ckpt_id or rollout_owner(run_id, step)
        with self._transaction() as con:
            con.execute(
                """
                INSERT INTO checkpoints (ckpt_id, run_id, step, path) VALUES (?, ?, ?, ?)
                ON CONFLICT (ckpt_id) DO UPDATE SET run_id = excluded.run_id,
                    step = excluded.step, path = excluded.path
                """,
                [ckpt_id, run_id, int(step), str(path)],
            )
        return ckpt_id

    def upsert_problems(self, problems: Iterable[ProblemLike]) -> int:
        """Insert or replace problems keyed by (dataset, problem_id); returns how many."""
        rows = [
            {
                "dataset": p.dataset,
                "problem_id": str(p.problem_id),
                "problem": p.problem,
                "answer": str(p.answer),
                "meta": _json(p.meta) if p.meta else None,
            }
            for p in problems
        ]
        if not rows:
            return 0
        schema = pa.schema(
            [(c, pa.string()) for c in ("dataset", "problem_id", "problem", "answer", "meta")]
        )
        batch = pa.Table.from_pylist(rows, schema=schema)
        keys = pc.binary_join_element_wise(batch["dataset"], batch["problem_id"], "\x1f")
        if pc.count_distinct(keys).as_py() != len(keys):
            raise StoreError("problems: a (dataset, problem_id) pair appears twice in one batch")
        with self._transaction() as con:
            check_columns(batch, self._table_columns(con, "problems"), what="problems")
            self._insert(con, "problems", batch, or_replace=True)
        return batch.num_rows

    # ---- evals ------------------------------------------------------------------------------

    def upsert_eval(
        self,
        eval_id: str,
        *,
        dataset: str,
        n: int,
        temperature: float,
        top_p: float,
        max_tokens: int,
        seed: int,
        engine: str,
        run_id: str | None = None,
        step: int | None = None,
        ckpt_id: str | None = None,
        model_path: str | os.PathLike[str] | None = None,
        prompt_template: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> bool:
        """Create eval `eval_id` (status running) or reopen it to resume.

        run_id + step: a validation eval made by training run `run_id` at that step (step needs
        a run_id). Returns True when the eval already existed (resume: see `done_sample_keys`).
        Reopening sets status back to running and may change n, engine, paths or step, but
        StoreError if the dataset, temperature, top_p, max_tokens or seed differ: those define
        the samples already stored, and mixing them would corrupt the eval.
        """
        if not eval_id:
            raise StoreError("eval_id must be a non-empty string")
        if step is not None and run_id is None:
            raise StoreError(f"eval {eval_id}: step {step} needs the run_id it belongs to")
        new = {
            "dataset": dataset,
            "temperature": float(temperature),
            "top_p": float(top_p),
            "max_tokens": int(max_tokens),
            "seed": int(seed),
        }
        with self._transaction() as con:
            old = queries.get_eval(con, eval_id)
            if old is not None:
                changed = [k for k in _EVAL_IDENTITY if old[k] != new[k]]
                if changed:
                    k = changed[0]
                    raise StoreError(
                        f"eval {eval_id} exists with {k}={old[k]!r}, asked {k}={new[k]!r};"
                        " use a new eval_id or the stored settings"
                    )
            con.execute(
                """
                INSERT INTO evals (eval_id, run_id, step, ckpt_id, model_path, dataset, n,
                    temperature, top_p, max_tokens, seed, engine, prompt_template, config,
                    status)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running')
                ON CONFLICT (eval_id) DO UPDATE SET run_id = excluded.run_id,
                    step = excluded.step, ckpt_id = excluded.ckpt_id,
                    model_path = excluded.model_path,
                    n = excluded.n, engine = excluded.engine,
                    prompt_template = excluded.prompt_template, config = excluded.config,
                    status = 'running', finished_at = NULL
                """,
                [
                    eval_id,
                    run_id,
                    None if step is None else int(step),
                    ckpt_id,
                    None if model_path is None else str(model_path),
                    dataset,
                    int(n),
                    new["temperature"],
                    new["top_p"],
                    new["max_tokens"],
                    new["seed"],
                    engine,
                    prompt_template,
                    _json(config),
                ],
            )
        return old is not None

    def set_eval_status(
        self, eval_id: str, status: str, *, metrics: Mapping[str, Any] | None = None
    ) -> None:
        """Set status (running|done|failed); done/failed stamp finished_at. metrics: JSON dict."""
        _one_of(status, EVAL_STATUSES, "eval status")
        with self._transaction() as con:
            updated = scalar(
                con,
                """
                UPDATE evals SET status = ?, metrics = coalesce(?, metrics),
                    finished_at = CASE WHEN ? = 'running' THEN NULL ELSE current_timestamp END
                WHERE eval_id = ?
                """,
                [status, _json(metrics), status, eval_id],
            )
            if not updated:
                raise StoreError(f"unknown eval_id {eval_id!r}; create it with upsert_eval first")

    # ---- samples and tokens -----------------------------------------------------------------

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
        if samples.num_rows == 0:
            if tokens is not None and tokens.num_rows:
                raise StoreError("tokens given without samples; write them in the same batch")
            return 0
        self._check_sample_ids(samples)
        if tokens is not None:
            require_columns(tokens, ("sample_id", "pos"), what="tokens")
            tokens = sort_by_key(tokens, what="tokens")
            outside = pc.invert(pc.is_in(tokens["sample_id"], value_set=samples["sample_id"]))
            if pc.any(outside).as_py():
                raise StoreError(
                    "tokens: rows for a sample_id not in this samples batch;"
                    " write tokens together with their samples"
                )
        with self._transaction() as con:
            s_cols = check_columns(samples, self._table_columns(con, "samples"), what="samples")
            if tokens is not None:
                check_columns(tokens, self._table_columns(con, "tokens"), what="tokens")
            con.register("_batch_ids", samples.select(["sample_id"]))
            self._delete_stored_samples(con)
            self._insert(con, "samples", samples.select(list(s_cols)))
            if tokens is not None and tokens.num_rows:
                self._insert(con, "tokens", tokens)
        return samples.num_rows

    def _check_sample_ids(self, samples: pa.Table) -> None:
        require_columns(samples, ("sample_id", "problem_id", "sample_idx"), what="samples")
        check_unique(samples, "sample_id", what="samples")
        for column, allowed in (
            ("verify_status", VERIFY_STATUSES),
            ("answer_source", ANSWER_SOURCES),
        ):
            if column in samples.column_names:
                bad = pc.filter(
                    samples[column], pc.invert(pc.is_in(samples[column], pa.array(allowed)))
                ).drop_null()
                if len(bad):
                    _one_of(str(bad[0]), allowed, column)
        n = samples.num_rows
        empty = [None] * n
        eval_ids = samples["eval_id"].to_pylist() if "eval_id" in samples.column_names else empty
        run_ids = samples["run_id"].to_pylist() if "run_id" in samples.column_names else empty
        steps = samples["step"].to_pylist() if "step" in samples.column_names else empty
        rows = zip(
            samples["sample_id"].to_pylist(),
            eval_ids,
            run_ids,
            steps,
            samples["problem_id"].to_pylist(),
            samples["sample_idx"].to_pylist(),
            strict=True,
        )
        for sid, eval_id, run_id, step, problem_id, sample_idx in rows:
            if eval_id is not None:
                owner = eval_id
            elif run_id is not None and step is not None:
                owner = rollout_owner(run_id, step)
            else:
                raise StoreError(
                    f"samples: sample {problem_id}#{sample_idx} has no owner;"
                    " set eval_id, or run_id and step"
                )
            if sid != sample_id(owner, str(problem_id), int(sample_idx)):
                raise StoreError(
                    f"samples: sample_id {sid} does not match sample_id({owner!r},"
                    f" {problem_id!r}, {sample_idx}); compute it with fipo_bench.store.sample_id"
                )

    @staticmethod
    def _delete_stored_samples(con: duckdb.DuckDBPyConnection) -> None:
        """Remove stored rows of the batch's samples (registered as _batch_ids), if any.

        Fresh samples (the common case) skip the deletes on tokens and pivots entirely: those
        are full scans of the largest tables.
        """
        stored = scalar(
            con,
            "SELECT count(*) FROM samples WHERE sample_id IN (SELECT sample_id FROM _batch_ids)",
        )
        if not stored:
            return
        for table in ("tokens", "pivots", "samples"):
            con.execute(
                f"DELETE FROM {table} WHERE sample_id IN (SELECT sample_id FROM _batch_ids)"
            )

    def update_token_credit(self, tokens: pa.Table) -> int:
        """Set credit columns of stored token rows; returns the number of rows updated.

        tokens: sample_id, pos and one or more of ref_logp, delta, future_kl, influence_weight,
        entropy (other columns are refused). Every (sample_id, pos) must already be stored,
        else StoreError and nothing changes.
        """
        require_columns(tokens, ("sample_id", "pos"), what="token credit")
        credit = [c for c in tokens.column_names if c not in ("sample_id", "pos")]
        unknown = [c for c in credit if c not in CREDIT_COLUMNS]
        if unknown or not credit:
            raise StoreError(
                f"token credit: columns {', '.join(unknown) or '(none)'} cannot be updated;"
                f" give one or more of {', '.join(CREDIT_COLUMNS)}"
            )
        if tokens.num_rows == 0:
            return 0
        tokens = sort_by_key(tokens, what="token credit")
        sets = ", ".join(f'"{c}" = b."{c}"' for c in credit)
        with self._transaction() as con:
            con.register("_credit", tokens)
            updated = int(
                scalar(  # type: ignore[arg-type]
                    con,
                    f"""
                    UPDATE tokens SET {sets} FROM _credit b
                    WHERE tokens.sample_id = b.sample_id AND tokens.pos = b.pos
                    """,
                )
                or 0
            )
            if updated != tokens.num_rows:
                raise StoreError(
                    f"token credit: {tokens.num_rows - updated} of {tokens.num_rows} rows name a"
                    " (sample_id, pos) that is not stored; write the samples' tokens first"
                )
        return updated

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
        require_columns(pivots, ("sample_id", "pos", "kind"), what="pivots")
        for kind in pc.unique(pivots["kind"]).to_pylist():
            _one_of(str(kind), PIVOT_KINDS, "pivot kind")
        scope = None
        if replace is not None:
            scope = _pivot_scope(pivots, *replace)
        elif pivots.num_rows == 0:
            return 0
        with self._transaction() as con:
            if pivots.num_rows:
                check_columns(pivots, self._table_columns(con, "pivots"), what="pivots")
                con.register("_pivots", pivots)
                missing = scalar(
                    con,
                    """
                    SELECT count(DISTINCT p.sample_id) FROM _pivots p
                    ANTI JOIN samples s ON p.sample_id = s.sample_id
                    """,
                )
                if missing:
                    raise StoreError(
                        f"pivots: {missing} sample_id(s) are not stored; write samples first"
                    )
            if scope is not None:
                con.register("_scope", scope)
                con.execute(
                    """
                    DELETE FROM pivots USING _scope d
                    WHERE pivots.sample_id = d.sample_id AND pivots.kind = d.kind
                    """
                )
            else:
                con.execute(
                    """
                    DELETE FROM pivots USING (SELECT DISTINCT sample_id, kind FROM _pivots) d
                    WHERE pivots.sample_id = d.sample_id AND pivots.kind = d.kind
                    """
                )
            if pivots.num_rows:
                self._insert(con, "pivots", sort_by_pos(pivots))
        return pivots.num_rows

    # ---- analysis settings ------------------------------------------------------------------

    def upsert_analysis(self, eval_id: str, kind: str, settings: Mapping[str, Any]) -> None:
        """Record the settings eval `eval_id`'s stored analysis `kind` (credit|pivots) was
        computed with, replacing any earlier ones; updated_at is set to now.

        StoreError for an unknown kind or an eval that is not stored."""
        _one_of(kind, ANALYSIS_KINDS, "analysis kind")
        with self._transaction() as con:
            if queries.get_eval(con, eval_id) is None:
                raise StoreError(
                    f"eval {eval_id!r} is not stored; write the eval before its {kind} settings"
                )
            con.execute(
                """
                INSERT INTO analyses (eval_id, kind, settings, updated_at)
                VALUES (?, ?, ?, current_timestamp)
                ON CONFLICT (eval_id, kind) DO UPDATE SET settings = excluded.settings,
                    updated_at = excluded.updated_at
                """,
                [eval_id, kind, _json(settings)],
            )

    # ---- training metrics -------------------------------------------------------------------

    def write_train_metrics(self, run_id: str, step: int, metrics: Mapping[str, float]) -> int:
        """Upsert one step's metrics (name -> value) of run `run_id`; returns how many."""
        if not metrics:
            return 0
        try:
            values = [float(v) for v in metrics.values()]
        except (TypeError, ValueError) as exc:
            raise StoreError(
                f"train metrics of {run_id} step {step}: values must be numbers"
            ) from exc
        batch = pa.table(
            {
                "run_id": pa.array([run_id] * len(values), pa.string()),
                "step": pa.array([int(step)] * len(values), pa.int32()),
                "name": pa.array([str(k) for k in metrics], pa.string()),
                "value": pa.array(values, pa.float64()),
            }
        )
        with self._transaction() as con:
            self._insert(con, "train_metrics", batch, or_replace=True)
        return batch.num_rows

    # ---- reads (see queries.py for the SQL) -------------------------------------------------

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

    def run_samples(self, run_id: str, *, step: int | None = None) -> pa.Table:
        """Training rollout samples of a run (optionally one step)."""
        with self._reader() as con:
            return queries.run_samples(con, run_id, step=step)

    def get_sample(self, sample_id: int) -> dict[str, Any] | None:
        """One sample row as a dict, or None."""
        with self._reader() as con:
            return queries.get_sample(con, sample_id)

    def trajectory(self, sample_id: int) -> pa.Table:
        """Token rows of one sample, by pos (empty table if none stored)."""
        with self._reader() as con:
            return queries.trajectory(con, sample_id)

    def trajectories(self, sample_ids: Sequence[int]) -> pa.Table:
        """Token rows of several samples, by (sample_id, pos)."""
        with self._reader() as con:
            return queries.trajectories(con, sample_ids)

    def pivots(self, sample_id: int, kind: str | None = None) -> pa.Table:
        """Pivots of one sample (optionally one kind), by pos."""
        with self._reader() as con:
            return queries.pivots(con, sample_id, kind)

    def correctness_grid(self, eval_ids: Sequence[str]) -> pa.Table:
        """Per (eval_id, problem_id): n_samples, n_correct, accuracy. Long format."""
        with self._reader() as con:
            return queries.correctness_grid(con, eval_ids)

    def length_stats(self, eval_ids: Sequence[str]) -> pa.Table:
        """Response length (tokens) per (eval_id, correct): n, min, q25, mean, median, q75, max."""
        with self._reader() as con:
            return queries.length_stats(con, eval_ids)

    def get_analysis(self, eval_id: str, kind: str) -> dict[str, Any] | None:
        """{eval_id, kind, settings (parsed JSON), updated_at} of an eval's analysis, or None."""
        _one_of(kind, ANALYSIS_KINDS, "analysis kind")
        with self._reader() as con:
            return queries.get_analysis(con, eval_id, kind)

    def train_metrics(self, run_id: str, names: Sequence[str] | None = None) -> pa.Table:
        """Metric curves of a run, long format (step, name, value), by name then step."""
        with self._reader() as con:
            return queries.train_metrics(con, run_id, names)

    def last_step(self, run_id: str) -> int | None:
        """Highest step with stored train metrics (trainer resume), or None."""
        with self._reader() as con:
            return queries.last_step(con, run_id)

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
            version = schema_version(con, self.path)
            present = {
                r[0]
                for r in con.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
                ).fetchall()
            }
            counts = {
                t: int(scalar(con, f"SELECT count(*) FROM {t}"))  # type: ignore[call-overload]
                for t in TABLES
                if t in present
            }
        return StoreInfo(
            path=self.path,
            schema_version=version,
            code_schema_version=SCHEMA_VERSION,
            file_size_bytes=self.path.stat().st_size,
            table_counts=counts,
        )

    def export_table(self, table: str, format: str, out: str | os.PathLike[str]) -> Path:
        """Write one table to `out` as parquet or csv; returns the path.

        Written to a temporary file in the same folder, then renamed: a failure leaves no
        partial file. StoreError for an unknown table or format or a missing folder.
        """
        _one_of(table, TABLES, "table")
        _one_of(format, EXPORT_FORMATS, "export format")
        out_path = Path(out)
        if not out_path.parent.is_dir():
            raise StoreError(f"output folder {out_path.parent} does not exist; create it first")
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{out_path.name}.", suffix=".tmp", dir=out_path.parent
        )
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            with self._reader() as con:
                order = _EXPORT_ORDER.get(table, "")
                options = "FORMAT parquet" if format == "parquet" else "FORMAT csv, HEADER true"
                escaped = str(tmp).replace("'", "''")
                con.execute(f"COPY (SELECT * FROM {table} {order}) TO '{escaped}' ({options})")
            os.replace(tmp, out_path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return out_path


# Exports come out in key order so that two exports of the same data are identical files.
_EXPORT_ORDER = {
    "runs": "ORDER BY run_id",
    "checkpoints": "ORDER BY ckpt_id",
    "problems": "ORDER BY dataset, problem_id",
    "evals": "ORDER BY eval_id",
    "samples": "ORDER BY sample_id",
    "tokens": "ORDER BY sample_id, pos",
    "pivots": "ORDER BY sample_id, kind, pos",
    "train_metrics": "ORDER BY run_id, step, name",
    "analyses": "ORDER BY eval_id, kind",
}


def _pivot_scope(pivots: pa.Table, sample_ids: Sequence[int], kinds: Sequence[str]) -> pa.Table:
    """The (sample_id, kind) pairs `write_pivots(replace=...)` clears, checked against the batch."""
    kinds = list(dict.fromkeys(str(k) for k in kinds))
    for kind in kinds:
        _one_of(kind, PIVOT_KINDS, "pivot kind")
    ids = list(dict.fromkeys(int(s) for s in sample_ids))
    outside = pc.invert(
        pc.and_(
            pc.is_in(pivots["sample_id"], pa.array(ids, pa.int64())),
            pc.is_in(pivots["kind"], pa.array(kinds, pa.string())),
        )
    )
    if pc.any(outside).as_py():
        row = pivots.filter(outside).slice(0, 1).to_pylist()[0]
        raise StoreError(
            f"pivots: row (sample_id {row['sample_id']}, kind {row['kind']!r}) is outside"
            " replace=(sample_ids, kinds); add its sample and kind to the scope"
        )
    return pa.table(
        {
            "sample_id": pa.array([s for s in ids for _ in kinds], pa.int64()),
            "kind": pa.array(kinds * len(ids), pa.string()),
        }
    )


def sort_by_pos(pivots: pa.Table) -> pa.Table:
    return pivots.sort_by([("sample_id", "ascending"), ("pos", "ascending")])
