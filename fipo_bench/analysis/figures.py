"""Plotly figures of a report: the evals side by side and the FIPO paper's analyses.

Always (HTML report): accuracy per length quartile, response-length boxes (one box per eval at
its own position), training response length per step. With `--figures`: the paper's Figure 1
(validation avg@k / cons@k over steps), 3(a-e) (length quantiles over steps), 3(f) (accuracy
against mean length per stage, with w and R^2), 4(a-c) (mean reward, generation rounds per
step, length-weighted mean advantage), 5(a-c) (policy KL, gradient norm, entropy), the pass@k
curves with their standard-error band, the reflection panel and the pivot event study.
Every trace is named by its run or run/checkpoint label (`tiny-fipo@12`), never by an eval id,
and coloured as the dashboard colours it (`analysis.series_style`: one colour per run, its
checkpoints in shades of it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fipo_bench.analysis.events import EventStudy
from fipo_bench.analysis.length_accuracy import CheckpointPoint, StageFit
from fipo_bench.analysis.reports import Report
from fipo_bench.analysis.run_curves import RunInfo

# The training metrics of Figures 3(a-e), 4 and 5 (names as the trainer logs them).
FIGURE_3_STATS = ("min", "q25", "mean", "median", "q75")
FIGURE_4 = (
    ("reward/mean", "(a) mean reward"),
    ("num_gen_batches", "(b) generation rounds per step"),
    ("advantage/length_weighted_mean", "(c) length-weighted mean advantage"),
)
FIGURE_5 = (
    ("policy_kl", "(a) policy KL"),
    ("grad_norm", "(b) gradient norm"),
    ("entropy", "(c) entropy"),
)
TRAIN_FIGURE_METRICS = (
    *(f"response_length/{s}" for s in FIGURE_3_STATS),
    *(name for name, _ in FIGURE_4 + FIGURE_5),
)
EVENT_TITLES = {
    "future_kl": "Future-KL",
    "influence_weight": "influence weight",
    "delta": "delta = log p - log p_ref",
    "entropy": "entropy",
}
STEP_AXIS = "training step"


def _band(fig, x, low, high, colour: str, name: str, **where) -> None:
    """A shaded interval between two curves (no legend entry of its own)."""
    rgb = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
    fig.add_scatter(
        x=np.concatenate([x, x[::-1]]), y=np.concatenate([high, low[::-1]]), fill="toself",
        mode="lines",
        fillcolor=f"rgba({rgb[0]},{rgb[1]},{rgb[2]},0.18)", line={"width": 0},
        hoverinfo="skip", showlegend=False, legendgroup=name, **where,
    )  # fmt: skip


# ---- evals side by side -------------------------------------------------------------------


def quartile_bars(report: Report, colour: Callable[[str], str]):
    import plotly.graph_objects as go

    fig = go.Figure()
    rows = [f"accuracy length quartile {q}" for q in range(1, 5)]
    for label in report.evals.columns:
        present = [r for r in rows if r in report.evals.index]
        ranges = [report.evals.loc[r.replace("accuracy ", "") + " tokens", label] for r in present]
        fig.add_bar(
            name=label, x=[f"Q{r[-1]}" for r in present], y=report.evals.loc[present, label],
            marker_color=colour(label), customdata=ranges,
            hovertemplate="%{x} (%{customdata} tokens): %{y:.3f}<extra>" + label + "</extra>",
        )  # fmt: skip
    fig.update_layout(
        title="Accuracy by response-length quartile (Q1 = shortest; ties split evenly)",
        xaxis_title="length quartile", yaxis_title="accuracy", barmode="group",
    )  # fmt: skip
    return fig


def length_boxes(report: Report, colour: Callable[[str], str]):
    """One box per eval at its own x position, drawn from the stored quantiles."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for label in report.evals.columns:
        stat = {s: float(report.evals.loc[f"response length {s}", label]) for s in
                ("min", "q25", "median", "q75", "max", "mean")}  # fmt: skip
        fig.add_box(
            name=label, x=[label], q1=[stat["q25"]], median=[stat["median"]], q3=[stat["q75"]],
            lowerfence=[stat["min"]], upperfence=[stat["max"]], mean=[stat["mean"]],
            boxmean=True, marker_color=colour(label),
        )  # fmt: skip
    fig.update_layout(
        title="Response length (tokens): min, q25, median, q75, max; dashed: mean",
        yaxis_title="tokens", showlegend=False,
    )  # fmt: skip
    return fig


def run_lengths(report: Report, colour: Callable[[str], str]):
    import plotly.graph_objects as go

    fig = go.Figure()
    table = report.runs.pivot_table(index=["run", "step"], columns="stat", values="value")
    for run, frame in table.reset_index().groupby("run", sort=False):
        for stat, dash in (("mean", "solid"), ("q25", "dot"), ("q75", "dot")):
            if stat in frame:
                fig.add_scatter(
                    x=frame["step"], y=frame[stat], name=f"{run} {stat}", mode="lines",
                    line={"dash": dash, "color": colour(str(run))}, legendgroup=str(run),
                )  # fmt: skip
    fig.update_layout(
        title="Training: response length per step (mean; dotted: q25, q75)",
        xaxis_title=STEP_AXIS, yaxis_title="tokens", hovermode="x unified",
    )  # fmt: skip
    return fig


def pass_at_k_curves(report: Report, colour: Callable[[str], str]):
    """pass@k for k = 1..n of every eval, with a band of one standard error over problems."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for detail in report.details:
        label, stats = detail.scored.label, detail.scored.stats
        k = np.arange(1, stats.n + 1)
        value = np.array([e.value for e in stats.pass_curve])
        se = np.nan_to_num(np.array([e.se for e in stats.pass_curve]))
        _band(fig, k, value - se, value + se, colour(label), label)
        fig.add_scatter(x=k, y=value, name=label, mode="lines+markers", legendgroup=label,
                        line={"color": colour(label)})  # fmt: skip
    fig.update_layout(
        title="pass@k (unbiased estimator) for every k <= n; band: ± one standard error",
        xaxis_title="k (samples drawn)", yaxis_title="pass@k", hovermode="x unified",
    )  # fmt: skip
    return fig


def reflection_panel(report: Report, colour: Callable[[str], str]):
    """Reflection rate, accuracy of reflective vs direct responses, reflections per 1k tokens:
    each per eval with its 95% interval (bootstrap over problems)."""
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=1, cols=3, subplot_titles=(
            "responses with a reflection", "accuracy: reflective | direct",
            "reflections per 1k tokens",
        ),
    )  # fmt: skip
    for detail in report.details:
        label, r = detail.scored.label, detail.reflection
        shown = [
            (1, ["rate"], [r.rate]),
            (2, ["reflective", "direct"], [r.accuracy_reflective, r.accuracy_direct]),
            (3, ["per 1k"], [r.per_1k_tokens]),
        ]
        for col, names, ratios in shown:
            value = np.array([x.value for x in ratios])
            fig.add_bar(
                x=names, y=value, name=label, legendgroup=label, showlegend=col == 1,
                marker_color=colour(label), row=1, col=col,
                error_y={"type": "data", "symmetric": False,
                         "array": np.array([x.ci_high for x in ratios]) - value,
                         "arrayminus": value - np.array([x.ci_low for x in ratios])},
            )  # fmt: skip
    fig.update_layout(title="Reflection (error bars: 95% interval over problems)",
                      barmode="group")  # fmt: skip
    return fig


# ---- training runs (the paper's figures) ----------------------------------------------------


def _metric_panels(curves: pd.DataFrame, panels: Sequence[tuple[str, str]], title: str, colour):
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[t for _, t in panels])
    for col, (name, _) in enumerate(panels, start=1):
        rows = curves[curves["name"] == name]
        for run, frame in rows.groupby("run", sort=False):
            frame = frame.sort_values("step")
            fig.add_scatter(
                x=frame["step"], y=frame["value"], name=str(run), legendgroup=str(run),
                showlegend=col == 1, mode="lines", line={"color": colour(str(run))},
                hovertemplate=f"{run} step %{{x}}: {name} = %{{y:.4g}}<extra></extra>",
                row=1, col=col,
            )  # fmt: skip
        if rows.empty:
            fig.add_annotation(text=f"{name} not logged", showarrow=False, row=1, col=col,
                               x=0.5, y=0.5, xref="x domain", yref="y domain")  # fmt: skip
        fig.update_xaxes(title_text=STEP_AXIS, row=1, col=col)
    fig.update_layout(title=title, hovermode="x unified")
    return fig


def figure_1(points: Sequence[tuple[RunInfo, Sequence[CheckpointPoint]]], colour):
    """Validation avg@k (solid) and cons@k (dashed) of each run's checkpoints over steps."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for run, run_points in points:
        for dataset in sorted({p.dataset for p in run_points}):
            rows = sorted((p for p in run_points if p.dataset == dataset), key=lambda p: p.step)
            for attr, metric, dash in (("accuracy", "avg", "solid"), ("cons", "cons", "dash")):
                fig.add_scatter(
                    x=[p.step for p in rows], y=[getattr(p, attr) for p in rows],
                    name=f"{run.label} {metric}@{rows[0].n} ({dataset})", mode="lines+markers",
                    line={"dash": dash, "color": colour(run.label)}, legendgroup=run.label,
                    customdata=[p.label + (" (partial)" if p.partial else "") for p in rows],
                    hovertemplate="%{customdata}: %{y:.3f}<extra></extra>",
                )  # fmt: skip
    fig.update_layout(
        title="Figure 1: validation accuracy over training (solid avg@k, dashed cons@k)",
        xaxis_title=STEP_AXIS, yaxis_title="accuracy", hovermode="x unified",
    )  # fmt: skip
    return fig


def figure_3_lengths(curves: pd.DataFrame, colour):
    panels = [(f"response_length/{s}", f"({'abcde'[i]}) {s} length (tokens)")
              for i, s in enumerate(FIGURE_3_STATS)]  # fmt: skip
    return _metric_panels(curves, panels, "Figure 3(a-e): response length over training", colour)


def figure_3f(fits: Sequence[StageFit], colour):
    """Accuracy against mean response length of each stage's checkpoints, with the stage's
    least-squares line; the legend carries w (per 1k tokens) and R^2."""
    import plotly.graph_objects as go

    fig = go.Figure()
    dashes = ("solid", "dash", "dot", "dashdot", "longdash")
    for i, sf in enumerate(fits):
        x = np.array([p.mean_length_tokens for p in sf.points])
        y = np.array([p.accuracy for p in sf.points])
        f = sf.fit.fit
        name = (f"{sf.run_label} {sf.stage.name} ({sf.dataset}): w = {sf.fit.slope_per_1k:.3g}"
                f" per 1k tokens, R^2 = {f.r_squared:.2f}")  # fmt: skip
        fig.add_scatter(
            x=x, y=y, mode="markers", name=name, legendgroup=name,
            marker={"color": colour(sf.run_label), "symbol": i % 10},
            customdata=[p.label for p in sf.points],
            hovertemplate="%{customdata}: %{x:.0f} tokens, %{y:.3f}<extra></extra>",
        )  # fmt: skip
        if np.isfinite(f.slope):
            line_x = np.array([x.min(), x.max()])
            fig.add_scatter(
                x=line_x, y=f.intercept + f.slope * line_x, mode="lines", showlegend=False,
                legendgroup=name, line={"color": colour(sf.run_label), "dash": dashes[i % 5]},
                hoverinfo="skip",
            )  # fmt: skip
    fig.update_layout(
        title="Figure 3(f): accuracy (avg@k) against mean response length, per stage",
        xaxis_title="mean response length (tokens)", yaxis_title="accuracy (avg@k)",
    )  # fmt: skip
    return fig


def figure_4(curves: pd.DataFrame, colour):
    return _metric_panels(curves, FIGURE_4, "Figure 4: reward and advantages", colour)


def figure_5(curves: pd.DataFrame, colour):
    return _metric_panels(curves, FIGURE_5, "Figure 5: policy drift and optimisation", colour)


def event_study_figure(study: EventStudy, label: str):
    """Mean of each credit column at offsets -K..K from the keyword pivots (solid, with its
    95% band over trajectories) and from random positions of the same trajectories (grey)."""
    from plotly.subplots import make_subplots

    metrics = list(EVENT_TITLES)
    fig = make_subplots(
        rows=1, cols=len(metrics), subplot_titles=[EVENT_TITLES[m] for m in metrics]
    )
    styles = {"pivot": ("#D62728", "keyword pivots"), "random": ("#7F7F7F", "random positions")}
    for col, metric in enumerate(metrics, start=1):
        for kind, (colour, name) in styles.items():
            rows = study.curves[(study.curves["kind"] == kind) & (study.curves["metric"] == metric)]
            x = rows["offset"].to_numpy()
            _band(fig, x, rows["ci_low"].to_numpy(), rows["ci_high"].to_numpy(), colour, name,
                  row=1, col=col)  # fmt: skip
            fig.add_scatter(
                x=x, y=rows["mean"], name=name, legendgroup=name, showlegend=col == 1,
                line={"color": colour}, row=1, col=col,
            )  # fmt: skip
        fig.update_xaxes(title_text="tokens from the pivot", row=1, col=col)
        fig.add_vline(x=0, line={"dash": "dot", "color": "#444", "width": 1}, row=1, col=col)
    m = study.mass
    fig.update_layout(
        title=(f"{label}: credit around {study.n_pivots} reflection pivots in"
               f" {study.n_trajectories} trajectories. |Future-KL| within {m.window} tokens of a"
               f" pivot: {m.mass_share:.1%} of the mass on {m.token_share:.1%} of the tokens"),
        title_font_size=13,
    )  # fmt: skip
    return fig


@dataclass(frozen=True)
class PaperFigures:
    """What `--figures` adds: per run curves and checkpoint evals, per credited eval a study."""

    curves: pd.DataFrame  # run_id, run, step, name, value (TRAIN_FIGURE_METRICS)
    points: tuple[tuple[RunInfo, tuple[CheckpointPoint, ...]], ...]  # per run
    event_studies: tuple[tuple[str, EventStudy], ...]  # (eval label, study), eval order


def collect_paper_figures(store, report: Report, *, window: int, seed: int) -> PaperFigures:
    """Read what the paper figures need (read-only): training curves, checkpoint evals of
    the report's runs, and the event study of every reported eval with stored credit."""
    from fipo_bench.analysis.events import event_study
    from fipo_bench.analysis.run_curves import checkpoint_points, train_curves

    runs = report.run_infos
    studies = tuple(
        (d.scored.label, event_study(store, d.scored.eval_id, window=window, seed=seed))
        for d in report.details
        if store.get_analysis(d.scored.eval_id, "credit")
    )
    return PaperFigures(
        curves=train_curves(store, runs, TRAIN_FIGURE_METRICS),
        points=tuple((run, tuple(checkpoint_points(store, run))) for run in runs),
        event_studies=studies,
    )


def report_figures(report: Report, paper: PaperFigures | None) -> list[tuple[str, object]]:
    """(section title, figure) in page order."""
    colour = report.colour
    out: list[tuple[str, object]] = []
    if not report.evals.empty:
        out += [("Accuracy by length quartile", quartile_bars(report, colour)),
                ("Response length", length_boxes(report, colour))]  # fmt: skip
    if not report.runs.empty:
        out.append(("Training response length", run_lengths(report, colour)))
    if paper is None:
        return out
    if report.details:
        out += [("pass@k curves", pass_at_k_curves(report, colour)),
                ("Reflection", reflection_panel(report, colour))]  # fmt: skip
    if report.run_infos:
        out += [("Figure 1", figure_1(paper.points, colour)),
                ("Figure 3(a-e)", figure_3_lengths(paper.curves, colour))]  # fmt: skip
        if report.stage_fits:
            out.append(("Figure 3(f)", figure_3f(report.stage_fits, colour)))
        out += [("Figure 4", figure_4(paper.curves, colour)),
                ("Figure 5", figure_5(paper.curves, colour))]  # fmt: skip
    for label, study in paper.event_studies:
        if not study.empty:
            out.append((f"Pivot event study: {label}", event_study_figure(study, label)))
    return out
