"""Trajectory: one problem (its text and gold answer on top) with any number of evals' samples
side by side, token by token, coloured by credit; every choice lives in the URL."""

from __future__ import annotations

import html

import streamlit as st

from fipo_dash import source
from fipo_dash.heatmap import DEFAULT_PIVOT_KINDS, PIVOT_KINDS
from fipo_dash.hints import eval_band, eval_note, pivot_note
from fipo_dash.links import (
    EVAL_A,
    EVAL_B,
    EVALS,
    KINDS,
    PROBLEM,
    SAMPLE_A,
    SAMPLE_B,
    SAMPLES,
    SCALAR,
    join_samples,
    split_ids,
    split_samples,
)
from fipo_dash.naming import colours, eval_labels
from fipo_dash.panels import Panel, show_panels
from fipo_dash.pickers import choose_scalar, evals_with_samples_or_stop, url_index

st.title("Trajectory")
evals = source.evals_or_stop("No trajectories yet")

qp = st.query_params
if EVAL_A in qp and EVALS not in qp:  # a link of the two-panel page: a, b, sa, sb
    qp[EVALS] = ",".join(e for e in (qp.get(EVAL_A), qp.get(EVAL_B)) if e)
    qp[SAMPLES] = join_samples(
        {e: int(i) for e, i in ((qp.get(EVAL_A), qp.get(SAMPLE_A, "0")),
                                (qp.get(EVAL_B), qp.get(SAMPLE_B, "0"))) if e and i.isdigit()}
    )  # fmt: skip
    for old in (EVAL_A, EVAL_B, SAMPLE_A, SAMPLE_B):
        qp.pop(old, None)

progress = source.progress(evals)
palette = colours(source.runs(), evals)
rows = {r["eval_id"]: r for r in evals.to_dict("records")}
labels = eval_labels(evals)
chosen = evals_with_samples_or_stop(
    "Evals, side by side", labels, progress, key="traj_evals", param=EVALS
)

outcomes = source.outcomes(chosen)
first = outcomes[outcomes["eval_id"] == chosen[0]]
problems = list(dict.fromkeys(first["problem_id"]))
dataset = rows[chosen[0]]["dataset"]
texts = source.problem_texts(dataset, problems).set_index("problem_id")


def _problem_label(problem_id: str) -> str:
    if problem_id not in texts.index:
        return problem_id
    text = " ".join(str(texts.loc[problem_id, "problem"]).split())
    return f"{text[:90]}{'…' if len(text) > 90 else ''}  ({problem_id})"


top = st.columns([5, 2, 2])
problem = top[0].selectbox(
    "Problem",
    problems,
    index=url_index(problems, PROBLEM),
    format_func=_problem_label,
    key="traj_problem",
)
scalar = choose_scalar(top[1], key="traj_scalar")
wanted_kinds = [k for k in split_ids(qp.get(KINDS)) if k in PIVOT_KINDS]
kinds = top[2].multiselect(
    "Pivots shown",
    PIVOT_KINDS,
    default=wanted_kinds if KINDS in qp else list(DEFAULT_PIVOT_KINDS),
    key="traj_kinds",
)

if problem in texts.index:
    gold = html.escape(str(texts.loc[problem, "answer"]))
    st.html(
        '<div style="border-left:4px solid #1f77b4;padding:6px 12px;background:#f6f8fa;'
        'font-size:15px;white-space:pre-wrap">'
        f"{html.escape(str(texts.loc[problem, 'problem']))}"
        f'<div style="margin-top:6px"><b>Gold answer:</b> <code>{gold}</code></div></div>'
    )
else:
    st.caption(f"Problem {problem}: its text is not stored (an import without problems).")

analyses = source.analyses()
runs = source.runs()
runs_by_id = {} if runs.empty else {r["run_id"]: r for r in runs.to_dict("records")}
wanted_samples = split_samples(qp.get(SAMPLES))
shown: dict[str, int] = {}
panels: list[Panel] = []
pickers = st.columns(min(len(chosen), 3))
for i, eval_id in enumerate(chosen):
    column = pickers[i % len(pickers)]
    samples = outcomes[(outcomes["eval_id"] == eval_id) & (outcomes["problem_id"] == problem)]
    if samples.empty:
        column.info(f"{labels[eval_id]} has no sample of this problem.")
        continue
    records = samples.to_dict("records")
    by_idx = {int(r["sample_idx"]): r for r in records}
    options = list(by_idx)

    def _describe(idx: int, by_idx=by_idx) -> str:
        r = by_idx[idx]
        mark = "✓" if r["correct"] is True else "✗"
        return f"#{idx} {mark} {int(r['n_tokens'])} tok"

    wanted = wanted_samples.get(eval_id)
    idx = column.radio(
        labels[eval_id],
        options,
        index=options.index(wanted) if wanted in options else 0,
        format_func=_describe,
        horizontal=True,
        key=f"traj_sample_{eval_id}",
    )
    shown[eval_id] = idx
    r = by_idx[idx]
    answer = r["extracted"] if isinstance(r["extracted"], str) else "none"
    verdict = "correct" if r["correct"] is True else "wrong"
    eval_analyses = analyses.get(eval_id, {})
    panels.append(
        Panel(
            sample_id=int(r["sample_id"]),
            title=f"{labels[eval_id]} #{idx} · {verdict} · answer {answer} ·"
            f" {int(r['n_tokens'])} tokens · {r['finish_reason']}",
            anchor=f"t{i}",
            colour=palette.eval(eval_id),
            missing=eval_note(rows[eval_id], eval_analyses, runs_by_id, scalar, source.db_path()),
            no_pivots=pivot_note(eval_analyses, tuple(kinds)),
        )
    )

qp.update({PROBLEM: problem, SCALAR: scalar, KINDS: ",".join(kinds), SAMPLES: join_samples(shown)})
bands = {eval_band(analyses.get(e, {})) for e in shown} - {None}
band = (min(b[0] for b in bands), max(b[1] for b in bands)) if bands else None
if panels:
    show_panels(panels, scalar, key="traj", kinds=kinds, band=band)
