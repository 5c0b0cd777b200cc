"""Training: per-step curves of one or several runs overlaid, and the per-token credit of the
rollouts a run logged at a chosen step."""

from __future__ import annotations

import streamlit as st

from fipo_dash import source
from fipo_dash.figures import training_curves
from fipo_dash.heatmap import SCALARS
from fipo_dash.links import RUNS, SCALAR, split_ids
from fipo_dash.panels import Panel, show_panels

# The curves a researcher looks at first (DESIGN.md, "Metrics"), when the runs logged them.
DEFAULT_METRICS = (
    "reward/mean",
    "acc/mean",
    "response_length/mean",
    "response_length/q25",
    "response_length/q75",
    "entropy",
    "policy_kl",
    "clip_ratio/high",
    "influence_weight/mean",
    "grad_norm",
    "num_gen_batches",
)

st.title("Training")
source.store()
runs = source.runs()
train_runs = [] if runs.empty else list(runs.loc[runs["kind"] == "train", "run_id"])
if not train_runs:
    st.info(f"No training runs yet: {source.hint('train')}.")
    st.stop()

wanted = [r for r in split_ids(st.query_params.get(RUNS)) if r in train_runs]
chosen = st.multiselect("Runs", train_runs, default=wanted or train_runs, key="train_runs")
st.query_params[RUNS] = ",".join(chosen)
if not chosen:
    st.info("Pick one or more runs.")
    st.stop()

names = source.metric_names(chosen)
if not names:
    st.info(f"The selected runs logged no metrics yet: {source.hint('train')}.")
else:
    default = [n for n in DEFAULT_METRICS if n in names] or names[:4]
    shown = st.multiselect("Metrics", names, default=default, key="train_metrics")
    if shown:
        metrics = source.train_metrics(chosen, shown)
        st.plotly_chart(training_curves(metrics, shown, chosen), width="stretch")

st.subheader("Per-token credit of logged rollouts")
cols = st.columns([3, 2, 3, 2])
run_id = cols[0].selectbox("Run", chosen, key="train_rollout_run")
steps = source.rollout_steps(run_id)
if steps.empty:
    st.info(
        f"Run {run_id} logged no rollouts: the trainer stores a few per step with their credit."
    )
    st.stop()
step = cols[1].selectbox(
    "Step", [int(s) for s in steps["step"]], index=len(steps) - 1, key="train_rollout_step"
)
samples = source.step_outcomes(run_id, step)
options = list(range(len(samples)))


def _describe(i: int) -> str:
    row = samples.iloc[i]
    return (
        f"{row['problem_id']} #{int(row['sample_idx'])} · reward {row['reward']:+.2f} · "
        f"adv {row['advantage']:+.2f} · {int(row['n_tokens'])} tok"
    )


pick = cols[2].selectbox("Rollout", options, format_func=_describe, key="train_rollout_sample")
scalars = list(SCALARS)
qp_scalar = st.query_params.get(SCALAR)
scalar = cols[3].selectbox(
    "Colour by",
    scalars,
    index=scalars.index(qp_scalar) if qp_scalar in scalars else 0,
    key="train_scalar",
)
row = samples.iloc[pick]
show_panels(
    [Panel(int(row["sample_id"]), f"{run_id} step {step}: {_describe(pick)}", "r")],
    scalar,
    key="train",
)
