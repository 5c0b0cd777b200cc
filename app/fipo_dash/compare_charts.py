"""Vega-Lite charts (Altair) of Compare's Lengths and Reflection tabs (data in, chart out; no
Streamlit): response-length box or violin plots, accuracy per length quartile, per-problem
accuracy against length with each eval's fit, the reflection panel and the pivot event study.

Vega-Lite for the reason fipo_dash.charts gives (the browser never loads plotly.js for the
dashboard); the HTML report draws the same numbers with plotly (fipo_bench.analysis.figures),
in the same colours (analysis.series_style) under the same names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import altair as alt
import numpy as np
import pandas as pd

from fipo_bench.analysis.events import EventStudy
from fipo_bench.analysis.figures import EVENT_TITLES
from fipo_bench.analysis.length_accuracy import LengthFit
from fipo_bench.analysis.reports import Report
from fipo_dash.charts import GREY, VALUE_FORMAT, series_colour

PIVOT_COLOUR, RANDOM_COLOUR = "#d62728", "#7f7f7f"  # the report's event-study colours
FACET_WIDTH = 200  # a faceted chart cannot stretch to the page: fixed panel widths


def _eval_colour(eval_ids, labels, colours, *, legend: bool) -> tuple[list[str], alt.Color]:
    """(labels in eval order, the colour encoding): each eval in its palette colour."""
    domain = [labels.get(e, e) for e in eval_ids]
    return domain, series_colour(domain, [colours.get(e, GREY) for e in eval_ids], legend=legend)


def length_chart(
    outcomes: pd.DataFrame,
    eval_ids: Sequence[str],
    labels: Mapping[str, str],
    colours: Mapping[str, str],
    *,
    kind: str = "box",
) -> alt.Chart | alt.FacetChart:
    """Response length (tokens) per eval: box plots (whiskers at 1.5 IQR, outliers as points)
    or violins (kernel density, one column per eval). outcomes: eval_id, n_tokens per sample."""
    rows = outcomes[outcomes["eval_id"].isin(eval_ids)]
    data = pd.DataFrame(
        {
            "series": rows["eval_id"].map(lambda e: labels.get(e, e)),
            "order": rows["eval_id"].map(list(eval_ids).index),  # facets keep the eval order
            "n_tokens": rows["n_tokens"],
        }
    )
    domain, colour = _eval_colour(eval_ids, labels, colours, legend=False)
    tokens = alt.Y("n_tokens:Q", title="response length (tokens)")
    if kind != "violin":
        return (
            alt.Chart(data)
            .mark_boxplot(extent=1.5, size=40)
            .encode(
                # "run@step · dataset" on two lines: every label shown, none cut.
                x=alt.X("series:N", sort=domain, title=None,
                        axis=alt.Axis(labelAngle=0, labelLimit=0, labelOverlap=False,
                                      labelExpr="split(datum.label, ' · ')")),
                y=tokens, color=colour,
            )
            .properties(height=380)
        )  # fmt: skip
    return (
        alt.Chart(data)
        .transform_density("n_tokens", as_=["n_tokens", "density"], groupby=["series", "order"])
        .mark_area(orient="horizontal", opacity=0.8)
        .encode(
            y=tokens,
            x=alt.X("density:Q", stack="center", axis=None, title=None),
            color=colour,
        )
        .properties(width=max(50, 400 // max(1, len(domain))), height=360)  # fits half a page
        .facet(column=alt.Column("series:N", sort=alt.SortField("order"), title=None,
                                 header=alt.Header(labelOrient="bottom", labelLimit=0,
                                                   labelExpr="split(datum.label, ' · ')")))
        .configure_facet(spacing=4)
    )  # fmt: skip


def quartile_chart(report: Report, colour: Callable[[str], str]) -> alt.Chart:
    """Accuracy per response-length quartile of every eval (Q1 = shortest; ties split evenly),
    the quartile's token range in the hover."""
    rows = []
    for label in report.evals.columns:
        for q in range(1, 5):
            accuracy = f"accuracy length quartile {q}"
            if accuracy not in report.evals.index:
                continue
            rows.append(
                {
                    "series": label,
                    "quartile": f"Q{q}",
                    "accuracy": float(report.evals.loc[accuracy, label]),
                    "tokens": str(report.evals.loc[f"length quartile {q} tokens", label]),
                }
            )
    domain = list(report.evals.columns)
    return (
        alt.Chart(pd.DataFrame(rows), title=alt.TitleParams(
            "Accuracy by response-length quartile", subtitle="Q1 = shortest; ties split evenly"))
        .mark_bar()
        .encode(
            x=alt.X("quartile:N", title="length quartile", axis=alt.Axis(labelAngle=0)),
            xOffset=alt.XOffset("series:N", sort=domain),
            y=alt.Y("accuracy:Q", title="accuracy", axis=alt.Axis(format=VALUE_FORMAT)),
            color=series_colour(domain, [colour(label) for label in domain]),
            tooltip=[alt.Tooltip("series:N", title="eval"), "quartile:N",
                     alt.Tooltip("tokens:N", title="tokens"),
                     alt.Tooltip("accuracy:Q", format=".3f")],
        )
        .properties(height=380)
    )  # fmt: skip


def fit_label(fit: LengthFit) -> str:
    """'<basis>: +0.123 [-0.01, +0.25] per 1k tokens, R² 0.05': a fit with unit, basis,
    interval and R²."""
    interval = (
        f" [{fit.slope_ci_low:+.3f}, {fit.slope_ci_high:+.3f}]"
        if np.isfinite(fit.slope_ci_low)
        else ""
    )
    return f"{fit.name}: {fit.slope_per_1k:+.3f}{interval}, R² {fit.fit.r_squared:.2f}"


def accuracy_length_chart(
    points: pd.DataFrame,
    eval_ids: Sequence[str],
    labels: Mapping[str, str],
    colours: Mapping[str, str],
    fits: Mapping[str, LengthFit],
) -> alt.LayerChart:
    """Per-problem (mean length, accuracy) points of every eval with its per-problem
    least-squares line dashed (analysis.length_accuracy); the line's hover names the fit with
    its unit, basis, interval and R²."""
    shown = points[points["eval_id"].isin(eval_ids)]
    dots = pd.DataFrame(
        {
            "series": shown["eval_id"].map(lambda e: labels.get(e, e)),
            "problem": shown["problem_id"],
            "tokens": shown["mean_tokens"],
            "accuracy": shown["accuracy"],
        }
    )
    lines = []
    for eval_id in eval_ids:
        fit, rows = fits.get(eval_id), shown[shown["eval_id"] == eval_id]
        if fit is None or rows.empty or not np.isfinite(fit.fit.slope):
            continue
        for x in (rows["mean_tokens"].min(), rows["mean_tokens"].max()):
            lines.append({"series": labels.get(eval_id, eval_id), "tokens": x,
                          "accuracy": fit.fit.intercept + fit.fit.slope * x,
                          "fit": fit_label(fit)})  # fmt: skip
    _, colour = _eval_colour(eval_ids, labels, colours, legend=True)
    x = alt.X("tokens:Q", title="mean response length of the problem (tokens)")
    y = alt.Y("accuracy:Q", title="accuracy on the problem", scale=alt.Scale(domain=[0, 1]))
    scatter = (
        alt.Chart(dots)
        .mark_circle(size=60, opacity=0.75)
        .encode(x=x, y=y, color=colour,
                tooltip=["series:N", "problem:N", alt.Tooltip("accuracy:Q", format=".2f"),
                         alt.Tooltip("tokens:Q", format=".0f")])
    )  # fmt: skip
    layers = [scatter]
    if lines:
        layers.append(
            alt.Chart(pd.DataFrame(lines))
            .mark_line(strokeDash=[6, 4], strokeWidth=2)
            .encode(x=x, y=y, color=colour, tooltip=["series:N", "fit:N"])
        )
    return alt.layer(*layers).properties(height=400)


def _interval_rows(report: Report) -> pd.DataFrame:
    rows = []
    for detail in report.details:
        r = detail.reflection
        shown = (
            ("responses with a reflection", "rate", r.rate),
            ("accuracy: reflective | direct", "reflective", r.accuracy_reflective),
            ("accuracy: reflective | direct", "direct", r.accuracy_direct),
            ("reflections per 1k tokens", "per 1k", r.per_1k_tokens),
        )
        for panel, measure, ratio in shown:
            rows.append(
                {"series": detail.scored.label, "panel": panel, "measure": measure,
                 "value": ratio.value, "low": ratio.ci_low, "high": ratio.ci_high}
            )  # fmt: skip
    return pd.DataFrame(rows)


def reflection_chart(report: Report, colour: Callable[[str], str]) -> alt.HConcatChart:
    """Reflection rate, accuracy of reflective vs direct responses and reflections per 1k
    tokens of every eval, each bar with its 95% interval (bootstrap over problems)."""
    data = _interval_rows(report)
    domain = [d.scored.label for d in report.details]
    colour_by = series_colour(domain, [colour(label) for label in domain])
    panels = []
    for panel, rows in data.groupby("panel", sort=False):
        x = alt.X("measure:N", title=None, sort=list(dict.fromkeys(rows["measure"])),
                  axis=alt.Axis(labelAngle=0))  # fmt: skip
        offset = alt.XOffset("series:N", sort=domain)
        bars = alt.Chart().mark_bar().encode(
            x=x, xOffset=offset, color=colour_by,
            y=alt.Y("value:Q", title=None, axis=alt.Axis(format=VALUE_FORMAT)),
            tooltip=[alt.Tooltip("series:N", title="eval"), "measure:N",
                     alt.Tooltip("value:Q", format=".3f"), alt.Tooltip("low:Q", format=".3f"),
                     alt.Tooltip("high:Q", format=".3f")],
        )  # fmt: skip
        whiskers = (
            alt.Chart()
            .mark_rule(color="#333333")
            .encode(x=x, xOffset=offset, y="low:Q", y2="high:Q")
        )
        panels.append(
            alt.layer(bars, whiskers, data=rows).properties(
                width=FACET_WIDTH + 60, height=300, title=alt.TitleParams(panel, fontSize=12)
            )
        )
    return alt.hconcat(*panels).properties(title="Reflection (bars: 95% interval over problems)")


def event_study_chart(study: EventStudy, label: str) -> alt.FacetChart:
    """Mean of each credit column at offsets -K..K from the keyword pivots (red, with its 95%
    band over trajectories) and from random positions of the same trajectories (grey); the
    title gives how much |Future-KL| mass lies near the pivots."""
    names = {"pivot": "keyword pivots", "random": "random positions"}
    data = study.curves.assign(
        source=study.curves["kind"].map(names),
        panel=study.curves["metric"].map(EVENT_TITLES),
    )
    data = data[data["metric"].isin(list(EVENT_TITLES))]
    colour = alt.Color(
        "source:N",
        scale=alt.Scale(domain=list(names.values()), range=[PIVOT_COLOUR, RANDOM_COLOUR]),
        legend=alt.Legend(title=None, orient="top", symbolOpacity=1),
    )
    x = alt.X("offset:Q", title="tokens from the pivot")
    band = alt.Chart().mark_area(opacity=0.18).encode(x=x, y="ci_low:Q", y2="ci_high:Q",
                                                     color=colour)  # fmt: skip
    line = alt.Chart().mark_line().encode(
        x=x, color=colour,
        y=alt.Y("mean:Q", title=None, axis=alt.Axis(format=VALUE_FORMAT),
                scale=alt.Scale(zero=False)),
        tooltip=["source:N", "offset:Q", alt.Tooltip("mean:Q", format=".4~g"),
                 alt.Tooltip("ci_low:Q", format=".4~g"), alt.Tooltip("ci_high:Q", format=".4~g")],
    )  # fmt: skip
    zero = alt.Chart().mark_rule(strokeDash=[2, 2], color="#444444").encode(x=alt.datum(0))
    m = study.mass
    title = (
        f"{label}: credit around {study.n_pivots} reflection pivots in"
        f" {study.n_trajectories} trajectories. |Future-KL| within {m.window} tokens of a"
        f" pivot: {m.mass_share:.1%} of the mass on {m.token_share:.1%} of the tokens"
    )
    return (
        alt.layer(band, line, zero, data=data)
        .properties(width=FACET_WIDTH, height=220)
        .facet(column=alt.Column("panel:N", sort=[EVENT_TITLES[k] for k in EVENT_TITLES],
                                 title=None, header=alt.Header(labelFontWeight="bold")))
        .resolve_scale(y="independent")
        .properties(title=alt.TitleParams(title, fontSize=13, anchor="start"))
    )  # fmt: skip
