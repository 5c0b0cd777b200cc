"""Export: the report of the selected evals and training runs (md / csv / html), previewed here
and downloadable: the same file `fipo-bench report` writes for that selection."""

from __future__ import annotations

import io

import pandas as pd
import streamlit as st
import streamlit.components.v1 as components

from fipo_bench.errors import FipoBenchError
from fipo_dash import source
from fipo_dash.export import FORMATS, report_text
from fipo_dash.links import EVALS, RUNS, split_ids
from fipo_dash.naming import eval_labels
from fipo_dash.pickers import choose_evals, with_samples

st.title("Export")
store = source.store()
evals = source.evals()
runs = source.runs()
train_runs = [] if runs.empty else list(runs.loc[runs["kind"] == "train", "run_id"])
if evals.empty and not train_runs:
    st.info(f"Nothing to export yet: {source.hint('evals')}.")
    st.stop()

progress = source.progress(evals)
labels = eval_labels(evals)
left, right = st.columns(2)
with left:
    chosen = choose_evals("Evals", labels, progress, key="export_evals", param=EVALS, count=None)
with right:
    wanted = [r for r in split_ids(st.query_params.get(RUNS)) if r in train_runs]
    chosen_runs = st.multiselect(
        "Training runs", train_runs, default=wanted or train_runs, key="export_runs"
    )
    st.query_params[RUNS] = ",".join(chosen_runs)
eval_ids = with_samples(chosen, labels, progress)
if not eval_ids and not chosen_runs:
    st.info("Pick one or more evals with samples, or training runs.")
    st.stop()

fmt = st.radio("Format", list(FORMATS), horizontal=True, key="export_format")
command = " ".join(
    ["fipo-bench report", *(f"--eval {e}" for e in eval_ids), *(f"--run {r}" for r in chosen_runs),
     f"--format {fmt}", f"--out report.{fmt}", f"--db {source.db_path()}"]
)  # fmt: skip


@st.cache_data(show_spinner="Building the report...", max_entries=16)
def _report(data_key, eval_ids: tuple[str, ...], run_ids: tuple[str, ...], fmt: str) -> str:
    return report_text(store, eval_ids, run_ids, fmt)


try:
    text = _report(source.data_key(), tuple(eval_ids), tuple(chosen_runs), fmt)
except FipoBenchError as exc:
    st.error(f"The report cannot be built: {exc}")
    st.stop()

st.download_button(
    f"Download report.{fmt}",
    text.encode("utf-8"),
    file_name=f"fipo_bench_report.{fmt}",
    mime=FORMATS[fmt],
    key="export_download",
)
# Inline code, not st.code: its highlighter is a 1.5 MB script the browser would parse before
# it draws the page's elements (0.4 s here).
st.markdown(f"The same file from the command line: `{command}`")
st.subheader("Preview")
if fmt == "md":
    st.markdown(text)
elif fmt == "csv":
    st.dataframe(pd.read_csv(io.StringIO(text)), hide_index=True, width="stretch")
elif st.toggle("Show the HTML report here (it carries its own plotly.js)", key="export_html"):
    components.html(text, height=900, scrolling=True)
