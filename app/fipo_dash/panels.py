"""Render one or more trajectories (tokens + pivots) with a shared legend into the page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import streamlit as st

from fipo_dash import source
from fipo_dash.heatmap import (
    CSS,
    has_values,
    page_scale,
    pivot_legend_html,
    trajectory_html,
    value_counts,
)
from fipo_dash.scales import Scale, legend_html, palette_css

WINDOW_TOKENS = 20_000  # tokens per rendered window: longer samples get a window picker


@dataclass(frozen=True)
class Panel:
    sample_id: int
    title: str
    anchor: str  # element-id prefix, distinct per panel
    missing: str = ""  # shown above the panel when it has no value of the chosen scalar
    colour: str | None = None  # the eval's / run's colour on every page (series_style)
    no_pivots: str = "no pivots stored for this sample"


def _window(tokens: pa.Table, start: int) -> pa.Table:
    return tokens.slice(start, WINDOW_TOKENS)


@st.cache_data(show_spinner=False, max_entries=16)
def _panel_html(data_key, panel: Panel, start: int, scale: Scale, kinds: tuple[str, ...]) -> str:
    """One panel's HTML, cached: a revisit (or a rerun for another widget) skips rebuilding
    the 20,000-token markup; data_key changes when the database does."""
    tokens, pivots = source.trajectory(panel.sample_id)
    rendered = trajectory_html(
        _window(tokens, start), pivots, scale, kinds=kinds, anchor=panel.anchor,
        title=panel.title, colour=panel.colour, no_pivots=panel.no_pivots,
    )  # fmt: skip
    return rendered.html


def show_panels(
    panels: Sequence[Panel],
    scalar: str,
    *,
    key: str,
    kinds: Sequence[str],
    band: tuple[float, float] | None = None,
    per_row: int = 3,
) -> None:
    """Side by side (up to `per_row` a row), colours on one shared scale, legend above."""
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
    scale = page_scale(windows, scalar, band)
    saturated, missing = value_counts(windows, scale)
    st.html(
        CSS.replace("</style>", palette_css(scalar) + "</style>")
        + legend_html(scale, saturated, missing).replace(
            "</div>", pivot_legend_html(kinds) + "</div>", 1
        )
    )
    for first in range(0, len(panels), per_row):
        row = list(zip(panels, windows, strict=True))[first : first + per_row]
        columns = st.columns(len(row)) if len(row) > 1 else [st.container()]
        for column, (panel, tokens) in zip(columns, row, strict=True):
            with column:
                if tokens.num_rows == 0:
                    st.info("No tokens stored for this sample.")
                    continue
                if panel.missing and not has_values(tokens, scalar):
                    st.warning(panel.missing)
                body = _panel_html(source.data_key(), panel, start, scale, tuple(kinds))
                # The panel's <script> inserts the token spans and wires the hover.
                st.html(
                    CSS.replace("</style>", palette_css(scalar) + "</style>") + body,
                    unsafe_allow_javascript=True,
                )
