"""Checks on Arrow batches before they reach SQL, so bad input gets a one-line StoreError.

The column list of each table comes from the live database (`PRAGMA table_info`), so the DDL
in schema.py stays the single source of truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fipo_bench.errors import StoreError


@dataclass(frozen=True)
class TableColumns:
    table: str
    names: tuple[str, ...]
    required: frozenset[str]  # NOT NULL without a default: a batch must carry them


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
