"""Samples: every sample of the chosen evals in one sortable table (problem, outcome, answer,
gold, length, reflections), with filters for where evals disagree; a selected row opens its
problem in Trajectory with every chosen eval side by side."""

from __future__ import annotations

import streamlit as st

from fipo_dash import source
from fipo_dash.links import EVALS, PAGES, PROBLEM, SAMPLES, join_samples
from fipo_dash.naming import eval_labels
from fipo_dash.pickers import evals_with_samples_or_stop
from fipo_dash.samples_table import (
    A_OVER_B,
    ALL,
    DIFFERS,
    display_table,
    evals_of,
    filter_rows,
)

st.title("Samples")
evals = source.evals_or_stop("No samples yet")

progress = source.progress(evals)
labels = eval_labels(evals)
chosen = evals_with_samples_or_stop("Evals", labels, progress, key="samples_evals", param=EVALS)

rows = source.sample_rows(chosen)
modes = [ALL, DIFFERS] + ([A_OVER_B] if len(chosen) >= 2 else [])
cols = st.columns([3, 2, 2, 2, 2])
mode = cols[0].radio(
    "Show",
    modes,
    format_func=lambda m: "correct more often in A than in B" if m == A_OVER_B else m,
    key="samples_mode",
)
a = b = None
if mode == A_OVER_B:
    a = cols[1].selectbox("A", chosen, format_func=labels.get, key="samples_a")
    b = cols[2].selectbox(
        "B", [e for e in chosen if e != a], format_func=labels.get, key="samples_b"
    )
outcome = cols[3].radio("Outcome", ["all", "correct", "wrong"], key="samples_outcome")
reflective = cols[4].checkbox("Reflective only", key="samples_reflective")
kept = filter_rows(rows, mode=mode, a=a, b=b, outcome=outcome, reflective_only=reflective)
table = display_table(kept, labels)
st.caption(
    f"{len(table):,} samples of {table['problem_id'].nunique():,} problems"
    f" (of {len(rows):,} samples). Click a column header to sort; select a row to open it."
)
picked = st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    key="samples_table",
    on_select="rerun",
    selection_mode="single-row",
    column_order=[c for c in table.columns if c != "eval_id"],
    column_config={
        "problem": st.column_config.TextColumn(width="large"),
        "correct": st.column_config.CheckboxColumn(),
        "tokens": st.column_config.NumberColumn(help="response length in tokens"),
        "reflections": st.column_config.NumberColumn(
            help="reflection phrases in the response (the project's one lexicon)"
        ),
    },
)
if picked is not None and picked.selection.rows:
    row = table.iloc[picked.selection.rows[0]]
    order = [row["eval_id"], *(e for e in evals_of(rows, row["problem_id"], chosen)
                               if e != row["eval_id"])]  # fmt: skip
    st.page_link(
        PAGES["trajectory"],
        label=f"Open {row['problem_id']} in Trajectory ({len(order)} evals side by side)",
        query_params={
            EVALS: ",".join(order),
            PROBLEM: row["problem_id"],
            SAMPLES: join_samples({row["eval_id"]: int(row["sample"])}),
        },
    )
