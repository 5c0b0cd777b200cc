"""Trajectory: one problem's samples from one or two evals, token by token, coloured by credit."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from fipo_dash import source
from fipo_dash.compare_data import eval_label
from fipo_dash.heatmap import SCALARS
from fipo_dash.links import EVAL_A, EVAL_B, PROBLEM, SAMPLE_A, SAMPLE_B, SCALAR
from fipo_dash.panels import Panel, show_panels
from fipo_dash.pickers import default_evals, option_label

st.title("Trajectory")
source.store()
evals = source.evals()
if evals.empty:
    st.info(f"No trajectories yet: {source.hint('evals')}.")
    st.stop()

qp = st.query_params
progress = source.progress(evals)
labels = {r["eval_id"]: eval_label(r) for r in evals.to_dict("records")}
known = list(labels)
newest = (default_evals(progress, 1) or known[-1:])[0]
NONE = ""


def _index(options: list, value, fallback: int = 0) -> int:
    return options.index(value) if value in options else fallback


top = st.columns([3, 3, 2, 2])
eval_a = top[0].selectbox(
    "Eval (left)",
    known,
    index=_index(known, qp.get(EVAL_A), known.index(newest)),
    format_func=lambda e: option_label(e, labels, progress),
    key="traj_a",
)
b_options = [NONE, *[e for e in known if e != eval_a]]
eval_b = top[1].selectbox(
    "Eval (right, same problem)",
    b_options,
    index=_index(b_options, qp.get(EVAL_B)),
    format_func=lambda e: option_label(e, labels, progress) if e else "(none)",
    key="traj_b",
)
outcomes_a = source.outcomes([eval_a])
if outcomes_a.empty:
    st.info(f"Eval {labels[eval_a]} has no stored samples yet ({progress[eval_a].text}).")
    st.stop()
problems = list(dict.fromkeys(outcomes_a["problem_id"]))
problem = top[2].selectbox(
    "Problem", problems, index=_index(problems, qp.get(PROBLEM)), key="traj_problem"
)
scalars = list(SCALARS)
scalar = top[3].selectbox(
    "Colour by", scalars, index=_index(scalars, qp.get(SCALAR)), key="traj_scalar"
)


def _pick(eval_id: str, param: str, column) -> tuple[int, str] | None:
    """(sample_id, title) of the chosen sample of `problem` in `eval_id`."""
    rows = source.outcomes([eval_id], problem)
    if rows.empty:
        column.info(f"{labels[eval_id]} has no samples of problem {problem}.")
        return None
    indices = [int(i) for i in rows["sample_idx"]]
    wanted = int(qp.get(param, 0)) if str(qp.get(param, "0")).isdigit() else 0
    idx = column.selectbox(
        f"Sample of {labels[eval_id]}", indices, index=_index(indices, wanted), key=f"traj_{param}"
    )
    row = rows[rows["sample_idx"] == idx].iloc[0]
    mark = "correct" if pd.notna(row["correct"]) and bool(row["correct"]) else "wrong"
    answer = row["extracted"] if isinstance(row["extracted"], str) else "none"
    title = (
        f"{labels[eval_id]} · {problem} #{idx} · {mark} · answer {answer} · "
        f"{int(row['n_tokens'])} tokens · {row['finish_reason']}"
    )
    return int(row["sample_id"]), title


pick_cols = st.columns(2)
chosen = [("a", _pick(eval_a, SAMPLE_A, pick_cols[0]))]
if eval_b:
    chosen.append(("b", _pick(eval_b, SAMPLE_B, pick_cols[1])))
st.query_params.update(
    {
        EVAL_A: eval_a,
        EVAL_B: eval_b,
        PROBLEM: problem,
        SCALAR: scalar,
        SAMPLE_A: str(st.session_state.get(f"traj_{SAMPLE_A}", 0)),
        SAMPLE_B: str(st.session_state.get(f"traj_{SAMPLE_B}", 0)),
    }
)
panels = [Panel(sid, title, anchor) for anchor, pick in chosen if pick for sid, title in [pick]]
if panels:
    show_panels(panels, scalar, key="traj")
