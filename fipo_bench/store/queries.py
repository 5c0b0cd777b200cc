"""Read queries for the evaluator, trainer, credit analysis, dashboard and reports.

Each takes an open connection and returns a pyarrow.Table (call `.to_pandas()` for a frame) or
a plain Python value. `Store` wraps them so callers never hold a connection.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from fipo_bench.store.connection import scalar, schema_version, user_tables
from fipo_bench.store.schema import COUNTED_IN, SCHEMA_VERSION, TABLES, TOKENS_SELECT


def _table(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> pa.Table:
    return con.sql(sql, params=list(params)).to_arrow_table()


def read_with_views(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    params: Sequence[Any] = (),
    views: Mapping[str, pa.Table] | None = None,
) -> pa.Table:
    """Run one read query with Arrow tables registered under `views` for its duration.

    The views are unregistered afterwards even on a held connection (Store.reading()), so
    one query's id list never leaks into the next. The whole result is fetched first: an
    unfinished result would block the unregister."""
    views = dict(views or {})
    for name, table in views.items():
        con.register(name, table)
    try:
        return _table(con, sql, params)
    finally:
        for name in views:
            con.unregister(name)


def _one_dict(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any], json_cols: tuple[str, ...]
) -> dict[str, Any] | None:
    rows = _table(con, sql, params).to_pylist()
    if not rows:
        return None
    row = rows[0]
    for col in json_cols:
        if row.get(col) is not None:
            row[col] = json.loads(row[col])
    return row


def table_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    union = " UNION ALL ".join(
        f"SELECT '{t}' AS t, count(*) AS n FROM {COUNTED_IN.get(t, t)}" for t in TABLES
    )
    counts = dict(con.execute(union).fetchall())
    return {t: int(counts[t]) for t in TABLES}


@dataclass(frozen=True)
class StoreInfo:
    path: Path
    schema_version: int
    code_schema_version: int
    file_size_bytes: int
    table_counts: dict[str, int]  # tables the file has (an old schema may lack some)


def store_info(con: duckdb.DuckDBPyConnection, path: Path) -> StoreInfo:
    """What `db info` shows; works on a file of any schema version this code can open."""
    present = user_tables(con)
    counts = {}
    for t in TABLES:
        if t in present:
            source = COUNTED_IN.get(t, t) if COUNTED_IN.get(t) in present else t
            counts[t] = int(scalar(con, f"SELECT count(*) FROM {source}"))  # type: ignore[call-overload]
    return StoreInfo(
        path=path,
        schema_version=schema_version(con, path),
        code_schema_version=SCHEMA_VERSION,
        file_size_bytes=path.stat().st_size,
        table_counts=counts,
    )


# ---- runs and checkpoints -------------------------------------------------------------------


def list_runs(con: duckdb.DuckDBPyConnection, kind: str | None = None) -> pa.Table:
    return _table(
        con,
        "SELECT * FROM runs WHERE ? IS NULL OR kind = ? ORDER BY created_at, run_id",
        [kind, kind],
    )


def get_run(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, Any] | None:
    return _one_dict(con, "SELECT * FROM runs WHERE run_id = ?", [run_id], ("config",))


def checkpoints(con: duckdb.DuckDBPyConnection, run_id: str) -> pa.Table:
    return _table(con, "SELECT * FROM checkpoints WHERE run_id = ? ORDER BY step", [run_id])


# ---- problems -------------------------------------------------------------------------------


def problems(con: duckdb.DuckDBPyConnection, dataset: str) -> pa.Table:
    return _table(con, "SELECT * FROM problems WHERE dataset = ? ORDER BY problem_id", [dataset])


# ---- evals and their samples ----------------------------------------------------------------


def list_evals(
    con: duckdb.DuckDBPyConnection, *, run_id: str | None = None, dataset: str | None = None
) -> pa.Table:
    """Evals with their sample count and mean correctness (avg@n over what is stored)."""
    return _table(
        con,
        """
        SELECT e.*, coalesce(s.n_samples, 0) AS n_samples, s.n_problems, s.accuracy
        FROM evals e
        LEFT JOIN (
            SELECT eval_id, count(*) AS n_samples, count(DISTINCT problem_id) AS n_problems,
                   avg(CAST(correct AS DOUBLE)) AS accuracy
            FROM samples WHERE eval_id IS NOT NULL GROUP BY eval_id
        ) s USING (eval_id)
        WHERE (? IS NULL OR e.run_id = ?) AND (? IS NULL OR e.dataset = ?)
        ORDER BY e.started_at, e.eval_id
        """,
        [run_id, run_id, dataset, dataset],
    )


def get_eval(con: duckdb.DuckDBPyConnection, eval_id: str) -> dict[str, Any] | None:
    return _one_dict(con, "SELECT * FROM evals WHERE eval_id = ?", [eval_id], ("config", "metrics"))


def done_sample_keys(con: duckdb.DuckDBPyConnection, eval_id: str) -> set[tuple[str, int]]:
    rows = con.execute(
        "SELECT problem_id, sample_idx FROM samples WHERE eval_id = ?", [eval_id]
    ).fetchall()
    return {(str(p), int(i)) for p, i in rows}


def eval_samples(
    con: duckdb.DuckDBPyConnection, eval_id: str, *, problem_id: str | None = None
) -> pa.Table:
    return _table(
        con,
        """
        SELECT * FROM samples WHERE eval_id = ? AND (? IS NULL OR problem_id = ?)
        ORDER BY problem_id, sample_idx
        """,
        [eval_id, problem_id, problem_id],
    )


def trajectory(con: duckdb.DuckDBPyConnection, sample_id: int) -> pa.Table:
    """Token rows of one sample by pos, read through its seq range (a row group or two).

    No ORDER BY: a sample's rows were appended in pos order (writers sort each batch by
    (sample_id, pos) before seq is assigned) and DuckDB returns a scan in insertion order."""
    found = con.execute(
        "SELECT token_start, token_stop FROM token_ranges WHERE sample_id = ?", [sample_id]
    ).fetchall()
    start, stop = found[0] if found else (0, 0)
    return _table(
        con,
        TOKENS_SELECT + " WHERE seq >= ? AND seq < ? AND sample_id = ?",
        [start, stop, sample_id],
    )


def pivots(con: duckdb.DuckDBPyConnection, sample_id: int, kind: str | None = None) -> pa.Table:
    return _table(
        con,
        "SELECT * FROM pivots WHERE sample_id = ? AND (? IS NULL OR kind = ?) ORDER BY pos, kind",
        [sample_id, kind, kind],
    )


# ---- analysis settings ----------------------------------------------------------------------


def get_analysis(con: duckdb.DuckDBPyConnection, eval_id: str, kind: str) -> dict[str, Any] | None:
    return _one_dict(
        con,
        "SELECT * FROM analyses WHERE eval_id = ? AND kind = ?",
        [eval_id, kind],
        ("settings",),
    )


# ---- training -------------------------------------------------------------------------------


def train_metrics(
    con: duckdb.DuckDBPyConnection, run_id: str, names: Sequence[str] | None = None
) -> pa.Table:
    """Long table (step, name, value) of one run, ordered by name then step."""
    wanted = pa.table({"name": pa.array(list(names or []), pa.string())})
    return read_with_views(
        con,
        """
        SELECT step, name, value FROM train_metrics
        WHERE run_id = ? AND (? OR name IN (SELECT name FROM wanted_names))
        ORDER BY name, step
        """,
        [run_id, names is None],
        views={"wanted_names": wanted},
    )
