"""One table out of the database as a Parquet or CSV file, written whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import duckdb

from fipo_bench.errors import StoreError
from fipo_bench.store.batches import one_of
from fipo_bench.store.connection import store_error
from fipo_bench.store.schema import TABLES

EXPORT_FORMATS = ("parquet", "csv")

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


def check_export(table: str, format: str, out: str | os.PathLike[str]) -> Path:
    """The output path, once table, format and location are known to be usable."""
    one_of(table, TABLES, "table")
    one_of(format, EXPORT_FORMATS, "export format")
    out_path = Path(out)
    if out_path.is_dir():
        raise StoreError(f"output {out_path} is a folder; give a file path such as {out_path}/x")
    if not out_path.parent.is_dir():
        raise StoreError(f"output folder {out_path.parent} does not exist; create it first")
    if not os.access(out_path.parent, os.W_OK | os.X_OK):
        raise StoreError(f"output folder {out_path.parent} is not writable; choose another --out")
    return out_path


def copy_table(
    con: duckdb.DuckDBPyConnection, db_path: Path, table: str, format: str, out_path: Path
) -> Path:
    """COPY `table` of database `db_path` (in key order) to a temporary file beside
    `out_path`, then rename it."""
    try:
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{out_path.name}.", suffix=".tmp", dir=out_path.parent
        )
    except OSError as exc:
        raise StoreError(
            f"cannot write in {out_path.parent}: {exc.strerror}; choose another --out"
        ) from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        options = "FORMAT parquet" if format == "parquet" else "FORMAT csv, HEADER true"
        escaped = str(tmp).replace("'", "''")
        query = f"SELECT * FROM {table} {_EXPORT_ORDER[table]}"
        con.execute(f"COPY ({query}) TO '{escaped}' ({options})")
        os.replace(tmp, out_path)
    except (duckdb.Error, OSError) as exc:
        tmp.unlink(missing_ok=True)
        if "no space left" in str(exc).lower():
            raise StoreError(
                f"disk full: cannot write {out_path}; free space on {out_path.parent} or"
                " choose another --out (nothing was written)"
            ) from exc
        if isinstance(exc, duckdb.Error):  # e.g. a damaged database block
            raise store_error(exc, db_path, "export") from exc
        raise StoreError(f"cannot write {out_path}: {exc.strerror or exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out_path
