"""Runs: training runs with their checkpoints, and evals with their settings and headline
metrics; each eval links to Compare."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from fipo_dash import source
from fipo_dash.compare_data import eval_label
from fipo_dash.links import compare_url

st.title("Runs")
st.caption(f"database: `{source.db_path()}`")
source.store()  # a missing or non-DuckDB file stops here with its one-line message

runs = source.runs()
evals = source.evals()

st.subheader("Training runs")
if runs.empty:
    st.info(f"No runs yet: {source.hint('train')}.")
else:
    shown = runs[
        [
            "run_id",
            "kind",
            "name",
            "algo",
            "preset",
            "n_checkpoints",
            "last_ckpt_step",
            "last_metric_step",
            "model_path",
            "created_at",
        ]
    ]
    st.dataframe(shown, hide_index=True, width="stretch")

st.subheader("Evals")
if evals.empty:
    st.info(f"No evals yet: {source.hint('evals')}.")
    st.stop()


def _headline(metrics_json: str | None) -> dict[str, float]:
    """avg@k, cons@k, pass@1 and mean length from the eval's stored metrics (done evals)."""
    if not metrics_json:
        return {}
    metrics = json.loads(metrics_json)
    keys = [k for k in metrics if k.startswith(("avg@", "cons@"))] + ["pass@1"]
    out = {k: metrics[k] for k in keys if k in metrics}
    if "response_length/mean" in metrics:
        out["mean length"] = metrics["response_length/mean"]
    return out


rows = []
for row in evals.to_dict("records"):
    rows.append(
        {
            "compare": compare_url([row["eval_id"]]),
            "eval": eval_label(row),
            "status": row["status"],
            "dataset": row["dataset"],
            "n": row["n"],
            "samples": row["n_samples"],
            "accuracy": row["accuracy"],
            **_headline(row.get("metrics")),
            "temperature": row["temperature"],
            "top_p": row["top_p"],
            "max_tokens": row["max_tokens"],
            "engine": row["engine"],
            "eval_id": row["eval_id"],
        }
    )
table = pd.DataFrame(rows)
st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    column_config={
        "compare": st.column_config.LinkColumn("open", display_text="compare"),
        "accuracy": st.column_config.NumberColumn(format="%.3f"),
    },
)
done = [r["eval_id"] for r in evals.to_dict("records") if r["status"] == "done"]
if len(done) >= 2:
    st.markdown(f"[Compare all {len(done)} finished evals]({compare_url(done)})")
