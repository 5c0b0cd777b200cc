"""Length/accuracy reports of evals side by side, and length statistics of training runs.

Per eval (one column each): avg@k, cons@k, pass@k (eval.metrics, the numbers the evaluator
printed); response length min / q25 / mean / median / q75 / max (the paper's Figure 3); the
accuracy in each length quartile; the slope w and R^2 of a least-squares line through
(response length, correctness 0/1) over all samples (the paper's Figure 3f); the reflection
rate; and, when credit is stored, the mean influence weight and the share of tokens at its
clip bounds. Per training run: response_length/* per step from train_metrics.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fipo_bench.errors import StoreError
from fipo_bench.reflection import Lexicon, default_lexicon

LENGTH_STATS = ("min", "q25", "mean", "median", "q75", "max")
# Weights within this of a bound count as clipped (as algos.losses' clip_frac metrics).
EDGE_TOL = 1e-6


@dataclass(frozen=True)
class LengthFit:
    """Least squares correct ~ intercept + slope * length (per token) over samples."""

    slope_per_token: float
    intercept: float
    r_squared: float
    num_samples: int


def accuracy_length_fit(lengths: Sequence[float], correct: Sequence[float]) -> LengthFit:
    """Slope w and R^2 of correctness (0/1) against response length. NaN where undefined:
    slope when all lengths are equal, R^2 also when all outcomes are equal."""
    x = np.asarray(lengths, dtype=np.float64)
    y = np.asarray(correct, dtype=np.float64)
    n = len(x)
    if n < 2:
        return LengthFit(math.nan, math.nan, math.nan, n)
    dx, dy = x - x.mean(), y - y.mean()
    sxx, syy = float(dx @ dx), float(dy @ dy)
    if sxx == 0:
        return LengthFit(math.nan, math.nan, math.nan, n)
    slope = float(dx @ dy) / sxx
    r2 = math.nan if syy == 0 else float(dx @ dy) ** 2 / (sxx * syy)
    return LengthFit(slope, float(y.mean() - slope * x.mean()), r2, n)


def _reflection_lexicon(store, eval_id: str) -> Lexicon:
    """The lexicon the eval's pivots were stored with, else the default."""
    record = store.get_analysis(eval_id, "pivots")
    phrases = record["settings"].get("lexicon") if record else None
    return Lexicon.compile(phrases) if phrases else default_lexicon()


def eval_column(store, eval_id: str) -> dict[str, float | str]:
    """Every report number of one eval (keys are the report's row names). Quartile q holds the
    q-th quarter of the samples ranked by length (eval.metrics.accuracy_by_length_quartile)."""
    from fipo_bench.eval.metrics import compute_metrics
    from fipo_bench.eval.stored import outcomes_from_samples
    from fipo_bench.store.analysis_queries import influence_weight_summary

    ev = store.get_eval(eval_id)
    if ev is None:
        raise StoreError(f"eval {eval_id!r} is not in {store.path}; see `fipo-bench db info`")
    samples = store.eval_samples(eval_id)
    if samples.num_rows == 0:
        raise StoreError(f"eval {eval_id!r} has no stored samples; run `fipo-bench eval` first")
    metrics = compute_metrics(outcomes_from_samples(samples))
    col: dict[str, float | str] = {
        "model": str(ev.get("model_path") or ""),
        "dataset": str(ev["dataset"]),
        "problems": metrics.num_problems,
        "samples": metrics.num_samples,
        "k (samples per problem)": metrics.n,
        "avg@k": metrics.avg_at_n,
        "cons@k": metrics.cons_at_n,
    }
    col.update({f"pass@{k}": v for k, v in metrics.pass_at_k.items()})
    col.update({f"response length {s}": metrics.response_length[s] for s in LENGTH_STATS})
    for q in metrics.accuracy_by_length_quartile:
        col[f"accuracy length quartile {q.quartile}"] = q.accuracy
        col[f"length quartile {q.quartile} tokens"] = f"{q.min_tokens}-{q.max_tokens}"
    frame = samples.select(["n_tokens", "correct", "text"]).to_pandas()
    fit = accuracy_length_fit(frame["n_tokens"], frame["correct"].fillna(False).astype(float))
    col["acc-length slope w (per 1k tokens)"] = fit.slope_per_token * 1000
    col["acc-length R^2"] = fit.r_squared
    lexicon = _reflection_lexicon(store, eval_id)
    reflections = frame["text"].map(lexicon.count)
    col["reflection rate"] = float((reflections > 0).mean())
    col["reflections per sample"] = float(reflections.mean())
    record = store.get_analysis(eval_id, "credit")
    if record:
        credit = record["settings"]
        summary = influence_weight_summary(
            store, eval_id, low=credit["influence_low"], high=credit["influence_high"], tol=EDGE_TOL
        )
        col["influence weight mean"] = _num(summary["mean_weight"])
        col["influence weight share at upper bound"] = _num(summary["share_upper"])
        col["influence weight share at lower bound"] = _num(summary["share_lower"])
        col["credited tokens"] = summary["n_tokens"]
    return col


def _num(value: object) -> float:
    return math.nan if value is None else float(value)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Report:
    evals: pd.DataFrame  # rows: metric names; columns: eval ids (side by side)
    runs: pd.DataFrame  # long: run_id, step, stat, value (response_length/<stat>)


def build_report(store, eval_ids: Sequence[str], run_ids: Sequence[str] = ()) -> Report:
    """Every number of the report, read through `store` (read-only is enough)."""
    evals = pd.DataFrame({eval_id: eval_column(store, eval_id) for eval_id in eval_ids})
    runs = []
    for run_id in run_ids:
        if store.get_run(run_id) is None:
            raise StoreError(f"run {run_id!r} is not in {store.path}; see `fipo-bench db info`")
        names = [f"response_length/{s}" for s in LENGTH_STATS]
        frame = store.train_metrics(run_id, names).to_pandas()
        frame.insert(0, "run_id", run_id)
        frame["stat"] = frame.pop("name").str.removeprefix("response_length/")
        runs.append(frame[["run_id", "step", "stat", "value"]])
    runs_frame = (
        pd.concat(runs, ignore_index=True)
        if runs
        else pd.DataFrame(columns=["run_id", "step", "stat", "value"])
    )
    return Report(evals, runs_frame)
