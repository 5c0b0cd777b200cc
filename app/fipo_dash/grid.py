"""The per-problem correctness grid as an HTML table whose every cell links to trajectories."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import pandas as pd

from fipo_dash.links import trajectory_url

MAX_PROBLEMS = 300  # rows shown; beyond this a grid stops being readable


def _cell_colour(accuracy: float) -> str:
    """Good-high scale: white (0) to green (1)."""
    white, green = (247, 247, 247), (27, 120, 55)
    r, g, b = (round(w + (c - w) * accuracy) for w, c in zip(white, green, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def grid_html(grid: pd.DataFrame, eval_ids: Sequence[str], labels: Mapping[str, str]) -> str:
    """Rows: problems; columns: evals; a cell shows n_correct/n and opens that problem with
    every compared eval side by side, the clicked one first."""
    head = "".join(f"<th>{html.escape(labels.get(e, e))}</th>" for e in eval_ids)
    body = []
    for problem_id in list(grid.index)[:MAX_PROBLEMS]:
        cells = []
        for eval_id in eval_ids:
            n = grid.loc[problem_id, ("n", eval_id)]
            if pd.isna(n):
                cells.append('<td class="empty">-</td>')
                continue
            correct = int(grid.loc[problem_id, ("n_correct", eval_id)])
            order = [eval_id, *(e for e in eval_ids if e != eval_id)]
            url = html.escape(trajectory_url(order, str(problem_id)), quote=True)
            acc = correct / int(n)
            colour = "#fff" if acc > 0.6 else "#222"
            cells.append(
                f'<td style="background:{_cell_colour(acc)};color:{colour}">'
                f'<a class="cell" href="{url}" target="_self" style="color:{colour}">'
                f"{correct}/{int(n)}</a></td>"
            )
        body.append(f"<tr><th>{html.escape(str(problem_id))}</th>{''.join(cells)}</tr>")
    more = len(grid.index) - MAX_PROBLEMS
    note = f"<p>{more} more problems not shown</p>" if more > 0 else ""
    return (
        "<style>.fipo-grid{border-collapse:collapse;font:12px sans-serif}"
        ".fipo-grid td,.fipo-grid th{border:1px solid #ddd;padding:2px 8px;text-align:center}"
        ".fipo-grid a.cell{display:block;text-decoration:none}</style>"
        f'<div style="max-height:420px;overflow:auto"><table class="fipo-grid">'
        f"<tr><th>problem</th>{head}</tr>{''.join(body)}</table></div>{note}"
    )
