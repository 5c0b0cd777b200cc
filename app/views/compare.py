"""Compare: evals side by side with the analysis layer's statistics (standard errors, every eval
against a baseline with 95% intervals and p-values, pass@k curves, the one length/accuracy
slope, reflection and the pivot event study) and a per-problem grid whose every cell opens that
problem in Trajectory."""

from __future__ import annotations

import streamlit as st

from fipo_dash import source
from fipo_dash.charts import pass_at_k_chart
from fipo_dash.compare_charts import (
    accuracy_length_chart,
    event_study_chart,
    fit_label,
    length_chart,
    quartile_chart,
    reflection_chart,
)
from fipo_dash.compare_data import (
    GRID_ORDERS,
    difference_table,
    eval_table,
    grid_frame,
    problem_points,
    reflection_table,
)
from fipo_dash.grid import grid_html
from fipo_dash.hints import credit_command
from fipo_dash.links import EVALS
from fipo_dash.naming import colours, eval_labels
from fipo_dash.pickers import evals_with_samples_or_stop, url_index

BASELINE = "baseline"

st.title("Compare evals")
evals = source.evals_or_stop("No evals to compare yet")

progress = source.progress(evals)
palette = colours(source.runs(), evals)  # the report's figures take them by label
labels = eval_labels(evals)
top = st.columns([4, 2])
chosen = evals_with_samples_or_stop(
    "Evals", labels, progress, key="compare_evals", param=EVALS, container=top[0]
)
baseline = top[1].selectbox(
    "Baseline (the others are compared with it)",
    chosen,
    index=url_index(chosen, BASELINE),
    format_func=labels.get,
    key="compare_baseline",
)
st.query_params[BASELINE] = baseline
ordered = [baseline, *(e for e in chosen if e != baseline)]

report = source.report(ordered)
by_label = report.eval_ids


def colour(label: str) -> str:
    """The eval's series colour, by the report's label of it (its figures take labels)."""
    return palette.eval(by_label.get(label, label))


for note in report.notes:
    st.caption(f":orange[{note}]")

SECTIONS = ("Statistics", "Lengths", "Reflection and credit", "Per problem")
# Lazy tabs: only the open one is computed and drawn (each figure costs the browser time); the
# open tab is the URL's `section`.
tabs = st.tabs(SECTIONS, key="section", on_change="rerun", bind="query-params")

if tabs[0].open:
    with tabs[0]:
        st.caption(
            "avg@n: mean accuracy over the n samples of a problem, averaged over problems (SE:"
            " its standard error over problems); cons@n: majority vote; pass@n: unbiased"
            " estimator. w: least-squares slope of correctness on response length, per 1k"
            " tokens, fitted per sample."
        )
        st.dataframe(
            eval_table(report), hide_index=True, width="stretch",
            column_config={
                c: st.column_config.NumberColumn(format="%.3f")
                for c in ("avg@n", "avg@n SE", "cons@n", "pass@n", "R² (per sample)")
            } | {"mean length (tokens)": st.column_config.NumberColumn(format="%.1f")},
        )  # fmt: skip
        if len(chosen) > 1:
            st.markdown(f"**Against {labels[baseline]}**")
            differences = difference_table(report)
            if differences.empty:
                st.info("No eval here is on the baseline's problems: they cannot be paired.")
            else:
                st.caption(
                    "difference = eval - baseline; interval: paired bootstrap over problems"
                    f" ({report.comparison.resamples:,} resamples, seed {report.comparison.seed});"
                    " p: paired permutation test; supported: the interval excludes 0. Wins /"
                    " ties / losses count problems."
                )
                st.dataframe(
                    differences, hide_index=True, width="stretch",
                    column_config={
                        c: st.column_config.NumberColumn(format="%.3f")
                        for c in ("baseline", "eval value", "difference", "p")
                    },
                )  # fmt: skip
        st.altair_chart(pass_at_k_chart(report, colour), width="stretch")

if tabs[1].open:
    with tabs[1]:
        outcomes = source.outcomes(ordered)
        colour_of = {e: palette.eval(e) for e in ordered}
        left, right = st.columns(2)
        with left:
            kind = st.radio(
                "Response length", ["box", "violin"], horizontal=True, key="length_kind"
            )
            chart = length_chart(outcomes, ordered, labels, colour_of, kind=kind)
            st.altair_chart(chart, width="stretch" if kind == "box" else "content")
        with right:
            st.altair_chart(quartile_chart(report, colour), width="stretch")
        fits = {d.scored.eval_id: d.per_problem_fit for d in report.details}
        named = "; ".join(
            f"{labels[e]}: {fit_label(fits[e])}" for e in ordered if fits.get(e) is not None
        )
        st.caption(
            "One point per problem (mean over its samples); dashed: the per-problem fit, w per"
            f" 1k tokens [95% interval]. {named}"
        )
        points = problem_points(outcomes)
        st.altair_chart(
            accuracy_length_chart(points, ordered, labels, colour_of, fits), width="stretch"
        )

if tabs[2].open:
    with tabs[2]:
        st.caption(
            "Intervals: 95%, bootstrap over problems; reflections counted with the one lexicon."
        )
        st.dataframe(reflection_table(report), hide_index=True, width="stretch")
        st.altair_chart(reflection_chart(report, colour), width="content")
        analyses = source.analyses()
        runs = source.runs()
        runs_by_id = {} if runs.empty else {r["run_id"]: r for r in runs.to_dict("records")}
        rows = {r["eval_id"]: r for r in evals.to_dict("records")}
        for eval_id in ordered:
            if "credit" not in analyses.get(eval_id, {}):
                command = credit_command(rows[eval_id], runs_by_id, source.db_path())
                st.caption(
                    f"{labels[eval_id]}: no credit, so no pivot event study: run `{command}`."
                )
                continue
            study = source.pivot_event_study(eval_id)
            if study.empty:
                st.caption(f"{labels[eval_id]}: credited, but no keyword pivot on credited tokens.")
                continue
            st.altair_chart(event_study_chart(study, labels[eval_id]), width="content")

if tabs[3].open:
    with tabs[3]:
        points = problem_points(source.outcomes(ordered))
        controls = st.columns([2, 2, 4])
        order = controls[0].selectbox("Order", GRID_ORDERS, key="grid_order")
        differs = controls[1].checkbox("Only problems where the evals differ", key="grid_differs")
        grid = grid_frame(points, ordered, order=order, differs_only=differs)
        controls[2].caption(
            f"{len(grid)} problems. Correct samples / samples; a cell opens that problem in"
            " Trajectory with every compared eval side by side."
        )
        st.html(grid_html(grid, ordered, labels))
