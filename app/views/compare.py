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
from fipo_dash.links import EVALS, split_ids

st.title("Compare evals")
source.store()
evals = source.evals()
if evals.empty:
    st.info(f"No evals to compare yet: {source.hint('evals')}.")
    st.stop()

labels = {r["eval_id"]: eval_label(r) for r in evals.to_dict("records")}
known = list(labels)
wanted = [e for e in split_ids(st.query_params.get(EVALS)) if e in known]
default = wanted or known[-2:]
chosen = st.multiselect(
    "Evals", known, default=default, format_func=lambda e: labels[e], key="compare_evals"
)
st.query_params[EVALS] = ",".join(chosen)
if not chosen:
    st.info("Pick one or more evals (two or more to compare).")
    st.stop()
if len(chosen) == 1:
    st.caption("One eval selected: add another to compare.")

outcomes = source.outcomes(chosen)
if outcomes.empty:
    st.info(f"The selected evals have no stored samples yet: {source.hint('evals')}.")
    st.stop()

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
    st.plotly_chart(length_distribution(outcomes, chosen, labels, kind=kind), width="stretch")
with right:
    st.subheader("Accuracy by length quartile")
    st.plotly_chart(quartile_accuracy(quartile_table(metrics, labels)), width="stretch")

points = problem_points(outcomes)
st.subheader("Accuracy vs length")
st.caption("One point per problem (mean over its samples); dashed: least-squares fit.")
st.plotly_chart(accuracy_vs_length(points, chosen, labels), width="stretch")

st.subheader("Per-problem correctness")
st.caption("Correct samples / samples. Click a cell to open that problem's trajectories.")
st.html(grid_html(grid_frame(points, chosen), chosen, labels))
