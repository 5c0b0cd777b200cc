"""The report for download: exactly what `fipo-bench report` writes for the same selection.

`fipo_bench.analysis.reports.build_report` and `report_render.RENDERERS` belong to the analysis
layer; this adapter is the one place the dashboard touches them, so a change of their
signatures is a one-file fix here.
"""

from __future__ import annotations

from collections.abc import Sequence

from fipo_bench.analysis.report_render import RENDERERS
from fipo_bench.analysis.reports import build_report

FORMATS = {"md": "text/markdown", "csv": "text/csv", "html": "text/html"}


def report_text(store, eval_ids: Sequence[str], run_ids: Sequence[str], fmt: str) -> str:
    """The report of `eval_ids` and `run_ids` rendered as `fmt` (md|csv|html), the same text
    `fipo-bench report --eval ... --run ... --format FMT` writes to its file."""
    if fmt not in FORMATS:
        raise ValueError(f"report format {fmt!r}; allowed: {', '.join(FORMATS)}")
    with store.reading():
        report = build_report(store, list(eval_ids), list(run_ids))
    return RENDERERS[fmt](report)
