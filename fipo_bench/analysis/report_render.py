"""A `Report` as CSV (long format), Markdown tables, or one self-contained HTML file.

Columns and legends are named by run/checkpoint labels (`tiny-fipo@12`); the eval ids are a
row of the evals table. The HTML file inlines plotly.js once (with the first figure: ~4.8 MB
of the file is that one copy) and loads nothing from anywhere: no CDN, no external script,
stylesheet or font, so it opens offline. Every format is written to a temporary file beside
the target (created with the user's umask, like any file the user writes) and renamed into
place, so a failed write leaves nothing behind.
"""

from __future__ import annotations

import html
import io
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from fipo_bench.algos.lengths import LENGTH_STATS
from fipo_bench.analysis.compare_render import SIGNIFICANT_MARK, metric_name
from fipo_bench.analysis.reports import Report
from fipo_bench.analysis.settings import REPORT_FORMATS
from fipo_bench.errors import ConfigError

if TYPE_CHECKING:
    from fipo_bench.analysis.figures import PaperFigures

_PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}  # no link to plotly.com
CI_LOW, CI_HIGH = " ci_low", " ci_high"
RUN_TABLE_ROWS = 25  # steps per run in the md/html length table (the CSV keeps all)


def check_output(path: Path, fmt: str, *, figures: bool = False) -> None:
    """ConfigError for an unknown format, --figures outside html, or an --out that cannot be
    written: a folder, a missing folder, a folder that is read-only or not ours to write."""
    if fmt not in REPORT_FORMATS:
        raise ConfigError(f"--format {fmt!r} is unknown; allowed: {', '.join(REPORT_FORMATS)}")
    if figures and fmt != "html":
        raise ConfigError(f"--figures draws plots: it needs --format html, not {fmt!r}")
    if path.is_dir():
        raise ConfigError(f"--out {path} is a folder; give a file path")
    if not path.parent.is_dir():
        raise ConfigError(f"--out {path}: folder {path.parent} does not exist; create it first")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise ConfigError(
            f"--out {path}: folder {path.parent} is not writable (read-only or no permission);"
            " choose another --out"
        )


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def shown_evals(report: Report) -> pd.DataFrame:
    """The evals table as text, each 'X ci_low' / 'X ci_high' row pair merged into one
    'X 95% CI' row '[low, high]' placed after X."""
    evals = report.evals
    rows: dict[str, pd.Series] = {}
    for name in evals.index:
        if name.endswith(CI_HIGH):
            continue
        if name.endswith(CI_LOW):
            base = name.removesuffix(CI_LOW)
            low, high = evals.loc[name], evals.loc[base + CI_HIGH]
            rows[f"{base} 95% CI"] = pd.Series(
                {c: f"[{_cell(low[c])}, {_cell(high[c])}]" for c in evals.columns}
            )
        else:
            rows[name] = evals.loc[name].map(_cell)
    return pd.DataFrame(rows).T


def differences_frame(report: Report) -> pd.DataFrame:
    """One row per (eval, metric) against the baseline; `*` marks an interval without 0."""
    c = report.comparison
    if c is None:
        return pd.DataFrame()
    rows = []
    for other in c.others:
        for d in c.differences[other.eval_id]:
            rows.append(
                {
                    "eval": other.label,
                    "metric": metric_name(d),
                    "baseline": _cell(d.baseline_value),
                    "eval value": _cell(d.eval_value),
                    "delta": _cell(d.delta) + (SIGNIFICANT_MARK if d.excludes_zero else ""),
                    "95% CI": f"[{_cell(d.ci_low)}, {_cell(d.ci_high)}]",
                    "p": _cell(d.p_value),
                    "wins/ties/losses": f"{d.wins}/{d.ties}/{d.losses}",
                }
            )
    return pd.DataFrame(rows)


def _differences_note(report: Report) -> str:
    c = report.comparison
    assert c is not None
    return (
        f"Against {c.baseline.label} on the same {c.baseline.stats.num_problems} problems."
        f" {SIGNIFICANT_MARK}: the {c.confidence:.0%} interval excludes 0. Interval: paired"
        f" bootstrap over problems (BCa, {c.resamples} resamples, seed {c.seed}); p: paired"
        " permutation test; wins/ties/losses: problems where the eval is ahead/level/behind."
    )


def run_lengths_frame(report: Report, max_rows_per_run: int | None = None) -> pd.DataFrame:
    """run, step, then min .. max response length (tokens) per logged step; with
    max_rows_per_run, that many evenly spaced steps of each run (first and last kept)."""
    if report.runs.empty:
        return pd.DataFrame()
    table = report.runs.pivot_table(index=["run", "step"], columns="stat", values="value")
    table = table.reindex(columns=[s for s in LENGTH_STATS if s in table.columns])
    table.columns.name = None
    table = table.reset_index()
    if max_rows_per_run is not None:
        keep = [
            rows[i]
            for rows in table.groupby("run", sort=False).indices.values()
            for i in _spaced(len(rows), max_rows_per_run)
        ]
        table = table.iloc[keep]
    return table.map(_cell)


def _spaced(n: int, k: int) -> list[int]:
    """k evenly spaced indices of 0..n-1 including both ends (all of them when n <= k)."""
    if n <= k:
        return list(range(n))
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def stage_frame(report: Report) -> pd.DataFrame:
    rows = [
        {
            "run": sf.run_label,
            "dataset": sf.dataset,
            "stage": sf.stage.name,
            "checkpoints": len(sf.points),
            "w per 1k tokens (per checkpoint)": _cell(sf.fit.slope_per_1k),
            "R^2": _cell(sf.fit.fit.r_squared),
        }
        for sf in report.stage_fits
    ]
    return pd.DataFrame(rows)


def long_rows(report: Report) -> pd.DataFrame:
    """section (eval|compare|run|stage), id (label), eval_id / run_id, step, metric, value."""
    columns = ["section", "id", "source_id", "step", "metric", "value"]
    parts = []
    if not report.evals.empty:
        evals = report.evals.rename_axis("metric").reset_index()
        evals = evals.melt(id_vars="metric", var_name="id", value_name="value")
        ids = report.eval_ids
        parts.append(evals.assign(section="eval", source_id=evals["id"].map(ids), step=pd.NA))
    if report.comparison is not None:
        records = pd.DataFrame(report.comparison.records())
        keys = ["baseline_value", "eval_value", "delta", "ci_low", "ci_high", "p_value", "wins",
                "ties", "losses"]  # fmt: skip
        name = records["metric"].str.replace("@k", "@", regex=False) + records["k"].astype(str)
        long = records.assign(name=name).melt(
            id_vars=["eval_label", "eval", "name"], value_vars=keys, var_name="key"
        )
        parts.append(
            pd.DataFrame(
                {"section": "compare", "id": long["eval_label"], "source_id": long["eval"],
                 "step": pd.NA, "metric": long["name"] + " " + long["key"],
                 "value": long["value"]}
            )
        )  # fmt: skip
    if not report.runs.empty:
        runs = report.runs
        parts.append(
            pd.DataFrame(
                {"section": "run", "id": runs["run"], "source_id": runs["run_id"],
                 "step": runs["step"], "metric": "response_length/" + runs["stat"],
                 "value": runs["value"]}
            )
        )  # fmt: skip
    for sf in report.stage_fits:
        for metric, value in (
            ("w per 1k tokens (per checkpoint)", sf.fit.slope_per_1k),
            ("R^2 (per checkpoint)", sf.fit.fit.r_squared),
            ("checkpoints", len(sf.points)),
        ):
            parts.append(
                pd.DataFrame(
                    [{"section": "stage", "id": sf.run_label, "source_id": sf.dataset,
                      "step": sf.stage.name, "metric": metric, "value": value}]
                )
            )  # fmt: skip
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat([p[columns] for p in parts], ignore_index=True)


def _md_table(frame: pd.DataFrame, *, index: str | None = None) -> str:
    header = ([index] if index else []) + [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, row in frame.iterrows():
        cells = ([str(name)] if index else []) + [_cell(v).replace("|", "\\|") for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _sections(report: Report) -> list[tuple[str, str, pd.DataFrame, str | None]]:
    """(title, note, table, index header or None) in page order."""
    out = []
    if not report.evals.empty:
        out.append(("Evals", "", shown_evals(report), "metric"))
    if report.comparison is not None:
        out.append(("Differences", _differences_note(report), differences_frame(report), None))
    if not report.runs.empty:
        note = (f"Up to {RUN_TABLE_ROWS} evenly spaced steps per run; the CSV report has every"
                " step.")  # fmt: skip
        table = run_lengths_frame(report, RUN_TABLE_ROWS)
        out.append(("Training runs: response length (tokens)", note, table, None))
    if report.stage_fits:
        note = "Least squares of the checkpoints' avg@k on their mean response length."
        out.append(("Accuracy against length per stage", note, stage_frame(report), None))
    return out


def render_markdown(report: Report, paper: PaperFigures | None = None) -> str:
    parts = ["# fipo-bench report", ""]
    parts += [f"> {note}" for note in report.notes] + ([""] if report.notes else [])
    for title, note, table, index in _sections(report):
        parts += [f"## {title}", ""] + ([note, ""] if note else [])
        parts += [_md_table(table, index=index), ""]
    return "\n".join(parts)


def render_csv(report: Report, paper: PaperFigures | None = None) -> str:
    buffer = io.StringIO()
    long_rows(report).to_csv(buffer, index=False)
    return buffer.getvalue()


def render_html(report: Report, paper: PaperFigures | None = None) -> str:
    """Tables, then figures (the paper's too when `paper` holds figures.PaperFigures)."""
    import plotly.io as pio

    from fipo_bench.analysis.figures import report_figures

    blocks = []
    for i, (title, figure) in enumerate(report_figures(report, paper)):
        # plotly.js is inlined once, with the first figure; the others reuse it.
        # Fixed div ids (plotly's default is a fresh uuid4): the same data, the same bytes.
        plot = pio.to_html(figure, include_plotlyjs=(i == 0), full_html=False,
                           config=_PLOTLY_CONFIG, div_id=f"fipo-figure-{i}")  # fmt: skip
        blocks.append(f"<h2>{html.escape(title)}</h2>{plot}")
    tables = [f"<p class='note'>{html.escape(n)}</p>" for n in report.notes]
    for title, note, table, index in _sections(report):
        body = table.to_html(escape=True, index=index is not None, index_names=False)
        tables.append(
            f"<h2>{html.escape(title)}</h2>"
            + (f"<p>{html.escape(note)}</p>" if note else "")
            + body
        )
    style = (
        "body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
        ".note{background:#fff4e5;border-left:4px solid #f0a030;padding:4px 8px}"
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape('fipo-bench report')}</title><style>{style}</style></head><body>"
        "<h1>fipo-bench report</h1>" + "".join(tables) + "".join(blocks) + "</body></html>"
    )


RENDERERS = {"csv": render_csv, "md": render_markdown, "html": render_html}


def write_report(report: Report, fmt: str, out: Path, paper: PaperFigures | None = None) -> Path:
    """Render and write atomically: a temporary file in the same folder, then a rename."""
    check_output(out, fmt, figures=paper is not None)
    text = RENDERERS[fmt](report, paper)
    tmp = out.parent / f".{out.name}.{os.getpid()}.tmp"
    try:
        # 0o666 minus the umask: the permissions any file the user creates gets.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"--out {out}: cannot write the report ({exc.strerror or exc})") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out
