"""The DuckDB store: the only module in fipo-bench that speaks SQL.

    from fipo_bench.store import Store, sample_id, default_db_path

    store = Store(default_db_path(cli_value))            # writer: creates + migrates the file
    reader = Store(path, read_only=True)                  # dashboard/reports: never writes

Every call opens the file, does one thing and closes it: one writer process at a time, readers
retry on a lock for `lock_timeout_s`, then StoreError. Every write is one transaction and is
idempotent (rerunning it replaces rows, never duplicates them).

Writes
    upsert_run(run_id, kind=..., name, algo, preset, config, model_path)
    add_checkpoint(run_id, step, path, ckpt_id=None) -> ckpt_id
    upsert_problems(problems)                        # objects shaped like tasks.Problem
    upsert_eval(eval_id, dataset=, n=, temperature=, top_p=, max_tokens=, seed=, engine=,
                run_id=None, step=None, ...)   # run_id + step: a training run's validation eval
        -> bool (True: it existed; resume with done_sample_keys)
    set_eval_status(eval_id, "running"|"done"|"failed", metrics=None)
    write_samples(samples: pa.Table, tokens: pa.Table | None)   # replace per sample_id
        # optional sample columns, NULL when absent: answer_source (ANSWER_SOURCES), and an
        # importer's source verdict source_score, source_correct
    update_token_credit(tokens: pa.Table)            # sample_id, pos + credit columns
    write_pivots(pivots: pa.Table)                   # replace per (sample_id, kind) in the batch
    write_pivots(pivots, replace=(sample_ids, kinds))   # replace all of those samples' kinds
    write_train_metrics(run_id, step, {name: value}) # upsert per (run_id, step, name)
    upsert_analysis(eval_id, "credit"|"pivots", settings)   # what an eval's analysis used
Reads (pyarrow.Table unless noted; `.to_pandas()` for a frame)
    list_runs(kind=None), get_run(run_id) -> dict | None, checkpoints(run_id),
    problems(dataset), list_evals(run_id=None, dataset=None), get_eval(eval_id) -> dict | None,
    done_sample_keys(eval_id) -> set[(problem_id, sample_idx)],
    eval_samples(eval_id, problem_id=None), trajectory(sample_id), pivots(sample_id, kind=None),
    train_metrics(run_id, names=None), get_analysis(eval_id, kind) -> dict | None,
    table_counts() -> dict, info() -> StoreInfo, export_table(table, format, out) -> Path
    read_table(sql, params, views={name: pa.Table}) -> pa.Table   # for the store's own query
        modules (dashboard_queries, analysis_queries): SQL stays inside fipo_bench.store
"""

from fipo_bench.store.export import EXPORT_FORMATS
from fipo_bench.store.ids import rollout_owner, sample_id
from fipo_bench.store.paths import DB_ENV_VAR, DEFAULT_DB_FILE, default_db_path
from fipo_bench.store.queries import StoreInfo
from fipo_bench.store.sample_writes import CREDIT_COLUMNS
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
from fipo_bench.store.store import Store

__all__ = [
    "ANALYSIS_KINDS",
    "ANSWER_SOURCES",
    "CREDIT_COLUMNS",
    "DB_ENV_VAR",
    "DEFAULT_DB_FILE",
    "EVAL_STATUSES",
    "EXPORT_FORMATS",
    "PIVOT_KINDS",
    "RUN_KINDS",
    "SCHEMA_VERSION",
    "TABLES",
    "VERIFY_STATUSES",
    "Store",
    "StoreInfo",
    "default_db_path",
    "rollout_owner",
    "sample_id",
]
