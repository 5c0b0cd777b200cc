"""Writes of the per-sample tables: samples with their tokens, token credit, pivots.

Each function takes a connection inside the caller's transaction. Batches are checked in Arrow
first (columns, owners, ids, key order), so bad input fails with a one-line StoreError before
any SQL runs; a value only DuckDB's cast rejects rolls the whole transaction back.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fipo_bench.errors import StoreError
from fipo_bench.store.batches import (
    as_int64,
    check_columns,
    check_unique,
    insert_batch,
    one_of,
    require_columns,
    sort_by_key,
    table_columns,
)
from fipo_bench.store.connection import scalar
from fipo_bench.store.ids import rollout_owner, sample_id
from fipo_bench.store.schema import ANSWER_SOURCES, PIVOT_KINDS, VERIFY_STATUSES

CREDIT_COLUMNS = ("ref_logp", "delta", "future_kl", "influence_weight", "entropy")
# Sample columns whose values must come from a fixed list (DuckDB cannot add a column with a
# CHECK, so answer_source is checked here; verify_status is checked here for a clearer message).
_ENUM_COLUMNS = (("verify_status", VERIFY_STATUSES), ("answer_source", ANSWER_SOURCES))


def check_samples(samples: pa.Table, tokens: pa.Table | None) -> pa.Table | None:
    """Everything about a batch that needs no database; returns the tokens in key order.

    See `Store.write_samples` for what a batch holds."""
    if samples.num_rows == 0 and tokens is not None and tokens.num_rows:
        raise StoreError("tokens given without samples; write them in the same batch")
    check_sample_ids(samples)
    if tokens is None:
        return None
    require_columns(tokens, ("sample_id", "pos"), what="tokens")
    tokens = sort_by_key(tokens, what="tokens")
    outside = pc.invert(pc.is_in(tokens["sample_id"], value_set=samples["sample_id"]))
    if pc.any(outside).as_py():
        raise StoreError(
            "tokens: rows for a sample_id not in this samples batch;"
            " write tokens together with their samples"
        )
    return tokens


def insert_samples(
    con: duckdb.DuckDBPyConnection, samples: pa.Table, tokens: pa.Table | None
) -> int:
    """Replace the batch's samples (and all their token and pivot rows) with the batch.

    samples, tokens: as `check_samples` passed and returned them."""
    if samples.num_rows == 0:
        return 0
    s_cols = check_columns(samples, table_columns(con, "samples"), what="samples")
    if tokens is not None:
        check_columns(tokens, table_columns(con, "tokens"), what="tokens")
    con.register("_batch_ids", samples.select(["sample_id"]))
    delete_stored_samples(con)
    insert_batch(con, "samples", samples.select(list(s_cols)))
    if tokens is not None and tokens.num_rows:
        append_tokens(con, tokens)
    return samples.num_rows


def append_tokens(con: duckdb.DuckDBPyConnection, tokens: pa.Table) -> None:
    """Append token rows (in (sample_id, pos) order) to token_rows from the next free seq,
    with their samples' token_ranges (schema v4)."""
    first = int(scalar(con, "SELECT coalesce(max(token_stop), 0) FROM token_ranges"))  # type: ignore[call-overload]
    n = tokens.num_rows
    seq = pa.array(np.arange(first, first + n, dtype=np.int64))
    insert_batch(con, "token_rows", tokens.add_column(0, "seq", seq))
    sids = as_int64(tokens, "sample_id")
    starts = np.flatnonzero(np.r_[True, sids[1:] != sids[:-1]])
    stops = np.r_[starts[1:], n]
    ranges = pa.table(
        {
            "sample_id": pa.array(sids[starts], pa.int64()),
            "token_start": pa.array(first + starts, pa.int64()),
            "token_stop": pa.array(first + stops, pa.int64()),
        }
    )
    insert_batch(con, "token_ranges", ranges)


def check_sample_ids(samples: pa.Table) -> None:
    """Each sample has an owner (eval_id, or run_id + step), its own sample_id equal to
    ids.sample_id(owner, problem_id, sample_idx), and allowed enum values."""
    require_columns(samples, ("sample_id", "problem_id", "sample_idx"), what="samples")
    check_unique(samples, "sample_id", what="samples")
    for column, allowed in _ENUM_COLUMNS:
        if column in samples.column_names:
            bad = pc.filter(
                samples[column], pc.invert(pc.is_in(samples[column], pa.array(allowed)))
            ).drop_null()
            if len(bad):
                one_of(str(bad[0]), allowed, column)

    def column(name: str) -> list:
        if name in samples.column_names:
            return samples[name].to_pylist()
        return [None] * samples.num_rows

    rows = zip(
        column("sample_id"),
        column("eval_id"),
        column("run_id"),
        column("step"),
        column("problem_id"),
        column("sample_idx"),
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


def delete_stored_samples(con: duckdb.DuckDBPyConnection) -> None:
    """Remove stored rows of the batch's samples (registered as _batch_ids), if any.

    Fresh samples (the common case) skip the deletes entirely; a rewrite deletes token rows
    only inside the seq range its samples occupy, so it never scans the whole tokens table.
    """
    stored = scalar(
        con, "SELECT count(*) FROM samples WHERE sample_id IN (SELECT sample_id FROM _batch_ids)"
    )
    if not stored:
        return
    in_batch = "sample_id IN (SELECT sample_id FROM _batch_ids)"
    lo, hi = _seq_range(con, "_batch_ids")
    if lo is not None:
        con.execute(f"DELETE FROM token_rows WHERE seq >= ? AND seq < ? AND {in_batch}", [lo, hi])
    for table in ("token_ranges", "pivots", "samples"):
        con.execute(f"DELETE FROM {table} WHERE {in_batch}")


def _seq_range(con: duckdb.DuckDBPyConnection, ids: str) -> tuple[int | None, int | None]:
    """[min token_start, max token_stop) over the samples of relation `ids` (None if none)."""
    found = con.execute(
        "SELECT min(token_start), max(token_stop) FROM token_ranges"
        f" WHERE sample_id IN (SELECT sample_id FROM {ids})"
    ).fetchall()[0]
    return found[0], found[1]


def check_credit(tokens: pa.Table) -> tuple[pa.Table, list[str]]:
    """Token credit rows in key order and the credit columns they set (StoreError otherwise)."""
    require_columns(tokens, ("sample_id", "pos"), what="token credit")
    credit = [c for c in tokens.column_names if c not in ("sample_id", "pos")]
    unknown = [c for c in credit if c not in CREDIT_COLUMNS]
    if unknown or not credit:
        raise StoreError(
            f"token credit: columns {', '.join(unknown) or '(none)'} cannot be updated;"
            f" give one or more of {', '.join(CREDIT_COLUMNS)}"
        )
    return sort_by_key(tokens, what="token credit"), credit


def update_token_credit(
    con: duckdb.DuckDBPyConnection, tokens: pa.Table, credit: Sequence[str]
) -> int:
    """Set the `credit` columns of stored token rows (tokens, credit: from `check_credit`)."""
    if tokens.num_rows == 0:
        return 0
    sets = ", ".join(f'"{c}" = b."{c}"' for c in credit)
    con.register("_credit", tokens)
    lo, hi = _seq_range(con, "_credit")
    updated = 0
    if lo is not None:  # the seq range lets the scan skip every row group outside it
        found = scalar(
            con,
            f"""
            UPDATE token_rows SET {sets} FROM _credit b
            WHERE token_rows.seq >= ? AND token_rows.seq < ?
              AND token_rows.sample_id = b.sample_id AND token_rows.pos = b.pos
            """,
            [lo, hi],
        )
        updated = int(found or 0)  # type: ignore[call-overload]
    if updated != tokens.num_rows:
        raise StoreError(
            f"token credit: {tokens.num_rows - updated} of {tokens.num_rows} rows name a"
            " (sample_id, pos) that is not stored; write the samples' tokens first"
        )
    return updated


def write_pivots(
    con: duckdb.DuckDBPyConnection,
    pivots: pa.Table,
    replace: tuple[Sequence[int], Sequence[str]] | None,
) -> int:
    """See `Store.write_pivots`."""
    require_columns(pivots, ("sample_id", "pos", "kind"), what="pivots")
    for kind in pc.unique(pivots["kind"]).to_pylist():
        one_of(str(kind), PIVOT_KINDS, "pivot kind")
    scope = None if replace is None else _pivot_scope(pivots, *replace)
    if scope is None and pivots.num_rows == 0:
        return 0
    if pivots.num_rows:
        check_columns(pivots, table_columns(con, "pivots"), what="pivots")
        con.register("_pivots", pivots)
        missing = scalar(
            con,
            """
            SELECT count(DISTINCT p.sample_id) FROM _pivots p
            ANTI JOIN samples s ON p.sample_id = s.sample_id
            """,
        )
        if missing:
            raise StoreError(f"pivots: {missing} sample_id(s) are not stored; write samples first")
    if scope is not None:
        con.register("_scope", scope)
        cleared = "_scope"
    else:
        cleared = "(SELECT DISTINCT sample_id, kind FROM _pivots)"
    con.execute(
        f"""
        DELETE FROM pivots USING {cleared} d
        WHERE pivots.sample_id = d.sample_id AND pivots.kind = d.kind
        """
    )
    if pivots.num_rows:
        ordered = pivots.sort_by([("sample_id", "ascending"), ("pos", "ascending")])
        insert_batch(con, "pivots", ordered)
    return pivots.num_rows


def _pivot_scope(pivots: pa.Table, sample_ids: Sequence[int], kinds: Sequence[str]) -> pa.Table:
    """The (sample_id, kind) pairs `write_pivots(replace=...)` clears, checked against the batch."""
    kinds = list(dict.fromkeys(str(k) for k in kinds))
    for kind in kinds:
        one_of(kind, PIVOT_KINDS, "pivot kind")
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
