"""Names and colours of runs and evals on every page: colours from fipo_bench's series_style
(the same the HTML report uses), decided by the whole database."""

from __future__ import annotations

import pandas as pd

from fipo_bench.analysis.series_style import SeriesColours, series_colours
from fipo_dash.status import present


def run_labels(runs: pd.DataFrame) -> dict[str, str]:
    """run_id -> the run's name (its folder), with the id where two runs share a name."""
    if runs.empty:
        return {}
    names = {
        r["run_id"]: str(r["name"]) if present(r.get("name")) else str(r["run_id"])
        for r in runs.to_dict("records")
    }
    counts = pd.Series(list(names.values())).value_counts()
    return {run: name if counts[name] == 1 else f"{name} ({run})" for run, name in names.items()}


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
