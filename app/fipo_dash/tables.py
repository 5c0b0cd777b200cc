"""The Runs page's tables: training runs and evals, one row each, columns named with units.

Data in, frames out (no Streamlit), so tests check exactly what the page shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from fipo_bench.eval.metrics import pass_at_k
from fipo_dash.status import EvalProgress, json_field, present

RUN_COLUMNS = {
    "run": "name",
    "algo": "algo",
    "preset": "preset",
    "checkpoints": "n_checkpoints",
    "last checkpoint step": "last_ckpt_step",
    "last logged step": "last_metric_step",
    "base model": "model_path",
    "created": "created_at",
    "run_id": "run_id",
}


def run_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run with the columns of RUN_COLUMNS (display name -> stored column)."""
    if runs.empty:
        return pd.DataFrame(columns=list(RUN_COLUMNS))
    frame = pd.DataFrame({shown: runs[stored] for shown, stored in RUN_COLUMNS.items()})
    frame["run"] = frame["run"].where(frame["run"].notna(), runs["run_id"])
    # The folder's name fits the table; the whole path is one hover away in the run's row.
    frame["base model"] = [Path(str(p)).name if present(p) else None for p in frame["base model"]]
    return frame


def pass_at_n(counts: pd.DataFrame, n: int) -> float | None:
    """Mean over problems of the unbiased pass@n (eval.metrics.pass_at_k) from per-problem
    (n_samples, n_correct); a problem with fewer than n samples counts at its own size."""
    if counts.empty:
        return None
    values = [
        pass_at_k(int(size), int(correct), min(n, int(size)))
        for size, correct in zip(counts["n_samples"], counts["n_correct"], strict=True)
    ]
    return float(np.mean(values))


def headline(row: Mapping, progress: EvalProgress, counts: pd.DataFrame) -> dict[str, float | None]:
    """avg@n, cons@n, pass@n and mean length (tokens) of one eval.

    A finished eval: its stored metrics (the evaluator's own numbers); pass@n from its
    per-problem counts where the evaluator stored pass@k only for k a power of 2. A running,
    interrupted or failed one: avg@n and pass@n over the problems stored so far (partial, as
    its status says); cons@n and the mean length wait until it is done.
    """
    n = int(row["n"])
    metrics = json_field(row.get("metrics")) if not progress.partial else {}
    accuracy = row.get("accuracy")
    return {
        "avg@n": metrics.get(f"avg@{n}", accuracy if present(accuracy) else None),
        "cons@n": metrics.get(f"cons@{n}"),
        "pass@n": metrics.get(f"pass@{n}", pass_at_n(counts, n)),
        "mean length (tokens)": metrics.get("response_length/mean"),
    }


def eval_table(
    evals: pd.DataFrame,
    progress: Mapping[str, EvalProgress],
    labels: Mapping[str, str],
    problem_counts: pd.DataFrame,
) -> pd.DataFrame:
    """One row per eval: name, status with progress, n, headline numbers, sampling settings.
    problem_counts: dashboard_queries.problem_counts of every eval."""
    by_eval = dict(tuple(problem_counts.groupby("eval_id"))) if not problem_counts.empty else {}
    empty = problem_counts.iloc[0:0]
    rows = []
    for row in evals.to_dict("records"):
        state = progress[row["eval_id"]]
        counts = by_eval.get(row["eval_id"], empty)
        rows.append(
            {
                "eval": labels.get(row["eval_id"], row["eval_id"]),
                "status": state.word,
                "samples": state.counts,
                "dataset": row["dataset"],
                "n": int(row["n"]),
                **headline(row, state, counts),
                "temperature": row["temperature"],
                "top_p": row["top_p"],
                "max_tokens": row["max_tokens"],
                "engine": row["engine"],
                "eval_id": row["eval_id"],
            }
        )
    return pd.DataFrame(rows)


def with_colours(table: pd.DataFrame, column: str, colours: Mapping[str, str], key: str):
    """A Styler that tints each row's `column` cell with its series colour (`key` column ->
    colour, series_style), lightened so the text stays readable."""
    from fipo_bench.analysis.series_style import mix_with_white

    tint = {k: mix_with_white(c, 0.6) for k, c in colours.items()}
    shades = [f"background-color: {tint.get(k, '#ffffff')}" for k in table[key]]
    return table.style.apply(lambda _: shades, subset=[column], axis=0)
