"""Render one or more trajectories (tokens + pivots) with a shared legend into the page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import streamlit as st

from fipo_dash import source
from fipo_dash.heatmap import CSS, has_values, legend_html, shared_span, trajectory_html

WINDOW_TOKENS = 20_000  # tokens per rendered window: longer samples get a window picker


@dataclass(frozen=True)
class Panel:
    sample_id: int
    title: str
    anchor: str  # element-id prefix, distinct per panel


def _window(tokens: pa.Table, start: int) -> pa.Table:
    return tokens.slice(start, WINDOW_TOKENS)


def show_panels(panels: Sequence[Panel], scalar: str, *, key: str) -> None:
    """Side by side (one column per panel), colours on one shared scale, legend above."""
    loaded = [source.trajectory(p.sample_id) for p in panels]
    longest = max((t.num_rows for t, _ in loaded), default=0)
    start = 0
    if longest > WINDOW_TOKENS:
        start = st.number_input(
            f"first token shown (window of {WINDOW_TOKENS:,})",
            0,
            longest - 1,
            0,
            step=WINDOW_TOKENS,
            key=f"{key}_start",
        )
    windows = [(_window(tokens, start), pivots) for tokens, pivots in loaded]
    if not any(has_values(t, scalar) for t, _ in windows):
        st.info(f"No {scalar} values stored for these tokens: {source.hint('credit')}.")
    span = shared_span([t for t, _ in windows], scalar)
    st.html(CSS + legend_html(scalar, span))
    columns = st.columns(len(panels)) if len(panels) > 1 else [st.container()]
    for column, panel, (tokens, pivots) in zip(columns, panels, windows, strict=True):
        with column:
            if tokens.num_rows == 0:
                st.info("No tokens stored for this sample.")
                continue
            rendered = trajectory_html(
                tokens, pivots, scalar, anchor=panel.anchor, span=span, title=panel.title
            )
            st.html(CSS + rendered.html)
