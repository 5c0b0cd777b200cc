"""Compare: two or more evals side by side; every grid cell opens that problem's trajectories."""

from __future__ import annotations

import streamlit as st

from fipo_dash import source
from fipo_dash.compare_data import (
    eval_label,
    grid_frame,
    metrics_by_eval,
    metrics_table,
    problem_points,
    quartile_table,
)
from fipo_dash.figures import accuracy_vs_length, length_distribution, quartile_accuracy
from fipo_dash.grid import grid_html
from fipo_dash.links import EVALS
from fipo_dash.naming import colours
from fipo_dash.pickers import choose_evals, with_samples

st.title("Compare evals")
source.store()
evals = source.evals()
if evals.empty:
    st.info(f"No evals to compare yet: {source.hint('evals')}.")
    st.stop()

progress = source.progress(evals)
palette = colours(source.runs(), evals)
colour_of = {e: palette.eval(e) for e in evals["eval_id"]}
labels = {r["eval_id"]: eval_label(r) for r in evals.to_dict("records")}
chosen = choose_evals("Evals", labels, progress, key="compare_evals", param=EVALS)
chosen = with_samples(chosen, labels, progress)
if not chosen:
    st.info("Pick one or more evals with stored samples (two or more to compare).")
    st.stop()
if len(chosen) == 1:
    st.caption("One eval selected: add another to compare.")

outcomes = source.outcomes(chosen)
metrics = metrics_by_eval(outcomes, chosen)
st.subheader("Accuracy")
table = metrics_table(metrics, labels)
st.dataframe(table.drop(columns=["eval_id"]), hide_index=True, width="stretch")

left, right = st.columns(2)
with left:
    st.subheader("Response length")
    kind = st.radio(
        "plot", ["box", "violin"], horizontal=True, key="length_kind", label_visibility="collapsed"
    )
    st.plotly_chart(
        length_distribution(outcomes, chosen, labels, colour_of, kind=kind), width="stretch"
    )
with right:
    st.subheader("Accuracy by length quartile")
    st.plotly_chart(quartile_accuracy(quartile_table(metrics, labels), colour_of), width="stretch")

points = problem_points(outcomes)
st.subheader("Accuracy vs length")
st.caption("One point per problem (mean over its samples); dashed: least-squares fit.")
st.plotly_chart(accuracy_vs_length(points, chosen, labels, colour_of), width="stretch")

st.subheader("Per-problem correctness")
st.caption("Correct samples / samples. Click a cell to open that problem's trajectories.")
st.html(grid_html(grid_frame(points, chosen), chosen, labels))
