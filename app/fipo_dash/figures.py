"""Plotly figures of the Compare and Training pages (data in, figure out; no Streamlit)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from fipo_bench.analysis.length_accuracy import LengthFit

GREY = "#636363"  # a series without a colour of its own


def length_distribution(
    outcomes: pd.DataFrame,
    eval_ids: Sequence[str],
    labels: Mapping[str, str],
    colours: Mapping[str, str],
    *,
    kind: str = "box",
) -> go.Figure:
    """Response length (tokens) per eval as box or violin plots with quartiles marked."""
    fig = go.Figure()
    for eval_id in eval_ids:
        lengths = outcomes.loc[outcomes["eval_id"] == eval_id, "n_tokens"]
        name = labels.get(eval_id, eval_id)
        if kind == "violin":
            fig.add_trace(
                go.Violin(
                    y=lengths,
                    name=name,
                    box_visible=True,
                    meanline_visible=True,
                    quartilemethod="linear",
                    line_color=colours.get(eval_id, GREY),
                )
            )
        else:
            fig.add_trace(
                go.Box(
                    y=lengths,
                    name=name,
                    boxmean=True,
                    quartilemethod="linear",
                    marker_color=colours.get(eval_id, GREY),
                )
            )
    fig.update_layout(
        yaxis_title="response length (tokens)",
        showlegend=False,
        margin=dict(t=30, b=10),
        height=380,
    )
    fig.update_xaxes(automargin=True, tickangle=0)  # long eval names wrap, never clipped
    return fig


def accuracy_vs_length(
    points: pd.DataFrame,
    eval_ids: Sequence[str],
    labels: Mapping[str, str],
    colours: Mapping[str, str],
    fits: Mapping[str, LengthFit],
) -> go.Figure:
    """Per-problem (mean length, accuracy) points per eval with its per-problem least-squares
    line (analysis.length_accuracy); the legend names the fit with its unit, basis, interval
    and R^2."""
    fig = go.Figure()
    for eval_id in eval_ids:
        rows = points[points["eval_id"] == eval_id]
        if rows.empty:
            continue
        colour = colours.get(eval_id, GREY)
        fig.add_trace(
            go.Scatter(
                x=rows["mean_tokens"], y=rows["accuracy"], mode="markers",
                name=labels.get(eval_id, eval_id),
                marker=dict(color=colour, size=8, opacity=0.75),
                customdata=rows[["problem_id"]],
                hovertemplate="%{customdata[0]}: %{y:.2f} at %{x:.0f} tokens<extra></extra>",
            )
        )  # fmt: skip
        fit = fits.get(eval_id)
        if fit is None or not np.isfinite(fit.fit.slope):
            continue
        xs = np.array([rows["mean_tokens"].min(), rows["mean_tokens"].max()])
        interval = (
            f" [{fit.slope_ci_low:+.3f}, {fit.slope_ci_high:+.3f}]"
            if np.isfinite(fit.slope_ci_low)
            else ""
        )
        fig.add_trace(
            go.Scatter(
                x=xs, y=fit.fit.intercept + fit.fit.slope * xs, mode="lines",
                line=dict(color=colour, dash="dash"),
                name=f"{fit.name}: {fit.slope_per_1k:+.3f}{interval}, R² {fit.fit.r_squared:.2f}",
            )
        )  # fmt: skip
    fig.update_layout(
        xaxis_title="mean response length of the problem (tokens)",
        yaxis_title="accuracy on the problem",
        yaxis_range=[-0.03, 1.03],
        margin=dict(t=30, b=10),
        height=400,
        legend=dict(orientation="h", y=-0.3),
    )
    return fig


def ema(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's smoothing: an exponential moving average, debiased so the first points
    are not pulled towards 0 (weight 0 = the raw values)."""
    if weight <= 0 or values.size == 0:
        return values.astype(float)
    out = np.empty(values.size)
    last, norm = 0.0, 0.0
    for i, v in enumerate(values.astype(float)):
        last = weight * last + (1 - weight) * v
        norm = weight * norm + (1 - weight)
        out[i] = last / norm
    return out


def flat_note(values: np.ndarray) -> str:
    """' (constant 0)' / ' (nearly constant: 0.999-1)' for a panel that carries almost no
    information, else ''."""
    finite = values[np.isfinite(values)]
    if finite.size < 2:
        return ""
    low, high = float(finite.min()), float(finite.max())
    if high == low:
        return f" (constant {low:.4g})"
    if (high - low) <= 1e-3 * max(abs(low), abs(high)):
        return f" (nearly constant: {low:.6g} to {high:.6g})"
    return ""


def training_curves(
    metrics: pd.DataFrame,
    names: Sequence[str],
    run_ids: Sequence[str],
    labels: Mapping[str, str],
    colours: Mapping[str, str],
    *,
    smoothing: float = 0.0,
) -> go.Figure:
    """Small multiples, one panel per metric (x: training step), runs overlaid in their own
    colour; hover shows every run's value at a step with full run and metric names. With
    smoothing > 0 the raw values stay as faint lines under the smoothed ones."""
    cols = 2 if len(names) > 1 else 1
    rows = max(1, -(-len(names) // cols))
    titles = []
    for name in names:
        values = metrics.loc[metrics["name"] == name, "value"].to_numpy(dtype=float)
        titles.append(name + flat_note(values))
    fig = make_subplots(
        rows=rows, cols=cols, subplot_titles=titles, vertical_spacing=min(0.12, 0.5 / rows),
        horizontal_spacing=0.08,
    )  # fmt: skip
    symbols = ("circle", "square", "diamond", "triangle-up", "x", "star")
    for r_index, run_id in enumerate(run_ids):
        label = labels.get(run_id, run_id)
        colour = colours.get(run_id, GREY)
        for m_index, name in enumerate(names):
            rows_ = metrics[(metrics["run_id"] == run_id) & (metrics["name"] == name)]
            if rows_.empty:
                continue
            where = dict(row=m_index // cols + 1, col=m_index % cols + 1)
            values = rows_["value"].to_numpy(dtype=float)
            hover = f"{label}<br>{name}: %{{y:.4~g}}<extra></extra>"
            if smoothing > 0:
                fig.add_trace(
                    go.Scatter(
                        x=rows_["step"], y=values, mode="lines", line=dict(color=colour, width=1),
                        opacity=0.3, legendgroup=run_id, showlegend=False, hoverinfo="skip",
                    ),
                    **where,
                )  # fmt: skip
            fig.add_trace(
                go.Scatter(
                    x=rows_["step"], y=ema(values, smoothing), mode="lines+markers",
                    name=label, legendgroup=run_id, showlegend=m_index == 0,
                    line=dict(color=colour, width=2),
                    marker=dict(symbol=symbols[r_index % len(symbols)], size=6),
                    opacity=0.85, hovertemplate=hover,
                ),
                **where,
            )  # fmt: skip
    last_step = float(metrics["step"].max()) if not metrics.empty else 1.0
    # Whole steps only: a 2-step run would otherwise tick at 1.2, 1.4, ...
    fig.update_xaxes(title_text="step", title_standoff=4, dtick=max(1, math.ceil(last_step / 8)))
    # Plain numbers: SI prefixes would print a KL of 2e-4 as "200μ".
    fig.update_yaxes(tickformat=".3~g")
    fig.update_layout(
        height=max(320, 260 * rows) + 40,
        margin=dict(t=100, b=10),
        hovermode="x unified",
        # Above the first row's titles, inside the figure (no blank band between them).
        legend=dict(orientation="h", x=0, y=1, yref="container", yanchor="top"),
    )
    return fig
