"""Training: per-step curves of one or several runs overlaid (optionally smoothed), the accuracy
of their evaluated checkpoints over steps, and the per-token credit of the rollouts a run logged
at a chosen step. Every choice lives in the URL, so a reload keeps it."""

from __future__ import annotations

import streamlit as st

from fipo_dash import source
from fipo_dash.charts import (
    DEFAULT_TRAINING_METRICS,
    checkpoint_chart,
    has_markers,
    legend_html,
    training_panels,
)
from fipo_dash.heatmap import DEFAULT_PIVOT_KINDS
from fipo_dash.hints import rollout_note, run_band
from fipo_dash.links import RUNS, SCALAR, split_ids
from fipo_dash.naming import colours
from fipo_dash.panels import Panel, show_panels
from fipo_dash.pickers import choose_scalar, url_index
from fipo_dash.status import present

METRICS, SMOOTH, RUN, STEP, ROLLOUT = "metrics", "smooth", "run", "step", "rollout"


def _smoothing(text: str | None) -> float:
    """The URL's smoothing weight, 0 unless it is a number in [0, 0.99]."""
    try:
        value = float(text or 0)
    except ValueError:
        return 0.0
    return value if 0.0 <= value <= 0.99 else 0.0


@st.cache_data(show_spinner=False, max_entries=16)
def _panel_specs(
    data_key,
    run_ids: tuple[str, ...],
    shown: tuple[str, ...],
    labels: dict,
    colours: dict,
    smoothing: float,
) -> list[dict]:
    """The metric panels as Vega-Lite specs, built (and validated) once per selection until the
    database changes: building ten Altair charts costs ~0.5 s that every page load would wait."""
    metrics = source.train_metrics(list(run_ids), list(shown))
    panels = training_panels(metrics, shown, run_ids, labels, colours, smoothing=smoothing)
    return [panel.to_dict() for panel in panels]


st.title("Training")
source.store()
runs = source.runs()
train_runs = [] if runs.empty else list(runs.loc[runs["kind"] == "train", "run_id"])
if not train_runs:
    st.info(f"No training runs yet: {source.hint('train')}.")
    st.stop()

qp = st.query_params
names_of = source.run_labels()
palette = colours(runs, source.evals())
run_colours = {r: palette.run(r) for r in train_runs}
wanted = [r for r in split_ids(qp.get(RUNS)) if r in train_runs]
chosen = st.multiselect(
    "Runs", train_runs, default=wanted or train_runs, format_func=names_of.get, key="train_runs"
)
qp[RUNS] = ",".join(chosen)
if not chosen:
    st.info("Pick one or more runs.")
    st.stop()

names = source.metric_names(chosen)
if not names:
    st.info(f"The selected runs logged no metrics yet: {source.hint('train')}.")
else:
    left, right = st.columns([4, 1])
    asked = [n for n in split_ids(qp.get(METRICS)) if n in names]
    default = asked or [n for n in DEFAULT_TRAINING_METRICS if n in names] or names[:4]
    shown = left.multiselect("Metrics", names, default=default, key="train_metrics")
    smooth = right.slider(
        "Smoothing (EMA)", 0.0, 0.99, _smoothing(qp.get(SMOOTH)),
        step=0.01, key="train_smooth",
        help="TensorBoard's exponential moving average; the raw values stay faint beneath.",
    )  # fmt: skip
    qp[METRICS] = ",".join(shown)
    qp[SMOOTH] = f"{smooth:g}"
    if shown:
        panels = _panel_specs(
            source.data_key(), tuple(chosen), tuple(shown), dict(names_of), run_colours, smooth
        )
        labels = [names_of.get(r, r) for r in chosen]
        markers = all(has_markers(panel) for panel in panels)
        st.html(legend_html(labels, [run_colours[r] for r in chosen], markers=markers))
        per_row = 2 if len(panels) > 1 else 1
        for first in range(0, len(panels), per_row):  # row by row: a row's panels line up
            row = panels[first : first + per_row]
            # A last odd panel keeps half the width, as the ones above it.
            for column, panel in zip(st.columns(per_row)[: len(row)], row, strict=True):
                column.vega_lite_chart(panel, width="stretch")

curves = [(run, points) for run, points in source.checkpoint_curves(chosen) if points]
if curves:
    st.subheader("Accuracy of evaluated checkpoints")
    st.caption(
        "avg@k (solid) and cons@k (dashed) of every eval of the runs' checkpoints, validation"
        " evals included: the report's Figure 1."
    )
    by_label = {run.label: run.run_id for run, _ in curves}
    chart = checkpoint_chart(curves, lambda label: run_colours[by_label[label]])
    st.altair_chart(chart, width="stretch")

st.subheader("Per-token credit of logged rollouts")
cols = st.columns([3, 1, 4, 2])
run_id = cols[0].selectbox(
    "Run",
    chosen,
    index=url_index(chosen, RUN),
    format_func=names_of.get,
    key="train_rollout_run",
)
steps = source.rollout_steps(run_id)
if steps.empty:
    st.info(f"Run {names_of[run_id]} logged no rollouts: the trainer stores a few per step.")
    st.stop()
step_options = [int(s) for s in steps["step"]]
step = cols[1].selectbox(
    "Step",
    step_options,
    index=url_index(step_options, STEP, len(step_options) - 1),
    key=f"train_rollout_step_{run_id}",
)
samples = source.step_outcomes(run_id, step)
by_id = {int(r["sample_id"]): r for r in samples.to_dict("records")}


def _describe(sample_id: int) -> str:
    row = by_id[sample_id]
    reward = f"{row['reward']:+.2f}" if present(row["reward"]) else "-"
    advantage = f"{row['advantage']:+.2f}" if present(row["advantage"]) else "-"
    return (
        f"{row['problem_id']} #{int(row['sample_idx'])} · reward {reward} · adv {advantage} ·"
        f" {int(row['n_tokens'])} tok"
    )


options = list(by_id)
# The options are sample ids and the key names the run and step: a new run or step is a new
# widget, so the box never keeps the label of the previous run's rollout.
pick = cols[2].selectbox(
    "Rollout",
    options,
    index=url_index(options, ROLLOUT),
    format_func=_describe,
    key=f"train_rollout_sample_{run_id}_{step}",
)
scalar = choose_scalar(cols[3], key="train_scalar")
qp.update({RUN: run_id, STEP: str(step), ROLLOUT: str(pick), SCALAR: scalar})
run_row = runs.set_index("run_id").loc[run_id].to_dict()
show_panels(
    [
        Panel(
            pick,
            f"{names_of[run_id]} step {step}: {_describe(pick)}",
            "r",
            missing=rollout_note(names_of[run_id], scalar),
            colour=run_colours[run_id],
            no_pivots="pivots are found for evals by `fipo-bench credit`, not for rollouts",
        )
    ],
    scalar,
    key="train",
    kinds=DEFAULT_PIVOT_KINDS,
    band=run_band(run_row),
)
