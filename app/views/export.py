"""Export: the quartile report (csv / md / html) of the selected evals, for download."""

from __future__ import annotations

import streamlit as st

from fipo_dash import source
from fipo_dash.compare_data import eval_label, metrics_by_eval, metrics_table, quartile_table
from fipo_dash.export import FORMATS, report_bytes, reports_module
from fipo_dash.links import EVALS, split_ids

st.title("Export")
store = source.store()
evals = source.evals()
if evals.empty:
    st.info(f"Nothing to export yet: {source.hint('evals')}.")
    st.stop()
labels = {r["eval_id"]: eval_label(r) for r in evals.to_dict("records")}
known = list(labels)
wanted = [e for e in split_ids(st.query_params.get(EVALS)) if e in known]
chosen = st.multiselect(
    "Evals", known, default=wanted or known, format_func=labels.get, key="export_evals"
)
st.query_params[EVALS] = ",".join(chosen)
if not chosen:
    st.info("Pick one or more evals.")
    st.stop()

fmt = st.radio("Format", list(FORMATS), horizontal=True, key="export_format")
if reports_module() is not None:
    data = report_bytes(store, chosen, fmt)
    st.download_button(
        f"Download report.{fmt}",
        data,
        file_name=f"fipo_bench_report.{fmt}",
        mime=FORMATS[fmt],
        key="export_download",
    )
else:
    # The analysis layer's report is not installed: offer the same numbers the Compare page
    # shows (computed by fipo_bench.eval.metrics), so the page is still useful.
    st.warning(
        "The quartile report needs fipo_bench.analysis.reports (the `fipo-bench report`"
        " command); until it is installed, download the Compare tables as CSV."
    )
    metrics = metrics_by_eval(source.outcomes(chosen), chosen)
    summary = metrics_table(metrics, labels)
    quartiles = quartile_table(metrics, labels)
    st.download_button(
        "Download metrics.csv",
        summary.to_csv(index=False).encode(),
        file_name="fipo_bench_metrics.csv",
        mime="text/csv",
        key="export_metrics",
    )
    st.download_button(
        "Download length_quartiles.csv",
        quartiles.to_csv(index=False).encode(),
        file_name="fipo_bench_length_quartiles.csv",
        mime="text/csv",
        key="export_quartiles",
    )
    st.dataframe(quartiles, hide_index=True)
