"""Runs: training runs with their checkpoints, and evals with their status, progress and
headline numbers; selected evals open in Compare (same tab)."""

from __future__ import annotations

import streamlit as st

from fipo_dash import source
from fipo_dash.links import EVALS, PAGES
from fipo_dash.naming import colours, eval_labels
from fipo_dash.tables import eval_table, run_table, with_colours

st.title("Runs")
st.caption(f"database: `{source.db_path()}`")
source.store()  # a missing or non-DuckDB file stops here with its one-line message

runs = source.runs()
evals = source.evals()

st.subheader("Training runs")
if runs.empty:
    st.info(f"No runs yet: {source.hint('train')}.")
else:
    runs_shown = run_table(runs)
    palette = colours(runs, evals)
    run_colours = {r: palette.run(r) for r in runs_shown["run_id"]}
    styled = with_colours(runs_shown, "run", run_colours, "run_id")
    st.dataframe(styled, hide_index=True, width="stretch")

st.subheader("Evals")
if evals.empty:
    st.info(f"No evals yet: {source.hint('evals')}.")
    st.stop()

progress = source.progress(evals)
labels = eval_labels(evals)
table = eval_table(evals, progress, labels, source.problem_counts())
st.caption(
    "avg@n: mean accuracy over a problem's n samples; cons@n: majority vote; pass@n: any of n"
    " correct. A running or interrupted eval shows avg@n over the samples stored so far."
    " Select rows to compare them."
)
palette = colours(runs, evals)
eval_colours = {e: palette.eval(e) for e in table["eval_id"]}
picked = st.dataframe(
    with_colours(table, "eval", eval_colours, "eval_id"),
    hide_index=True,
    width="stretch",
    key="runs_evals",
    on_select="rerun",
    selection_mode="multi-row",
    column_config={
        name: st.column_config.NumberColumn(format="%.3f") for name in ("avg@n", "cons@n", "pass@n")
    }
    | {"mean length (tokens)": st.column_config.NumberColumn(format="%.1f")},
)
for eval_id in table["eval_id"]:
    if progress[eval_id].partial:
        st.caption(f"{labels[eval_id]}: {progress[eval_id].text}.")
rows = picked.selection.rows if picked is not None else []
selected = [table["eval_id"].iloc[i] for i in rows]
with_samples = [e for e in table["eval_id"] if progress[e].stored > 0]
done = [e for e in with_samples if not progress[e].partial]
if selected:
    st.page_link(
        PAGES["compare"],
        label=f"Compare the {len(selected)} selected",
        query_params={EVALS: ",".join(selected)},
    )
    st.page_link(
        PAGES["samples"],
        label=f"Samples of the {len(selected)} selected",
        query_params={EVALS: ",".join(selected)},
    )
elif len(done) >= 2:
    st.page_link(
        PAGES["compare"],
        label=f"Compare all {len(done)} finished evals",
        query_params={EVALS: ",".join(done)},
    )
