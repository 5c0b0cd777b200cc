"""A trajectory as HTML: one <span> per token, background coloured by a chosen scalar.

The colour scale follows the value's meaning (scales.py). Colours come from a 201-entry
palette indexed with numpy, as one CSS class per entry, so a token's span carries only its
class; the hover details and the spans themselves reach the browser inside the panel's script
(heatmap_js.py), which keeps a 20,000-token trajectory to about a second of server and browser
work. A pivot is an underline in its kind's colour and a saturated value a mark along the
top, so neither hides the token's own colour.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from fipo_dash.heatmap_js import panel_script
from fipo_dash.scales import SPECS, Scale, fit_scale

# Every per-token value the store holds, in the order the hover text lists them.
VALUE_COLUMNS = ("logp", "ref_logp", "delta", "future_kl", "influence_weight", "entropy")
SCALARS = tuple(SPECS)  # what a heatmap can be coloured by

PIVOT_COLOURS = {"keyword": "#7b3294", "credit": "#e08214", "entropy": "#1b7837"}
PIVOT_KINDS = tuple(PIVOT_COLOURS)
DEFAULT_PIVOT_KINDS = ("keyword", "credit")  # entropy pivots are many and say the least


def _column(tokens: pa.Table, name: str) -> np.ndarray:
    if name not in tokens.column_names:
        return np.full(tokens.num_rows, np.nan)
    return tokens[name].to_numpy(zero_copy_only=False).astype(np.float64)


def _display(token: str) -> str:
    """Escaped token text; a newline shows as a visible mark before the line break."""
    text = html.escape(token, quote=False)
    return text.replace("\n", "\u21b5\n") if "\n" in text else text


@dataclass(frozen=True)
class Rendered:
    html: str
    n_tokens: int
    n_pivots: int


CSS = """
<style>
.fipo-traj{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:13px;line-height:1.75}
.fipo-traj .toks{white-space:pre-wrap;word-break:break-all;border:1px solid #ddd;border-radius:6px;
  padding:8px 10px;max-height:560px;overflow-y:auto;background:#fff}
.fipo-traj{position:relative}
.fipo-traj .ln{content-visibility:auto;contain-intrinsic-size:auto 23px}
.fipo-traj .tok{border-radius:2px;padding:1px 0}
.fipo-traj .tip{position:absolute;z-index:5;white-space:pre;pointer-events:none;font-size:12px;
  background:#222;color:#fff;border-radius:4px;padding:4px 6px;line-height:1.4}
.fipo-traj .pv{text-decoration:underline 3px var(--pv);text-underline-offset:3px;
  text-decoration-skip-ink:none;scroll-margin:60px}
.fipo-traj .pv:target{outline:2px solid var(--pv)}
.fipo-traj .sat{box-shadow:inset 0 2px 0 #111}
.fipo-traj .pvlist{margin-top:6px;font-size:12px;line-height:1.6;max-height:160px;overflow-y:auto}
.fipo-traj .pvlist a{color:#1f4e79;text-decoration:none;margin-right:10px;white-space:nowrap}
.fipo-traj .badge{display:inline-block;border-radius:3px;padding:0 4px;color:#fff;font-size:11px}
.fipo-legend{font-family:sans-serif;font-size:12px;display:flex;align-items:center;gap:8px;
  flex-wrap:wrap;margin:4px 0 8px}
.fipo-legend .bar{width:180px;height:12px;border:1px solid #ccc;border-radius:2px}
.fipo-legend .sw{display:inline-block;width:12px;height:12px;border-radius:2px;
  vertical-align:middle;margin-right:3px}
</style>
"""


def pivot_legend_html(kinds: Sequence[str]) -> str:
    """The underline colour of each pivot kind shown."""
    return "".join(
        f'<span><span class="sw" style="background:{PIVOT_COLOURS[k]};"></span>{k} pivot</span>'
        for k in kinds
    )


def pivot_spans(rows: Iterable[Mapping]) -> list[tuple[str, str, int, int]]:
    """One (kind, label, first_pos, last_pos) per pivot *hit*, ordered by position: a keyword
    phrase covers several tokens (one stored row each, sharing kind, label and score), so its
    rows become one jump link instead of one link per character token."""

    def key(row: Mapping) -> tuple[str, str, float]:
        score = row["score"]
        return row["kind"], str(row["label"] or ""), -math.inf if score is None else float(score)

    spans: list[tuple[str, str, int, int]] = []
    previous = None
    for row in sorted(rows, key=lambda r: (*key(r), int(r["pos"]))):
        this, pos = key(row), int(row["pos"])
        if this == previous and pos == spans[-1][3] + 1:
            spans[-1] = (*spans[-1][:3], pos)
        else:
            spans.append((this[0], this[1], pos, pos))
            previous = this
    return sorted(spans, key=lambda span: span[2])


def trajectory_html(
    tokens: pa.Table,
    pivots: pa.Table | None,
    scale: Scale,
    *,
    kinds: Sequence[str] = DEFAULT_PIVOT_KINDS,
    anchor: str = "a",
    title: str = "",
    colour: str | None = None,
    no_pivots: str = "no pivots stored for this sample",
) -> Rendered:
    """HTML of one trajectory: legend-less token spans, then the list of pivot jump links.

    tokens: rows of one sample by pos (Store.trajectory). pivots: rows (pos, kind, label,
    score) of the same sample, or None; only `kinds` are marked and listed. scale: the page's
    fitted scale (shared between panels so their colours compare). anchor: prefix of the
    element ids, distinct per panel so several trajectories can share a page. colour: the
    eval's or run's colour (series_style), a bar beside the title. no_pivots: what
    the pivot line says when no pivot of `kinds` is stored (analysed or not: the caller knows).
    """
    values = _column(tokens, scale.spec.name)
    index = scale.index(values)
    saturated = scale.saturated(values)
    classes = [
        (f"c{i} sat" if sat else f"c{i}") if i >= 0 else "cn"
        for i, sat in zip(index.tolist(), saturated.tolist(), strict=True)
    ]
    positions = tokens["pos"].to_pylist()
    texts = ["" if t is None else t for t in tokens["token"].to_pylist()]

    shown_kinds = set(kinds)
    pivot_rows = (
        []
        if pivots is None
        else [
            r
            for r in pivots.select(["pos", "kind", "label", "score"]).to_pylist()
            if r["kind"] in shown_kinds
        ]
    )
    pivot_at: dict[int, list[dict]] = {}
    for row in pivot_rows:
        pivot_at.setdefault(int(row["pos"]), []).append(row)

    # One short span per token (colour class only: hover details live in one JSON array),
    # grouped into one block per text line so content-visibility can skip off-screen lines.
    parts = ['<div class="ln">']
    for pos, text, colour_class in zip(positions, texts, classes, strict=True):
        marks = pivot_at.get(pos)
        if marks is None:
            parts.append(f'<span class="tok {colour_class}">{_display(text)}</span>')
        else:
            marked = " ".join(m["kind"] for m in marks)
            colour = PIVOT_COLOURS.get(marks[0]["kind"], "#000")
            parts.append(
                f'<span class="tok {colour_class} pv" id="{anchor}-p{pos}" data-pivot="{marked}"'
                f' style="--pv:{colour}">{_display(text)}</span>'
            )
        if "\n" in text:
            parts.append('</div><div class="ln">')
    parts.append("</div>")
    marks_text = {
        pos: ", ".join(f"{m['kind']} {m['label'] or ''}".strip() for m in marks)
        for pos, marks in pivot_at.items()
    }
    script = panel_script(
        "".join(parts),
        VALUE_COLUMNS,
        [_column(tokens, c) for c in VALUE_COLUMNS],
        positions,
        marks_text,
    )

    links = []
    shown = set(positions)
    for kind, label, first, last in pivot_spans(r for r in pivot_rows if int(r["pos"]) in shown):
        # (pivots outside this token window have no element to jump to)
        colour = PIVOT_COLOURS.get(kind, "#000")
        where = f"@{first}" if first == last else f"@{first}-{last}"
        links.append(
            f'<a href="#{anchor}-p{first}"><span class="badge" style="background:{colour}">'
            f"{kind}</span> {where} {html.escape(label)}</a>"
        )
    bar = f' style="border-left:6px solid {colour};padding-left:6px"' if colour else ""
    header = f"<div{bar}><b>{html.escape(title)}</b></div>" if title else ""
    pivot_block = (
        f'<div class="pvlist"><b>{len(links)} pivots</b> (click to jump): {"".join(links)}</div>'
        if links
        else f'<div class="pvlist">{no_pivots}</div>'
    )
    body = (
        f'<div class="fipo-traj" id="{anchor}">{header}<div class="toks"></div>'
        f'{pivot_block}<div class="tip" hidden></div>{script}</div>'
    )
    return Rendered(html=body, n_tokens=len(positions), n_pivots=len(links))


def page_scale(
    tables: Sequence[pa.Table], scalar: str, band: tuple[float, float] | None = None
) -> Scale:
    """One scale for several panels, so equal colours mean equal values."""
    values = [_column(t, scalar) for t in tables if t.num_rows]
    return fit_scale(scalar, np.concatenate(values) if values else np.array([]), band)


def value_counts(tables: Sequence[pa.Table], scale: Scale) -> tuple[int, int]:
    """(saturated, missing) tokens of the panels on this scale, for the legend."""
    values = [_column(t, scale.spec.name) for t in tables if t.num_rows]
    if not values:
        return 0, 0
    joined = np.concatenate(values)
    return int(scale.saturated(joined).sum()), int((~np.isfinite(joined)).sum())


def has_values(tokens: pa.Table, scalar: str) -> bool:
    return bool(np.isfinite(_column(tokens, scalar)).any())
