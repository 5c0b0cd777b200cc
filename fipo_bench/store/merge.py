"""`db merge`: the shards of a sharded eval (shards.py) into one database, as the single writer.

    plan = scan_shards(Path("out"))          # reads and checks every file; writes nothing
    result = Store(db).merge_shards(plan)    # one transaction

Every check runs before the first write: each file is readable Parquet with its table's columns
and types, every shard of the set (1..N) is there and has finished its evals (unless
partial=True), the shards agree on each eval's settings and on each problem, no sample is in
two files, every token row belongs to a sample. The write replaces rows per sample_id, as
`Store.write_samples` does, so merging twice adds nothing and the rows are exactly those an
unsharded run would have written. Metrics are not computed here (the store does not know
them): the caller recomputes them for `MergeResult.complete_eval_ids` and marks those done.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from fipo_bench.errors import StoreError
from fipo_bench.store import writes
from fipo_bench.store.connection import migrate, scalar
from fipo_bench.store.sample_writes import check_sample_ids, delete_stored_samples
from fipo_bench.store.schema import insert_token_rows
from fipo_bench.store.shards import (
    MANIFEST,
    SHARD_TABLES,
    part_files,
    read_parquet,
    shard_folder,
    shard_indices,
    unreadable,
)
from fipo_bench.store.writes import EvalFields

# Columns of an eval row that may differ between shards: progress, and where each shard found
# the model and data (machines mount them at different paths); the merged eval takes the
# lowest shard's. Every other column defines the samples and must agree.
_EVAL_PER_SHARD = ("status", "metrics", "started_at", "finished_at", "model_path", "config")
_MEMORY = Path(":memory:")


@dataclass(frozen=True)
class ShardPlan:
    """What `scan_shards` found and checked: the files to merge, by table."""

    root: Path
    num_shards: int
    shards: tuple[int, ...]  # present
    missing: tuple[int, ...]  # of 1..num_shards, with no manifest
    files: dict[str, list[Path]]  # table -> finished files (tokens: of finished units only)
    evals: dict[str, dict[str, Any]]  # eval_id -> the agreed eval row (status per shard dropped)
    complete_eval_ids: tuple[str, ...]  # done in every one of the N shards
    orphan_units: int  # tokens files whose unit never got its samples file (a killed shard)
    samples: int
    tokens: int


@dataclass(frozen=True)
class MergeResult:
    eval_ids: tuple[str, ...]
    complete_eval_ids: tuple[str, ...]
    samples: int
    tokens: int


@functools.cache
def _expected_schemas() -> dict[str, pa.Schema]:
    """Arrow schema of each shard table, from an in-memory database with the real schema."""
    con = duckdb.connect(":memory:")
    try:
        migrate(con, _MEMORY)
        return {
            t: con.sql(f"SELECT * FROM {t} LIMIT 0").to_arrow_table().schema for t in SHARD_TABLES
        }
    finally:
        con.close()


def _check_file_schema(path: Path, table: str, expected: pa.Schema) -> None:
    try:
        found = pq.read_schema(path)
    except (OSError, pa.ArrowException) as exc:
        raise unreadable(path, exc) from exc
    if found.names != expected.names:
        missing = sorted(set(expected.names) - set(found.names))
        unknown = sorted(set(found.names) - set(expected.names))
        raise StoreError(
            f"shard file {path} does not hold {table} rows (missing columns:"
            f" {', '.join(missing) or '-'}; unknown: {', '.join(unknown) or '-'}); it was not"
            " written by this fipo-bench's `eval --shard`"
        )
    for field in expected:
        if not found.field(field.name).type.equals(field.type):
            raise StoreError(
                f"shard file {path}: column {field.name} is {found.field(field.name).type},"
                f" expected {field.type}; rerun that shard with this fipo-bench"
            )


def _manifests(root: Path) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    if not root.is_dir():
        raise StoreError(f"shard folder {root} does not exist; give the --out-dir of eval --shard")
    present = shard_indices(root)
    if not present:
        raise StoreError(
            f"{root} holds no shard output (no shards/shard=K/{MANIFEST});"
            " give the --out-dir of `fipo-bench eval --shard K/N`"
        )
    counts = {}
    for index in present:
        path = shard_folder(root, "shards", index) / MANIFEST
        row = read_parquet(path).to_pylist()[0]
        if row["shard"] != index:
            raise StoreError(f"{path} says shard {row['shard']} inside shard={index}; rerun it")
        counts[index] = row["num_shards"]
    if len(set(counts.values())) > 1:
        raise StoreError(
            f"{root} mixes shard sets of {sorted(set(counts.values()))} shards; one set per folder"
        )
    num_shards = next(iter(counts.values()))
    extra = [i for i in present if i > num_shards]
    if extra:
        raise StoreError(f"{root} has shard {extra[0]} of a {num_shards}-shard set")
    missing = tuple(i for i in range(1, num_shards + 1) if i not in counts)
    return num_shards, tuple(present), missing


def _agreed_evals(
    rows: list[dict[str, Any]], shards: tuple[int, ...]
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """One eval row per eval_id (StoreError where shards disagree) and the ids done in all."""
    by_eval: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    for row in rows:
        by_eval[row["eval_id"]][row["_shard"]] = row
    agreed, done = {}, []
    for eval_id, per_shard in sorted(by_eval.items()):
        first_shard, first = next(iter(sorted(per_shard.items())))
        for shard, row in per_shard.items():
            for key, value in row.items():
                if key not in _EVAL_PER_SHARD and key != "_shard" and value != first[key]:
                    raise StoreError(
                        f"shards {first_shard} and {shard} disagree on eval {eval_id}'s {key}"
                        f" ({first[key]!r} vs {value!r}); rerun them with the same settings"
                    )
        agreed[eval_id] = first
        if set(per_shard) == set(shards) and all(r["status"] == "done" for r in per_shard.values()):
            done.append(eval_id)
    return agreed, done


def _check_problems(con: duckdb.DuckDBPyConnection) -> None:
    conflict = con.execute(
        """
        SELECT dataset, problem_id FROM (SELECT DISTINCT * EXCLUDE (filename) FROM _problems)
        GROUP BY ALL HAVING count(*) > 1 LIMIT 1
        """
    ).fetchall()
    if conflict:
        dataset, problem_id = conflict[0]
        raise StoreError(
            f"shards disagree on problem {dataset}/{problem_id} (statement, answer or meta);"
            " rerun them from the same data file"
        )


def _check_rows(con: duckdb.DuckDBPyConnection, plan_root: Path) -> tuple[int, int]:
    """Samples: one file each, valid ids; tokens: of a merged sample, once per (sample, pos)."""
    dup = con.execute(
        """
        SELECT sample_id, list(DISTINCT filename ORDER BY filename) FROM _samples
        GROUP BY sample_id HAVING count(*) > 1 LIMIT 1
        """
    ).fetchall()
    if dup:
        sid, files = dup[0]
        raise StoreError(
            f"sample {sid} is in more than one shard file ({', '.join(files[:2])}); delete the"
            f" shard output under {plan_root} that should not be there and rerun that shard"
        )
    ids = con.sql(
        "SELECT sample_id, eval_id, run_id, step, problem_id, sample_idx FROM _samples"
    ).to_arrow_table()
    check_sample_ids(ids)
    stray = con.execute(
        "SELECT any_value(filename), count(*) FROM _tokens ANTI JOIN _samples USING (sample_id)"
    ).fetchall()
    if stray and stray[0][1]:
        raise StoreError(
            f"{stray[0][1]} token rows (e.g. in {stray[0][0]}) belong to no sample of the shards;"
            " delete that file and rerun its shard"
        )
    n_tokens, n_keys = con.execute(
        "SELECT count(*), count(DISTINCT (sample_id, pos)) FROM _tokens"
    ).fetchall()[0]
    if n_tokens != n_keys:
        raise StoreError("shard token files repeat a (sample_id, pos); rerun the shards")
    return ids.num_rows, int(n_tokens)


def _register_views(con: duckdb.DuckDBPyConnection, files: dict[str, list[Path]]) -> None:
    """Views _runs, _problems, _evals, _samples, _tokens over the plan's files, each with the
    table's columns plus `filename` (a table with no files: an empty view over the table)."""
    for table in SHARD_TABLES:
        if files[table]:
            listed = ", ".join("'" + str(p).replace("'", "''") + "'" for p in files[table])
            source = f"read_parquet([{listed}], filename = true, hive_partitioning = false)"
        else:
            source = f"(SELECT *, NULL::VARCHAR AS filename FROM {table} WHERE false)"
        con.execute(f"CREATE OR REPLACE TEMP VIEW _{table} AS SELECT * FROM {source}")


def scan_shards(root: str | Path, *, partial: bool = False) -> ShardPlan:
    """Read and check everything under `root`; StoreError (nothing written anywhere) if bad.

    partial=False: every shard 1..N must be present with all its evals done. partial=True
    merges the finished units of whatever is there (evals not done everywhere stay running).
    """
    root = Path(root)
    num_shards, shards, missing = _manifests(root)
    expected = _expected_schemas()
    files: dict[str, list[Path]] = {}
    for table in SHARD_TABLES:
        files[table] = [p for k in shards for p in part_files(shard_folder(root, table, k))]
        for path in files[table]:
            _check_file_schema(path, table, expected[table])
    units = {p.parent.name + "/" + p.name for p in files["samples"]}
    finished = [p for p in files["tokens"] if p.parent.name + "/" + p.name in units]
    orphan_units = len(files["tokens"]) - len(finished)
    files["tokens"] = finished
    eval_rows = []
    for path in files["evals"]:
        shard = int(path.parent.name.removeprefix("shard="))
        eval_rows += [{**row, "_shard": shard} for row in read_parquet(path).to_pylist()]
    evals, done = _agreed_evals(eval_rows, shards)
    if not partial:
        if missing:
            raise StoreError(
                f"shards {', '.join(map(str, missing))} of {num_shards} are missing under {root};"
                " run them (or merge what is there with --partial)"
            )
        unfinished = sorted(set(evals) - set(done))
        if unfinished:
            raise StoreError(
                f"eval {unfinished[0]} is not finished in every shard under {root}; rerun the"
                " unfinished shards (they resume) or merge what is there with --partial"
            )
    con = duckdb.connect(":memory:")
    try:
        migrate(con, _MEMORY)  # the empty tables behind the views of tables with no files
        _register_views(con, files)
        _check_problems(con)
        owners = con.execute(
            "SELECT DISTINCT eval_id FROM _samples WHERE eval_id IS NOT NULL"
        ).fetchall()
        unknown = sorted(set(r[0] for r in owners) - set(evals))
        if unknown:
            raise StoreError(f"samples of eval {unknown[0]} have no evals row in the shards")
        n_samples, n_tokens = _check_rows(con, root)
    except duckdb.Error as exc:
        raise StoreError(
            f"shard data under {root} is unreadable: {str(exc).splitlines()[0]}; rerun the"
            " shard whose file it names"
        ) from exc
    finally:
        con.close()
    return ShardPlan(
        root=root,
        num_shards=num_shards,
        shards=shards,
        missing=missing,
        files=files,
        evals=evals,
        complete_eval_ids=tuple(done) if not missing else (),
        orphan_units=orphan_units,
        samples=n_samples,
        tokens=n_tokens,
    )


def _eval_fields(row: dict[str, Any]) -> EvalFields:
    """The upsert_eval arguments that recreate a shard's eval row (config parsed back)."""
    fields = {k: row[k] for k in EvalFields.__annotations__}
    fields["config"] = None if row["config"] is None else json.loads(row["config"])
    return fields  # type: ignore[return-value]


def write_merge(con: duckdb.DuckDBPyConnection, plan: ShardPlan) -> MergeResult:
    """Write the checked shards inside the caller's transaction (`Store.merge_shards`)."""
    schemas = _expected_schemas()
    columns = {t: list(schemas[t].names) for t in SHARD_TABLES}

    def cols(table: str) -> str:
        return ", ".join(f'"{c}"' for c in columns[table])

    _register_views(con, plan.files)
    # A run the database already has is kept as it is (a training run's own row wins).
    con.execute(
        f"INSERT INTO runs ({cols('runs')}) SELECT DISTINCT ON (run_id) {cols('runs')}"
        " FROM _runs ORDER BY run_id, created_at ON CONFLICT DO NOTHING"
    )
    con.execute(
        f"INSERT OR REPLACE INTO problems ({cols('problems')})"
        f" SELECT DISTINCT {cols('problems')} FROM _problems"
    )
    for eval_id, row in plan.evals.items():
        writes.upsert_eval(con, eval_id, **_eval_fields(row))
    con.execute("CREATE OR REPLACE TEMP TABLE _batch_ids AS SELECT sample_id FROM _samples")
    delete_stored_samples(con)
    con.execute(
        f"INSERT INTO samples ({cols('samples')}) SELECT {cols('samples')} FROM _samples"
        " ORDER BY sample_id"
    )
    first_seq = int(scalar(con, "SELECT coalesce(max(token_stop), 0) FROM token_ranges"))  # type: ignore[call-overload]
    for statement in insert_token_rows("_tokens", str(first_seq)):
        con.execute(statement)
    return MergeResult(
        eval_ids=tuple(plan.evals),
        complete_eval_ids=plan.complete_eval_ids,
        samples=plan.samples,
        tokens=plan.tokens,
    )
