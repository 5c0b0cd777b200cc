"""Eval metrics computed from what the store holds: the one place the end-of-run table, reports
and the dashboard get avg@k / cons@k / pass@k from, so they always agree."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from fipo_bench.errors import StoreError
from fipo_bench.eval.metrics import EvalMetrics, SampleOutcome, compute_metrics


def outcomes_from_samples(samples: pa.Table) -> list[SampleOutcome]:
    """SampleOutcome per row of a samples table (columns as `Store.eval_samples` returns)."""
    cols = samples.select(["problem_id", "sample_idx", "extracted", "correct", "n_tokens"])
    return [
        SampleOutcome(
            problem_id=str(row["problem_id"]),
            sample_idx=int(row["sample_idx"]),
            extracted=row["extracted"],
            correct=bool(row["correct"]),  # NULL (never verified) counts as wrong
            n_tokens=int(row["n_tokens"]),
        )
        for row in cols.to_pylist()
    ]


def stored_eval_metrics(store: Any, eval_id: str) -> EvalMetrics:
    """Metrics of eval `eval_id` from its stored samples (a `fipo_bench.store.Store`)."""
    samples = store.eval_samples(eval_id)
    if samples.num_rows == 0:
        raise StoreError(f"eval {eval_id!r} has no stored samples; run `fipo-bench eval` first")
    return compute_metrics(outcomes_from_samples(samples))


def metrics_json(metrics: EvalMetrics) -> dict[str, Any]:
    """What goes into evals.metrics: the flat summary plus the per-quartile and per-problem
    breakdowns, all JSON-serialisable."""
    return {
        **metrics.summary(),
        "n": metrics.n,
        "num_problems": metrics.num_problems,
        "num_samples": metrics.num_samples,
        "accuracy_by_length_quartile": [
            {
                "quartile": q.quartile,
                "num_samples": q.num_samples,
                "min_tokens": q.min_tokens,
                "max_tokens": q.max_tokens,
                "accuracy": q.accuracy,
            }
            for q in metrics.accuracy_by_length_quartile
        ],
        "per_problem_accuracy": metrics.per_problem_accuracy,
    }
