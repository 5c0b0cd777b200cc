"""Checks on values and Arrow batches before they reach SQL, so bad input gets a one-line
StoreError, and the one bulk insert every write uses.

The column list of each table comes from the live database (`PRAGMA table_info`), so the DDL
in schema.py stays the single source of truth.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fipo_bench.errors import StoreError


def one_of(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise StoreError(f"{what} {value!r} is not allowed; use one of {', '.join(allowed)}")


def to_json(value: Mapping[str, Any] | None) -> str | None:
    """JSON text of a settings/config/metrics mapping (keys sorted: equal dicts, equal text)."""
    return None if value is None else json.dumps(dict(value), sort_keys=True, default=str)


@dataclass(frozen=True)
class TableColumns:
    table: str
    names: tuple[str, ...]
    required: frozenset[str]  # NOT NULL without a default: a batch must carry them


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> TableColumns:
    """The columns a batch for `table` may carry. `tokens` is a view over token_rows: its
    columns are token_rows' less `seq`, which the writer assigns."""
    source = "token_rows" if table == "tokens" else table
    info = con.execute(f"PRAGMA table_info('{source}')").fetchall()
    # PRAGMA table_info rows: (cid, name, type, notnull, default, pk)
    info = [r for r in info if not (table == "tokens" and r[1] == "seq")]
    names = tuple(r[1] for r in info)
    required = frozenset(r[1] for r in info if r[3] and r[4] is None)
    return TableColumns(table, names, required)


def insert_batch(
    con: duckdb.DuckDBPyConnection, table: str, batch: pa.Table, *, or_replace: bool = False
) -> None:
    """Bulk insert of an Arrow batch (already checked) in its row order.

    Registered views are never unregistered in a write: unregistering inside an aborted
    transaction would raise and hide the error that aborted it. They go with the connection
    (a Store closes it after every write; the shard writer's scratch connection replaces them
    at its next write).
    """
    cols = ", ".join(f'"{c}"' for c in batch.column_names)
    view = f"_batch_{table}"
    con.register(view, batch)
    verb = "INSERT OR REPLACE" if or_replace else "INSERT"
    con.execute(f"{verb} INTO {table} ({cols}) SELECT {cols} FROM {view}")


def check_columns(batch: pa.Table, columns: TableColumns, *, what: str) -> tuple[str, ...]:
    """The batch's columns in table order; StoreError on unknown, missing or null-holding ones."""
    present = set(batch.column_names)
    unknown = sorted(present - set(columns.names))
    if unknown:
        raise StoreError(
            f"{what}: unknown column(s) {', '.join(unknown)}; allowed: {', '.join(columns.names)}"
        )
    missing = sorted(columns.required - present)
    if missing:
        raise StoreError(f"{what}: missing required column(s) {', '.join(missing)}")
    for name in columns.required:
        if batch.column(name).null_count:
            raise StoreError(f"{what}: column {name} holds nulls; it is required for every row")
    return tuple(n for n in columns.names if n in present)


def require_columns(batch: pa.Table, names: tuple[str, ...], *, what: str) -> None:
    missing = [n for n in names if n not in batch.column_names]
    if missing:
        raise StoreError(f"{what}: missing required column(s) {', '.join(missing)}")


def as_int64(batch: pa.Table, name: str) -> np.ndarray:
    return batch.column(name).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def check_unique(batch: pa.Table, name: str, *, what: str) -> None:
    values = batch.column(name)
    if pc.count_distinct(values).as_py() != len(values):
        raise StoreError(f"{what}: column {name} repeats a value; each row needs its own {name}")


def sort_by_key(batch: pa.Table, *, what: str) -> pa.Table:
    """Tokens in key order (sample_id, pos); a batch already in order is returned as is.

    Sorting in Arrow only when needed keeps the common path (engines emit tokens in order) a
    plain append; a strictly increasing key after sorting also proves there are no duplicates.
    """
    if batch.num_rows < 2:
        return batch
    sid = as_int64(batch, "sample_id")
    pos = as_int64(batch, "pos")

    def increasing(s: np.ndarray, p: np.ndarray) -> np.ndarray:
        return (s[1:] > s[:-1]) | ((s[1:] == s[:-1]) & (p[1:] > p[:-1]))

    if bool(increasing(sid, pos).all()):
        return batch
    order = np.lexsort((pos, sid))
    batch = batch.take(pa.array(order))
    if not bool(increasing(sid[order], pos[order]).all()):
        raise StoreError(f"{what}: a (sample_id, pos) pair appears twice; each token row once")
    return batch
