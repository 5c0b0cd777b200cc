"""Plotly figures of Compare's Lengths tab (data in, figure out; no Streamlit). The pages' main
charts are Vega-Lite (fipo_dash.charts), which the browser draws without loading plotly.js."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

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
