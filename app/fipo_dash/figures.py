"""Plotly figures of the Compare and Training pages (data in, figure out; no Streamlit)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from fipo_dash.compare_data import fitted_line

COLOURS = qualitative.Plotly


def _colour(i: int) -> str:
    return COLOURS[i % len(COLOURS)]


def length_distribution(
    outcomes: pd.DataFrame, eval_ids: Sequence[str], labels: Mapping[str, str], *, kind: str = "box"
) -> go.Figure:
    """Response length (tokens) per eval as box or violin plots with quartiles marked."""
    fig = go.Figure()
    for i, eval_id in enumerate(eval_ids):
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
                    line_color=_colour(i),
                )
            )
        else:
            fig.add_trace(
                go.Box(
                    y=lengths,
                    name=name,
                    boxmean=True,
                    quartilemethod="linear",
                    marker_color=_colour(i),
                )
            )
    fig.update_layout(
        yaxis_title="response length (tokens)",
        showlegend=False,
        margin=dict(t=30, b=10),
        height=360,
    )
    return fig


def quartile_accuracy(quartiles: pd.DataFrame) -> go.Figure:
    """Grouped bars: accuracy in each response-length quartile (Q1 shortest) per eval."""
    fig = go.Figure()
    for i, (label, rows) in enumerate(quartiles.groupby("eval", sort=False)):
        fig.add_trace(
            go.Bar(
                x=rows["quartile"],
                y=rows["accuracy"],
                name=str(label),
                marker_color=_colour(i),
                customdata=rows[["tokens", "samples"]],
                hovertemplate="%{x}: %{y:.3f}<br>tokens %{customdata[0]}"
                "<br>%{customdata[1]} samples<extra></extra>",
            )
        )
    fig.update_layout(
        barmode="group",
        yaxis_title="accuracy",
        yaxis_range=[0, 1.02],
        xaxis_title="response-length quartile (within each eval)",
        margin=dict(t=30, b=10),
        height=360,
        legend=dict(orientation="h", y=-0.25),
    )
    return fig


def accuracy_vs_length(
    points: pd.DataFrame, eval_ids: Sequence[str], labels: Mapping[str, str]
) -> go.Figure:
    """Per-problem (mean length, accuracy) points per eval with the least-squares line; the
    slope (accuracy per 1,000 tokens) and R^2 are in the legend."""
    fig = go.Figure()
    for i, eval_id in enumerate(eval_ids):
        rows = points[points["eval_id"] == eval_id]
        if rows.empty:
            continue
        label = labels.get(eval_id, eval_id)
        fig.add_trace(
            go.Scatter(
                x=rows["mean_tokens"],
                y=rows["accuracy"],
                mode="markers",
                name=label,
                marker=dict(color=_colour(i), size=8, opacity=0.75),
                customdata=rows[["problem_id"]],
                hovertemplate="%{customdata[0]}: %{y:.2f} at %{x:.0f} tokens<extra></extra>",
            )
        )
        fit = fitted_line(rows["mean_tokens"].to_numpy(), rows["accuracy"].to_numpy())
        if fit is not None:
            xs = np.array([rows["mean_tokens"].min(), rows["mean_tokens"].max()])
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=fit.slope * xs + fit.intercept,
                    mode="lines",
                    line=dict(color=_colour(i), dash="dash"),
                    name=f"slope {fit.slope * 1000:+.3f}/1k tok, R² {fit.r2:.2f}",
                )
            )
    fig.update_layout(
        xaxis_title="mean response length (tokens)",
        yaxis_title="accuracy",
        yaxis_range=[-0.03, 1.03],
        margin=dict(t=30, b=10),
        height=380,
        legend=dict(orientation="h", y=-0.25),
    )
    return fig


def training_curves(
    metrics: pd.DataFrame, names: Sequence[str], run_ids: Sequence[str]
) -> go.Figure:
    """Small multiples, one panel per metric, runs overlaid in one colour each."""
    cols = 2 if len(names) > 1 else 1
    rows = max(1, -(-len(names) // cols))
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=list(names),
        vertical_spacing=min(0.12, 0.6 / rows),
        horizontal_spacing=0.08,
    )
    for r_index, run_id in enumerate(run_ids):
        for m_index, name in enumerate(names):
            rows_ = metrics[(metrics["run_id"] == run_id) & (metrics["name"] == name)]
            if rows_.empty:
                continue
            fig.add_trace(
                go.Scatter(
                    x=rows_["step"],
                    y=rows_["value"],
                    mode="lines+markers",
                    name=run_id,
                    legendgroup=run_id,
                    showlegend=m_index == 0,
                    line=dict(color=_colour(r_index)),
                ),
                row=m_index // cols + 1,
                col=m_index % cols + 1,
            )
    fig.update_layout(
        height=max(300, 240 * rows),
        margin=dict(t=40, b=10),
        legend=dict(orientation="h", y=1.04 + 0.02 * rows),
    )
    return fig
