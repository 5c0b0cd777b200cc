"""A `Report` as CSV (long format), Markdown tables, or one self-contained HTML file.

The HTML file inlines plotly.js once (include_plotlyjs=True on the first figure) and loads
nothing from anywhere: no CDN, no external script, stylesheet or font, so it opens offline.
Every format is written to a temporary file beside the target and renamed into place.
"""

from __future__ import annotations

import html
import io
import math
import os
import tempfile
from pathlib import Path

import pandas as pd

from fipo_bench.analysis.reports import LENGTH_STATS, Report
from fipo_bench.analysis.settings import REPORT_FORMATS
from fipo_bench.errors import ConfigError

_PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}  # no link to plotly.com


def check_output(path: Path, fmt: str) -> None:
    """ConfigError for an unknown format or an output folder that does not exist."""
    if fmt not in REPORT_FORMATS:
        raise ConfigError(f"--format {fmt!r} is unknown; allowed: {', '.join(REPORT_FORMATS)}")
    if path.is_dir():
        raise ConfigError(f"--out {path} is a folder; give a file path")
    if not path.parent.is_dir():
        raise ConfigError(f"--out {path}: folder {path.parent} does not exist; create it first")


def long_rows(report: Report) -> pd.DataFrame:
    """section (eval|run), id, step, metric, value: one row per number."""
    evals = report.evals.rename_axis("metric").reset_index()
    evals = evals.melt(id_vars="metric", var_name="id", value_name="value")
    evals.insert(0, "section", "eval")
    evals.insert(2, "step", pd.NA)
    runs = report.runs.rename(columns={"run_id": "id", "stat": "metric"})
    runs = runs.assign(section="run", metric="response_length/" + runs["metric"])
    return pd.concat(
        [evals[["section", "id", "step", "metric", "value"]],
         runs[["section", "id", "step", "metric", "value"]]],
        ignore_index=True,
    )  # fmt: skip


def _cell(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:.4g}"
    return str(value)


def _md_table(frame: pd.DataFrame, index_name: str) -> str:
    header = [index_name, *map(str, frame.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, row in frame.iterrows():
        cells = [str(name), *(_cell(v).replace("|", "\\|") for v in row)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _run_table(report: Report) -> pd.DataFrame:
    table = report.runs.pivot_table(index=["run_id", "step"], columns="stat", values="value")
    return table.reindex(columns=[s for s in LENGTH_STATS if s in table.columns])


def render_markdown(report: Report) -> str:
    parts = ["# fipo-bench report", ""]
    if not report.evals.empty:
        parts += ["## Evals", "", _md_table(report.evals, "metric"), ""]
    if not report.runs.empty:
        table = _run_table(report)
        table.index = [f"{run} step {step}" for run, step in table.index]
        parts += ["## Training runs: response length (tokens)", "", _md_table(table, "step"), ""]
    return "\n".join(parts)


def render_csv(report: Report) -> str:
    buffer = io.StringIO()
    long_rows(report).to_csv(buffer, index=False)
    return buffer.getvalue()


def _figures(report: Report) -> list:
    import plotly.graph_objects as go

    figures = []
    evals = report.evals
    if not evals.empty:
        quartile_rows = [f"accuracy length quartile {q}" for q in range(1, 5)]
        bars = go.Figure()
        for eval_id in evals.columns:
            rows = [r for r in quartile_rows if r in evals.index]
            bars.add_bar(
                name=str(eval_id), x=[f"Q{r[-1]}" for r in rows], y=evals.loc[rows, eval_id]
            )
        bars.update_layout(
            title="Accuracy by response-length quartile (Q1 = shortest)",
            yaxis_title="accuracy", barmode="group",
        )  # fmt: skip
        figures.append(bars)
        boxes = go.Figure()
        for eval_id in evals.columns:
            stat = {s: float(evals.loc[f"response length {s}", eval_id]) for s in LENGTH_STATS}
            boxes.add_box(
                name=str(eval_id), q1=[stat["q25"]], median=[stat["median"]],
                q3=[stat["q75"]], lowerfence=[stat["min"]], upperfence=[stat["max"]],
                mean=[stat["mean"]],
            )  # fmt: skip
        boxes.update_layout(title="Response length (tokens): min, q25, median, q75, max, mean")
        figures.append(boxes)
    if not report.runs.empty:
        table = _run_table(report).reset_index()
        lines = go.Figure()
        for run_id, frame in table.groupby("run_id"):
            for stat, dash in (("mean", "solid"), ("q25", "dot"), ("q75", "dot")):
                if stat in frame:
                    lines.add_scatter(
                        x=frame["step"], y=frame[stat], name=f"{run_id} {stat}",
                        mode="lines+markers", line={"dash": dash},
                    )  # fmt: skip
        lines.update_layout(
            title="Training: response length per step", xaxis_title="step", yaxis_title="tokens"
        )
        figures.append(lines)
    return figures


def render_html(report: Report) -> str:
    import plotly.io as pio

    blocks = []
    for i, figure in enumerate(_figures(report)):
        # plotly.js is inlined once, with the first figure; the others reuse it.
        blocks.append(
            pio.to_html(figure, include_plotlyjs=(i == 0), full_html=False, config=_PLOTLY_CONFIG)
        )
    tables = []
    if not report.evals.empty:
        shown = report.evals.map(_cell)
        tables.append("<h2>Evals</h2>" + shown.to_html(escape=True))
    if not report.runs.empty:
        shown = _run_table(report).map(_cell)
        tables.append("<h2>Training runs: response length (tokens)</h2>" + shown.to_html())
    style = (
        "body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape('fipo-bench report')}</title><style>{style}</style></head><body>"
        "<h1>fipo-bench report</h1>" + "".join(tables) + "".join(blocks) + "</body></html>"
    )


RENDERERS = {"csv": render_csv, "md": render_markdown, "html": render_html}


def write_report(report: Report, fmt: str, out: Path) -> Path:
    """Render and write atomically (temp file in the same folder, then rename)."""
    check_output(out, fmt)
    text = RENDERERS[fmt](report)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp_name, out)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return out
