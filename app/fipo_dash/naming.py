"""Names and colours of runs and evals on every page, the same the reports use: eval labels from
fipo_bench.analysis.evals (RUN@STEP, distinct within the database), colours from
fipo_bench.analysis.series_style, both decided by the whole database."""

from __future__ import annotations

import pandas as pd

from fipo_bench.analysis.evals import distinct_labels
from fipo_bench.analysis.series_style import SeriesColours, series_colours
from fipo_dash.status import present


def _label_row(row: dict) -> dict:
    """An eval_overview row as analysis.evals.model_name reads it: the checkpoint's run and
    step under their names there, None (not pandas' NaN, which is truthy) where absent."""

    def clean(value):
        return value if present(value) else None

    return {
        "eval_id": row["eval_id"],
        "dataset": clean(row.get("dataset")),
        "ckpt_id": clean(row.get("ckpt_id")),
        "model_path": clean(row.get("model_path")),
        "run_id": clean(row.get("model_run_id")),
        "step": clean(row.get("model_step")),
        "run_name": clean(row.get("run_name")),
    }


def eval_labels(evals: pd.DataFrame) -> dict[str, str]:
    """eval_id -> 'tiny-fipo@12' (with the dataset, then the id's end, only where two evals of
    the database would read the same)."""
    return distinct_labels([_label_row(r) for r in evals.to_dict("records")])


def colours(runs: pd.DataFrame, evals: pd.DataFrame) -> SeriesColours:
    """Colours of every run and eval in the database (evals: dashboard_queries.eval_overview)."""
    run_ids = [] if runs.empty else list(runs["run_id"])
    rows = [
        {
            "eval_id": r["eval_id"],
            "run_id": r["model_run_id"] if present(r.get("model_run_id")) else None,
            "step": r["model_step"] if present(r.get("model_step")) else None,
            "model_path": r.get("model_path") if present(r.get("model_path")) else None,
        }
        for r in evals.to_dict("records")
    ]
    return series_colours(run_ids, rows)
