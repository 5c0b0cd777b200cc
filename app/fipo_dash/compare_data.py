"""Compare page tables from the analysis layer's Report (fipo_bench.analysis.reports: the very
numbers `fipo-bench report` and `fipo-bench compare` print), and the per-problem grid.

Data in, frames out (no Streamlit), so tests check exactly what the page shows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd

from fipo_bench.analysis.reports import Report
from fipo_bench.analysis.stats import CONFIDENCE


def _interval(low: float, high: float) -> str:
    if pd.isna(low) or pd.isna(high):
        return "-"
    return f"[{low:+.3f}, {high:+.3f}]"


def eval_table(report: Report) -> pd.DataFrame:
    """One row per eval: problems and samples per problem, avg@n with its standard error over
    problems, cons@n, pass@n, mean length (tokens), and the per-sample length slope with its
    interval and R^2 (an unfinished eval is named in the report's notes above the table)."""
    rows = []
    for d in report.details:
        s, fit = d.scored.stats, d.per_sample_fit
        lengths = [o.n_tokens for o in d.scored.stored.outcomes]
        rows.append(
            {
                "eval": d.scored.label,
                "problems": s.num_problems,
                "n": s.n,
                "avg@n": s.avg.value,
                "avg@n SE": s.avg.se,
                "cons@n": s.cons.value,
                "pass@n": s.pass_at(s.n).value,
                "mean length (tokens)": sum(lengths) / len(lengths),
                fit.name: fit.slope_per_1k,
                f"{int(CONFIDENCE * 100)}% interval of w": _interval(
                    fit.slope_ci_low, fit.slope_ci_high
                ),
                "R² (per sample)": fit.fit.r_squared,
            }
        )
    return pd.DataFrame(rows)


def difference_table(report: Report) -> pd.DataFrame:
    """Every eval against the baseline, per metric: the difference, its paired-bootstrap
    interval, the paired permutation p-value and the per-problem wins/ties/losses; `supported`
    marks an interval that excludes 0. Empty without a comparison (fewer than two evals on
    the same problems)."""
    if report.comparison is None:
        return pd.DataFrame()
    rows = []
    for r in report.comparison.records():
        metric = r["metric"].replace("@k", f"@{r['k']}")
        rows.append(
            {
                "eval": r["eval_label"],
                "vs": r["baseline_label"],
                "metric": metric,
                "baseline": r["baseline_value"],
                "eval value": r["eval_value"],
                "difference": r["delta"],
                f"{int(CONFIDENCE * 100)}% interval": _interval(r["ci_low"], r["ci_high"]),
                "p": r["p_value"],
                "supported": "yes" if r["excludes_zero"] else "",
                "wins / ties / losses": f"{r['wins']} / {r['ties']} / {r['losses']}",
            }
        )
    return pd.DataFrame(rows)


def reflection_table(report: Report) -> pd.DataFrame:
    """Per eval: reflection rate, accuracy of reflective and of direct responses, reflections
    per 1k tokens, each with its interval (bootstrap over problems)."""
    rows = []
    for d in report.details:
        r = d.reflection
        row = {"eval": d.scored.label}
        for name, ratio in (
            ("reflection rate", r.rate),
            ("accuracy reflective", r.accuracy_reflective),
            ("accuracy direct", r.accuracy_direct),
            ("reflections per 1k tokens", r.per_1k_tokens),
        ):
            row[name] = ratio.value
            row[f"{name} interval"] = _interval(ratio.ci_low, ratio.ci_high)
        rows.append(row)
    return pd.DataFrame(rows)


def problem_points(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per (eval_id, problem_id): mean response length (tokens), accuracy and samples."""
    frame = outcomes.assign(correct=outcomes["correct"].fillna(False).astype(float))
    return frame.groupby(["eval_id", "problem_id"], as_index=False).agg(
        mean_tokens=("n_tokens", "mean"), accuracy=("correct", "mean"), n=("correct", "size")
    )


GRID_ORDERS = ("problem", "largest difference first")


def grid_frame(
    points: pd.DataFrame,
    eval_ids: Sequence[str],
    *,
    order: str = "problem",
    differs_only: bool = False,
) -> pd.DataFrame:
    """Problems x evals of (n_correct, n) for the correctness grid.

    order: "problem" (natural order of the ids) or "largest difference first" (the spread of
    the evals' accuracy on the problem); differs_only: problems where that spread is not 0.
    """
    frame = points.assign(n_correct=(points["accuracy"] * points["n"]).round().astype(int))
    wide = frame.pivot_table(
        index="problem_id", columns="eval_id", values=["n_correct", "n"], aggfunc="first"
    )
    columns = pd.MultiIndex.from_product([["n_correct", "n"], list(eval_ids)])
    wide = wide.reindex(columns=columns)
    accuracy = wide["n_correct"] / wide["n"]
    spread = (accuracy.max(axis=1) - accuracy.min(axis=1)).fillna(0.0)
    if differs_only:
        wide, spread = wide[spread > 0], spread[spread > 0]
    keys = sorted(wide.index, key=_natural_key)
    if order == "largest difference first":
        keys = sorted(keys, key=lambda p: -spread[p])  # stable: ties keep the natural order
    return wide.reindex(keys)


def _natural_key(text: str) -> tuple:
    """'p2' before 'p10': digits compare as numbers."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(text)))
