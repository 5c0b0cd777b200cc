"""Vega-Lite charts (Altair) of the pages' main content: the Training curves, the accuracy of
evaluated checkpoints and Compare's pass@k curves (data in, chart out; no Streamlit).

Why Vega-Lite and not plotly here: Streamlit loads plotly.js (~4.6 MB) into the browser for the
first plotly chart of a page; on this project's 2-core machine a bare page with one two-point
plotly chart took 2.5-3.5 s to draw against 1.4-2.1 s for the same page with a Vega-Lite chart
(benchmarks/dashboard.py measures both floors in every run). The HTML report keeps its plotly
figures (fipo_bench.analysis.figures): same data, same colours (analysis.series_style), same names.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence

import altair as alt
import numpy as np
import pandas as pd

from fipo_bench.analysis.length_accuracy import CheckpointPoint
from fipo_bench.analysis.reports import Report
from fipo_bench.analysis.run_curves import RunInfo
from fipo_bench.analysis.series_style import GREYS

GREY = GREYS[0]  # a series without a colour of its own, as series_style colours one
SHAPES = ("circle", "square", "diamond", "triangle-up", "cross", "triangle-down")
SHAPE_GLYPHS = ("●", "■", "◆", "▲", "✚", "▼")  # the same shapes in the HTML legend
DASHES = ([1, 0], [6, 3], [2, 2], [8, 3, 2, 3], [12, 4], [4, 4])  # per run on long runs
MARKER_STEPS = 60  # a run with more logged steps is drawn without a marker per step
STEP_AXIS = alt.Axis(title="step", tickMinStep=1, format="d")
# Plain numbers: SI prefixes would print a KL of 2e-4 as "200µ".
VALUE_FORMAT = ".3~g"
PANEL_HEIGHT = 210
# The curves a researcher looks at first (DESIGN.md, "Metrics"), when the runs logged them.
DEFAULT_TRAINING_METRICS = (
    "reward/mean",
    "acc/mean",
    "response_length/mean",
    "advantage/length_weighted_mean",
    "entropy",
    "policy_kl",
    "clip_ratio/high",
    "influence_weight/mean",
    "grad_norm",
    "num_gen_batches",
)


def ema(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's smoothing: an exponential moving average, debiased so the first points
    are not pulled towards 0 (weight 0 = the raw values)."""
    if weight <= 0 or values.size == 0:
        return values.astype(float)
    out = np.empty(values.size)
    last, norm = 0.0, 0.0
    for i, v in enumerate(values.astype(float)):
        last = weight * last + (1 - weight) * v
        norm = weight * norm + (1 - weight)
        out[i] = last / norm
    return out


def flat_note(values: np.ndarray) -> str:
    """' (constant 0)' / ' (nearly constant: 0.999-1)' for a panel that carries almost no
    information, else ''."""
    finite = values[np.isfinite(values)]
    if finite.size < 2:
        return ""
    low, high = float(finite.min()), float(finite.max())
    if high == low:
        return f" (constant {low:.4g})"
    if (high - low) <= 1e-3 * max(abs(low), abs(high)):
        return f" (nearly constant: {low:.6g} to {high:.6g})"
    return ""


def field(name: str) -> str:
    """A data column name as a Vega-Lite field reference: dots and brackets would otherwise
    read as nested access (a run named `lr.1e-4` is one column)."""
    return "".join("\\" + c if c in ".[]\\" else c for c in name)


def series_colour(
    domain: Sequence[str], colours: Sequence[str], *, legend: bool = True
) -> alt.Color:
    """Colour by the `series` column, each series in its own fixed colour (the palette of
    analysis.series_style, never Vega's default one), the legend on top."""
    return alt.Color(
        "series:N",
        scale=alt.Scale(domain=list(domain), range=list(colours)),
        # Opaque symbols: a layer drawn faint (a band, a raw line) would otherwise fade its key.
        legend=alt.Legend(title=None, orient="top", labelLimit=0, columns=4, symbolOpacity=1)
        if legend
        else None,
    )


def training_panels(
    metrics: pd.DataFrame,
    names: Sequence[str],
    run_ids: Sequence[str],
    labels: Mapping[str, str],
    colours: Mapping[str, str],
    *,
    smoothing: float = 0.0,
) -> list[alt.LayerChart]:
    """One chart per metric (x: training step, y: its own scale), the runs overlaid in their
    own colour and marker shape (a run under another stays visible); hovering a step marks it
    and lists every run's value there with the run and metric names. With smoothing > 0 the raw
    values stay as faint lines under the smoothed ones. A panel whose values barely move says
    so in its title. The runs' legend is `legend_html` (one for all panels).

    metrics: rows of run_id, step, name, value (store.dashboard_queries.train_metrics)."""
    domain = [labels.get(r, r) for r in run_ids]
    colour = series_colour(domain, [colours.get(r, GREY) for r in run_ids], legend=False)
    shape = alt.Shape("series:N", scale=alt.Scale(domain=domain, range=list(SHAPES)), legend=None)
    x = alt.X("step:Q", axis=STEP_AXIS)
    y = alt.Y("value:Q", title=None, axis=alt.Axis(format=VALUE_FORMAT),
              scale=alt.Scale(zero=False))  # fmt: skip
    panels = []
    for name in names:
        of_metric = metrics[metrics["name"] == name]
        frames = []
        for run_id in run_ids:
            rows = of_metric[of_metric["run_id"] == run_id].sort_values("step")
            raw = rows["value"].to_numpy(dtype=float)
            frames.append(
                pd.DataFrame(
                    {
                        "step": rows["step"].to_numpy(dtype=int),
                        "series": labels.get(run_id, run_id),
                        "metric": name,
                        "raw": raw,
                        "value": ema(raw, smoothing),
                    }
                )
            )
        data = pd.concat(frames, ignore_index=True)
        at_step = alt.selection_point(
            fields=["step"], nearest=True, on="pointerover", empty=False, clear="pointerout"
        )
        layers = []
        if smoothing > 0:
            layers.append(
                alt.Chart().mark_line(strokeWidth=1, opacity=0.3)
                .encode(x=x, y=alt.Y("raw:Q"), color=colour, detail="series:N")
            )  # fmt: skip
        # A marker per step tells overlapping runs apart on a short run; on a long one the
        # markers would be thousands of SVG nodes per panel (seconds of drawing), so each run
        # gets its own dash pattern instead.
        long_run = bool(len(data)) and data.groupby("series")["step"].nunique().max() > MARKER_STEPS
        dash = alt.StrokeDash(
            "series:N", scale=alt.Scale(domain=domain, range=list(DASHES)), legend=None
        )
        line = alt.Chart().mark_line(strokeWidth=2, opacity=0.85)
        layers.append(
            line.encode(x=x, y=y, color=colour, strokeDash=dash)
            if long_run
            else line.encode(x=x, y=y, color=colour)
        )
        if not long_run:
            layers.append(
                alt.Chart()
                .mark_point(filled=True, size=36, opacity=1)
                .encode(x=x, y=y, color=colour, shape=shape)
            )
        layers += [
            # One rule per step carrying every run's value there: hover target and tooltip.
            alt.Chart()
            .transform_pivot("series", value="value", groupby=["step", "metric"])
            .mark_rule(color="#888888", strokeWidth=6)
            .encode(
                x=x,
                opacity=alt.condition(at_step, alt.value(0.35), alt.value(0)),
                tooltip=[
                    alt.Tooltip("metric:N"),
                    alt.Tooltip("step:Q"),
                    *(alt.Tooltip(f"{field(s)}:Q", title=s, format=".4~g") for s in domain),
                ],
            )
            .add_params(at_step),
        ]
        title = name + flat_note(of_metric["value"].to_numpy(dtype=float))
        panels.append(
            alt.layer(*layers, data=data).properties(
                title=alt.TitleParams(title, anchor="start", fontSize=13), height=PANEL_HEIGHT
            )
        )
    return panels


def legend_html(labels: Sequence[str], colours: Sequence[str], *, markers: bool = True) -> str:
    """One legend line for a group of charts: each series' marker shape (as training_panels
    draws it on short runs; a line on long ones) in its colour, then its name."""
    items = "".join(
        f'<span class="fipo-series" data-colour="{c}" style="margin-right:1.2em;'
        f'white-space:nowrap"><span style="color:{c}">'
        f"{SHAPE_GLYPHS[i % len(SHAPE_GLYPHS)] if markers else '━'}"
        f"</span> {html.escape(label)}</span>"
        for i, (label, c) in enumerate(zip(labels, colours, strict=True))
    )
    return f'<div class="fipo-series-legend" style="font-size:0.9rem">{items}</div>'


def has_markers(panel: dict) -> bool:
    """Whether a training panel (its Vega-Lite spec) draws a marker per step."""
    return any(layer["mark"]["type"] == "point" for layer in panel["layer"])


def checkpoint_chart(
    points: Sequence[tuple[RunInfo, Sequence[CheckpointPoint]]], colour: Callable[[str], str]
) -> alt.Chart:
    """avg@k (solid) and cons@k (dashed) of every evaluated checkpoint of each run over steps:
    the report's Figure 1, the run in its colour; hover names the checkpoint."""
    rows = []
    for run, run_points in points:
        for p in run_points:
            for metric, value in (("avg", p.accuracy), ("cons", p.cons)):
                rows.append(
                    {
                        "series": run.label,
                        "step": p.step,
                        "value": value,
                        "statistic": f"{metric}@k",
                        "line": f"{run.label} {metric}@{p.n} ({p.dataset})",
                        "checkpoint": p.label + (" (partial)" if p.partial else ""),
                        "dataset": p.dataset,
                    }
                )
    data = pd.DataFrame(rows)
    domain = [run.label for run, _ in points]
    return (
        alt.Chart(data, title="Validation accuracy over training (solid avg@k, dashed cons@k)")
        .mark_line(point=True)
        .encode(
            x=alt.X("step:Q", axis=STEP_AXIS),
            y=alt.Y("value:Q", title="accuracy", axis=alt.Axis(format=VALUE_FORMAT)),
            color=series_colour(domain, [colour(label) for label in domain]),
            strokeDash=alt.StrokeDash(
                "statistic:N", scale=alt.Scale(domain=["avg@k", "cons@k"], range=[[1, 0], [5, 3]]),
                legend=alt.Legend(title=None, orient="top"),
            ),
            detail="line:N",
            tooltip=[alt.Tooltip("checkpoint:N"), alt.Tooltip("dataset:N"),
                     alt.Tooltip("statistic:N"), alt.Tooltip("value:Q", format=".3f")],
        )
        .properties(height=320)
    )  # fmt: skip


def pass_at_k_chart(report: Report, colour: Callable[[str], str]) -> alt.LayerChart:
    """pass@k for k = 1..n of every eval (the unbiased estimator), with a band of one standard
    error over problems; the same curves as the report's pass@k figure."""
    rows = []
    for detail in report.details:
        label, stats = detail.scored.label, detail.scored.stats
        for k, estimate in enumerate(stats.pass_curve, start=1):
            se = 0.0 if estimate.se != estimate.se else estimate.se  # NaN: one problem, no SE
            rows.append(
                {"series": label, "k": k, "value": estimate.value, "se": se,
                 "low": estimate.value - se, "high": estimate.value + se}
            )  # fmt: skip
    data = pd.DataFrame(rows)
    domain = [d.scored.label for d in report.details]
    colour_by = series_colour(domain, [colour(label) for label in domain])
    x = alt.X("k:Q", axis=alt.Axis(title="k (samples drawn)", tickMinStep=1, format="d"))
    base = alt.Chart(data)
    band = base.mark_area(opacity=0.18).encode(x=x, y="low:Q", y2="high:Q", color=colour_by)
    line = base.mark_line(point=True).encode(
        x=x,
        y=alt.Y("value:Q", title="pass@k", axis=alt.Axis(format=VALUE_FORMAT)),
        color=colour_by,
        tooltip=[alt.Tooltip("series:N", title="eval"), alt.Tooltip("k:Q"),
                 alt.Tooltip("value:Q", title="pass@k", format=".3f"),
                 alt.Tooltip("se:Q", title="SE", format=".3f")],
    )  # fmt: skip
    return alt.layer(band, line).properties(
        title="pass@k (unbiased estimator) for every k <= n; band: ± one standard error",
        height=340,
    )
