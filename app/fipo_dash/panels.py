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


@st.cache_data(show_spinner=False, max_entries=16)
def _panel_html(
    data_key, sample_id: int, start: int, scalar: str, span: float, anchor: str, title: str
) -> str:
    """One panel's HTML, cached: a revisit (or a rerun for another widget) skips rebuilding
    the 20,000-token markup; data_key changes when the database does."""
    tokens, pivots = source.trajectory(sample_id)
    rendered = trajectory_html(
        _window(tokens, start), pivots, scalar, anchor=anchor, span=span, title=title
    )
    return rendered.html


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
    windows = [_window(tokens, start) for tokens, _ in loaded]
    if not any(has_values(t, scalar) for t in windows):
        st.info(f"No {scalar} values stored for these tokens: {source.hint('credit')}.")
    span = shared_span(windows, scalar)
    st.html(CSS + legend_html(scalar, span))
    columns = st.columns(len(panels)) if len(panels) > 1 else [st.container()]
    for column, panel, tokens in zip(columns, panels, windows, strict=True):
        with column:
            if tokens.num_rows == 0:
                st.info("No tokens stored for this sample.")
                continue
            body = _panel_html(
                source.data_key(), panel.sample_id, start, scalar, span, panel.anchor, panel.title
            )
            # The panel's <script> inserts the token spans and wires the hover (heatmap_js.py).
            st.html(CSS + body, unsafe_allow_javascript=True)
