"""Shards of an eval -> the database: the store's checked, single-transaction merge, then the
eval metrics computed over the merged samples exactly as an unsharded eval computes them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fipo_bench.eval.stored import metrics_json, stored_eval_metrics


@dataclass(frozen=True)
class MergedShards:
    eval_ids: tuple[str, ...]
    complete_eval_ids: tuple[str, ...]  # finished in every shard: done, with metrics
    samples: int
    tokens: int


def merge_shard_dir(out_dir: Path, db_path: Path, *, partial: bool = False) -> MergedShards:
    from fipo_bench.store import Store
    from fipo_bench.store.merge import scan_shards

    plan = scan_shards(out_dir, partial=partial)  # every check before the database is opened
    store = Store(db_path)
    result = store.merge_shards(plan)
    for eval_id in result.complete_eval_ids:
        metrics = stored_eval_metrics(store, eval_id)
        store.set_eval_status(eval_id, "done", metrics=metrics_json(metrics))
    return MergedShards(
        eval_ids=tuple(result.eval_ids),
        complete_eval_ids=tuple(result.complete_eval_ids),
        samples=plan.samples,
        tokens=plan.tokens,
    )
