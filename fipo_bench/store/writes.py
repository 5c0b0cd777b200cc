"""Writes of the small tables: runs, checkpoints, problems, evals, analyses, train metrics.

Each function takes a connection inside the caller's transaction (`Store._transaction`, or the
shard writer's in-memory database) and is idempotent: an upsert by the table's key.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any, Protocol, Required, TypedDict, Unpack

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from fipo_bench.errors import StoreError
from fipo_bench.store import queries
from fipo_bench.store.batches import check_columns, insert_batch, one_of, table_columns, to_json
from fipo_bench.store.connection import scalar
from fipo_bench.store.ids import rollout_owner
from fipo_bench.store.schema import ANALYSIS_KINDS, EVAL_STATUSES, RUN_KINDS

# Settings that define what an eval's samples mean: resuming with other values would mix runs.
EVAL_IDENTITY = ("dataset", "temperature", "top_p", "max_tokens", "seed")
_PROBLEM_COLUMNS = ("dataset", "problem_id", "problem", "answer", "meta")


class ProblemLike(Protocol):
    """What `upsert_problems` reads (fipo_bench.tasks.Problem fits; the store cannot import it)."""

    dataset: str
    problem_id: str
    problem: str
    answer: str
    meta: Mapping[str, Any]


def _path_text(path: str | os.PathLike[str] | None) -> str | None:
    return None if path is None else str(path)


class RunFields(TypedDict, total=False):
    """What `upsert_run` takes after run_id (kind required)."""

    kind: Required[str]  # train | eval | import
    name: str | None
    algo: str | None
    preset: str | None
    config: Mapping[str, Any] | None
    model_path: str | os.PathLike[str] | None


class EvalFields(TypedDict, total=False):
    """What `upsert_eval` takes after eval_id. run_id + step: a validation eval of a training
    run at that step (a step needs its run_id)."""

    dataset: Required[str]
    n: Required[int]
    temperature: Required[float]
    top_p: Required[float]
    max_tokens: Required[int]
    seed: Required[int]
    engine: Required[str]
    run_id: str | None
    step: int | None
    ckpt_id: str | None
    model_path: str | os.PathLike[str] | None
    prompt_template: str | None
    config: Mapping[str, Any] | None


def _check_fields(what: str, fields: Mapping[str, Any], spec: type) -> None:
    """A TypeError, as for a plain signature, on missing or unknown keyword arguments."""
    missing = sorted(spec.__required_keys__ - set(fields))  # type: ignore[attr-defined]
    unknown = sorted(set(fields) - set(spec.__annotations__))
    if missing or unknown:
        raise TypeError(f"{what}(): missing {missing or '-'}, unknown {unknown or '-'}")


def upsert_run(con: duckdb.DuckDBPyConnection, run_id: str, **fields: Unpack[RunFields]) -> None:
    _check_fields("upsert_run", fields, RunFields)
    kind = fields["kind"]
    one_of(kind, RUN_KINDS, "run kind")
    if not run_id:
        raise StoreError("run_id must be a non-empty string")
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
            fields.get("name"),
            fields.get("algo"),
            fields.get("preset"),
            to_json(fields.get("config")),
            _path_text(fields.get("model_path")),
        ],
    )


def add_checkpoint(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    step: int,
    path: str | os.PathLike[str],
    *,
    ckpt_id: str | None = None,
) -> str:
    ckpt_id = ckpt_id or rollout_owner(run_id, step)
    con.execute(
        """
        INSERT INTO checkpoints (ckpt_id, run_id, step, path) VALUES (?, ?, ?, ?)
        ON CONFLICT (ckpt_id) DO UPDATE SET run_id = excluded.run_id,
            step = excluded.step, path = excluded.path
        """,
        [ckpt_id, run_id, int(step), str(path)],
    )
    return ckpt_id


def problems_batch(problems: Iterable[ProblemLike]) -> pa.Table:
    """The problems as a checked Arrow batch (StoreError on a repeated (dataset, problem_id))."""
    rows = [
        {
            "dataset": p.dataset,
            "problem_id": str(p.problem_id),
            "problem": p.problem,
            "answer": str(p.answer),
            "meta": to_json(p.meta) if p.meta else None,
        }
        for p in problems
    ]
    batch = pa.Table.from_pylist(
        rows, schema=pa.schema([(c, pa.string()) for c in _PROBLEM_COLUMNS])
    )
    keys = pc.binary_join_element_wise(batch["dataset"], batch["problem_id"], "\x1f")
    if pc.count_distinct(keys).as_py() != len(keys):
        raise StoreError("problems: a (dataset, problem_id) pair appears twice in one batch")
    return batch


def upsert_problems(con: duckdb.DuckDBPyConnection, batch: pa.Table) -> int:
    """Insert or replace the rows of a `problems_batch`."""
    if batch.num_rows:
        check_columns(batch, table_columns(con, "problems"), what="problems")
        insert_batch(con, "problems", batch, or_replace=True)
    return batch.num_rows


def upsert_eval(con: duckdb.DuckDBPyConnection, eval_id: str, **fields: Unpack[EvalFields]) -> bool:
    _check_fields("upsert_eval", fields, EvalFields)
    if not eval_id:
        raise StoreError("eval_id must be a non-empty string")
    run_id, step = fields.get("run_id"), fields.get("step")
    if step is not None and run_id is None:
        raise StoreError(f"eval {eval_id}: step {step} needs the run_id it belongs to")
    new = {
        "dataset": fields["dataset"],
        "temperature": float(fields["temperature"]),
        "top_p": float(fields["top_p"]),
        "max_tokens": int(fields["max_tokens"]),
        "seed": int(fields["seed"]),
    }
    old = queries.get_eval(con, eval_id)
    if old is not None:
        changed = [k for k in EVAL_IDENTITY if old[k] != new[k]]
        if changed:
            k = changed[0]
            raise StoreError(
                f"eval {eval_id} exists with {k}={old[k]!r}, asked {k}={new[k]!r};"
                " use a new eval_id or the stored settings"
            )
    con.execute(
        """
        INSERT INTO evals (eval_id, run_id, step, ckpt_id, model_path, dataset, n,
            temperature, top_p, max_tokens, seed, engine, prompt_template, config, status)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running')
        ON CONFLICT (eval_id) DO UPDATE SET run_id = excluded.run_id,
            step = excluded.step, ckpt_id = excluded.ckpt_id,
            model_path = excluded.model_path, n = excluded.n, engine = excluded.engine,
            prompt_template = excluded.prompt_template, config = excluded.config,
            status = 'running', finished_at = NULL
        """,
        [
            eval_id,
            run_id,
            None if step is None else int(step),
            fields.get("ckpt_id"),
            _path_text(fields.get("model_path")),
            new["dataset"],
            int(fields["n"]),
            new["temperature"],
            new["top_p"],
            new["max_tokens"],
            new["seed"],
            fields["engine"],
            fields.get("prompt_template"),
            to_json(fields.get("config")),
        ],
    )
    return old is not None


def set_eval_status(
    con: duckdb.DuckDBPyConnection,
    eval_id: str,
    status: str,
    *,
    metrics: Mapping[str, Any] | None = None,
) -> None:
    one_of(status, EVAL_STATUSES, "eval status")
    updated = scalar(
        con,
        """
        UPDATE evals SET status = ?, metrics = coalesce(?, metrics),
            finished_at = CASE WHEN ? = 'running' THEN NULL ELSE current_timestamp END
        WHERE eval_id = ?
        """,
        [status, to_json(metrics), status, eval_id],
    )
    if not updated:
        raise StoreError(f"unknown eval_id {eval_id!r}; create it with upsert_eval first")


def upsert_analysis(
    con: duckdb.DuckDBPyConnection, eval_id: str, kind: str, settings: Mapping[str, Any]
) -> None:
    one_of(kind, ANALYSIS_KINDS, "analysis kind")
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
        [eval_id, kind, to_json(settings)],
    )


def write_train_metrics(
    con: duckdb.DuckDBPyConnection, run_id: str, step: int, metrics: Mapping[str, float]
) -> int:
    if not metrics:
        return 0
    try:
        values = [float(v) for v in metrics.values()]
    except (TypeError, ValueError) as exc:
        raise StoreError(f"train metrics of {run_id} step {step}: values must be numbers") from exc
    batch = pa.table(
        {
            "run_id": pa.array([run_id] * len(values), pa.string()),
            "step": pa.array([int(step)] * len(values), pa.int32()),
            "name": pa.array([str(k) for k in metrics], pa.string()),
            "value": pa.array(values, pa.float64()),
        }
    )
    insert_batch(con, "train_metrics", batch, or_replace=True)
    return batch.num_rows
