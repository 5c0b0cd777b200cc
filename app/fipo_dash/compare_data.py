"""Compare page numbers from sample outcomes: metrics per eval, per-problem points, fitted slope.

The metrics come from `fipo_bench.eval.metrics.compute_metrics`, the same code the evaluator
and the reports use, so the dashboard never shows a number that disagrees with them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fipo_bench.eval.metrics import EvalMetrics, SampleOutcome, compute_metrics
from fipo_dash.status import present


def model_label(row: Mapping) -> str:
    """The checkpoint id (run@step), else `RUN_DIR@step` for a trainer checkpoint folder
    (RUN_DIR/checkpoints/step-N), else the model folder's name or the hub id."""
    if present(row.get("ckpt_id")):
        return str(row["ckpt_id"])
    if not present(row.get("model_path")):
        return "?"
    path = Path(str(row["model_path"]))
    if path.parent.name == "checkpoints" and path.name.startswith("step-"):
        return f"{path.parent.parent.name}@{int(path.name.removeprefix('step-'))}"
    return path.name or str(path)


def eval_label(row: Mapping) -> str:
    """A short human name for an eval: its model (see model_label), dataset and id suffix."""
    return f"{model_label(row)} · {row.get('dataset', '?')} · {str(row['eval_id'])[-6:]}"


def metrics_by_eval(outcomes: pd.DataFrame, eval_ids: Sequence[str]) -> dict[str, EvalMetrics]:
    """compute_metrics per eval from an eval_outcomes frame; evals with no samples are left out."""
    out: dict[str, EvalMetrics] = {}
    for eval_id in eval_ids:
        rows = outcomes[outcomes["eval_id"] == eval_id]
        if rows.empty:
            continue
        out[eval_id] = compute_metrics(
            SampleOutcome(
                problem_id=str(p),
                sample_idx=int(i),
                extracted=None if e is None or e != e else str(e),
                correct=bool(c) if c is not None and c == c else False,  # NULL: never verified
                n_tokens=int(n),
            )
            for p, i, e, c, n in zip(
                rows["problem_id"],
                rows["sample_idx"],
                rows["extracted"],
                rows["correct"],
                rows["n_tokens"],
                strict=True,
            )
        )
    return out


def metrics_table(metrics: Mapping[str, EvalMetrics], labels: Mapping[str, str]) -> pd.DataFrame:
    """One row per eval: avg@k, cons@k, pass@k (every k), samples, problems, mean length."""
    rows = []
    for eval_id, m in metrics.items():
        row: dict[str, object] = {"eval": labels.get(eval_id, eval_id), "eval_id": eval_id}
        row["problems"] = m.num_problems
        row["samples"] = m.num_samples
        row.update(m.summary())
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    # Keep accuracy columns first and length columns last, whatever k each eval has.
    acc = [c for c in frame.columns if "@" in c]
    lengths = [c for c in frame.columns if c.startswith("response_length/")]
    return frame[["eval", "eval_id", "problems", "samples", *acc, *lengths]]


def quartile_table(metrics: Mapping[str, EvalMetrics], labels: Mapping[str, str]) -> pd.DataFrame:
    """Long frame (eval, quartile Q1..Q4, accuracy, samples, token range) for a grouped bar."""
    rows = [
        {
            "eval_id": eval_id,
            "eval": labels.get(eval_id, eval_id),
            "quartile": f"Q{q.quartile}",
            "accuracy": q.accuracy,
            "samples": q.num_samples,
            "tokens": f"{q.min_tokens}-{q.max_tokens}",
        }
        for eval_id, m in metrics.items()
        for q in m.accuracy_by_length_quartile
    ]
    return pd.DataFrame(
        rows, columns=["eval_id", "eval", "quartile", "accuracy", "samples", "tokens"]
    )


def problem_points(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per (eval_id, problem_id): mean response length (tokens) and accuracy."""
    frame = outcomes.assign(correct=outcomes["correct"].fillna(False).astype(float))
    return frame.groupby(["eval_id", "problem_id"], as_index=False).agg(
        mean_tokens=("n_tokens", "mean"), accuracy=("correct", "mean"), n=("correct", "size")
    )


@dataclass(frozen=True)
class Fit:
    slope: float  # accuracy per token
    intercept: float
    r2: float


def fitted_line(x: np.ndarray, y: np.ndarray) -> Fit | None:
    """Least-squares accuracy = slope * length + intercept; None with < 2 distinct lengths."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.size < 2 or np.ptp(x) == 0:
        return None
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    total = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float((residual**2).sum()) / total if total > 0 else 0.0
    return Fit(float(slope), float(intercept), r2)


def grid_frame(points: pd.DataFrame, eval_ids: Sequence[str]) -> pd.DataFrame:
    """Problems x evals of (n_correct, n) for the correctness grid, problems in natural order."""
    frame = points.assign(n_correct=(points["accuracy"] * points["n"]).round().astype(int))
    wide = frame.pivot_table(
        index="problem_id", columns="eval_id", values=["n_correct", "n"], aggfunc="first"
    )
    order = sorted(wide.index, key=_natural_key)
    return wide.reindex(order).reindex(columns=list(eval_ids), level=1)


def _natural_key(text: str) -> tuple:
    """'p2' before 'p10': digits compare as numbers."""
    import re

    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(text)))
