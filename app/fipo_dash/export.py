"""The quartile report for download, produced by fipo_bench.analysis.reports.

The report module belongs to the analysis layer (issue 6). This adapter is the one place the
dashboard touches it, so a change of its signature is a one-file fix here.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

FORMATS = {"csv": "text/csv", "md": "text/markdown", "html": "text/html"}


def reports_module():
    """fipo_bench.analysis.report_render (which builds on .reports), or None while the analysis
    layer is not installed."""
    try:
        importlib.import_module("fipo_bench.analysis.reports")
        return importlib.import_module("fipo_bench.analysis.report_render")
    except ModuleNotFoundError:
        return None


def report_bytes(store, eval_ids: Sequence[str], fmt: str) -> bytes:
    """The report of `eval_ids` in `fmt` (csv|md|html) as bytes, written by the reports module."""
    if fmt not in FORMATS:
        raise ValueError(f"report format {fmt!r}; allowed: {', '.join(FORMATS)}")
    render = reports_module()
    if render is None:
        raise ModuleNotFoundError("fipo_bench.analysis.reports is not installed")
    from fipo_bench.analysis.reports import build_report

    report = build_report(store, list(eval_ids))
    writer = {"csv": render.render_csv, "md": render.render_markdown, "html": render.render_html}
    return writer[fmt](report).encode()
