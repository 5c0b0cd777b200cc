"""A trajectory as HTML: one <span> per token, background coloured by a chosen scalar.

The scale is diverging and named by meaning (Inspect-style): blue below the centre, white at
it, red above; the centre is 0 for signed quantities and 1 for the influence weight (f_t = 1
means "no reweighting"). Colours come from a 201-entry palette indexed with numpy, as one CSS
class per entry, so a token's span carries only its class; the hover details and the spans
themselves reach the browser inside the panel's script (heatmap_js.py), which keeps a
20,000-token trajectory to about a second of server and browser work.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from fipo_dash.heatmap_js import panel_script

# Every per-token value the store holds, in the order the hover text lists them.
VALUE_COLUMNS = ("logp", "ref_logp", "delta", "future_kl", "influence_weight", "entropy")


@dataclass(frozen=True)
class Scalar:
    name: str
    centre: float
    meaning: str  # what red (above the centre) means, for the legend


SCALARS: dict[str, Scalar] = {
    s.name: s
    for s in (
        Scalar("future_kl", 0.0, "later tokens gained probability under the new policy"),
        Scalar("influence_weight", 1.0, "advantage amplified (f > 1)"),
        Scalar("delta", 0.0, "token more likely under the new policy"),
        Scalar("entropy", 0.0, "policy uncertain here"),
        Scalar("logp", 0.0, "(log-probs are <= 0: bluer is less likely)"),
    )
}

PIVOT_COLOURS = {"keyword": "#7b3294", "credit": "#e08214", "entropy": "#1b7837"}
NA_COLOUR = "#e6e6e6"  # a token without a value for the chosen scalar (credit not computed)
_STEPS = 100  # palette entries per side of the centre


def _palette() -> np.ndarray:
    """Hex colours from blue (-1) through white (0) to red (+1), 2 * _STEPS + 1 entries."""
    blue, white, red = np.array([33, 102, 172]), np.array([247, 247, 247]), np.array([178, 24, 43])
    t = np.linspace(-1.0, 1.0, 2 * _STEPS + 1)[:, None]
    rgb = np.where(t < 0, white + (blue - white) * -t, white + (red - white) * t)
    return np.array([f"#{r:02x}{g:02x}{b:02x}" for r, g, b in np.rint(rgb).astype(int)])


PALETTE = _palette()


def colour_span(values: np.ndarray, centre: float) -> float:
    """Half-width of the colour scale: the 99th percentile of |value - centre|.

    A percentile, not the maximum, so one outlier token does not wash out the rest; never 0.
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 1.0
    span = float(np.percentile(np.abs(finite - centre), 99))
    return span if span > 1e-9 else 1.0


def colour_index(values: np.ndarray, centre: float, span: float) -> np.ndarray:
    """Palette index per value (-1 where the value is NaN), vectorised."""
    t = np.clip((values - centre) / span, -1.0, 1.0)
    index = np.rint((np.nan_to_num(t) + 1.0) * _STEPS).astype(np.int64)
    index[~np.isfinite(values)] = -1
    return index


def colours(values: np.ndarray, centre: float, span: float) -> np.ndarray:
    """Background colour per value (NA_COLOUR where the value is NaN), vectorised."""
    index = colour_index(values, centre, span)
    out = PALETTE[index].astype(object)
    out[index < 0] = NA_COLOUR
    return out


# One CSS class per palette entry ("c0".."c200", "cn" for NaN): a token's markup carries a
# 4-byte class instead of a 30-byte inline style, which matters at 20,000 tokens.
PALETTE_CSS = "".join(f".fipo-traj .c{i}{{background:{c}}}" for i, c in enumerate(PALETTE))
PALETTE_CSS += f".fipo-traj .cn{{background:{NA_COLOUR}}}"


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
    span: float


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
.fipo-traj .pv{box-shadow:inset 0 -3px 0 var(--pv);outline:1px solid var(--pv);scroll-margin:60px}
.fipo-traj .pv:target{outline:3px solid var(--pv)}
.fipo-traj .pvlist{margin-top:6px;font-size:12px;line-height:1.6;max-height:160px;overflow-y:auto}
.fipo-traj .pvlist a{color:#1f4e79;text-decoration:none;margin-right:10px;white-space:nowrap}
.fipo-traj .badge{display:inline-block;border-radius:3px;padding:0 4px;color:#fff;font-size:11px}
.fipo-legend{font-family:sans-serif;font-size:12px;display:flex;align-items:center;gap:8px;
  flex-wrap:wrap;margin:4px 0 8px}
.fipo-legend .bar{width:180px;height:12px;border:1px solid #ccc;border-radius:2px;
  background:linear-gradient(to right,#2166ac,#f7f7f7,#b2182b)}
.fipo-legend .sw{display:inline-block;width:12px;height:12px;border-radius:2px;
  vertical-align:middle;margin-right:3px}
</style>
""".replace("</style>", PALETTE_CSS + "</style>")


def legend_html(scalar: str, span: float) -> str:
    """Colour bar with its three tick values, the NaN swatch and the pivot kinds."""
    spec = SCALARS[scalar]
    low, mid, high = spec.centre - span, spec.centre, spec.centre + span
    kinds = "".join(
        f'<span><span class="sw" style="background:{c};"></span>{k} pivot</span>'
        for k, c in PIVOT_COLOURS.items()
    )
    return (
        f'<div class="fipo-legend"><b>{scalar}</b><span>{low:.3g}</span><span class="bar"></span>'
        f"<span>{high:.3g}</span><span>(white = {mid:g}; red: {html.escape(spec.meaning)})</span>"
        f'<span><span class="sw" style="background:{NA_COLOUR};"></span>no value</span>{kinds}'
        "</div>"
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
    scalar: str,
    *,
    anchor: str = "a",
    span: float | None = None,
    title: str = "",
) -> Rendered:
    """HTML of one trajectory: legend-less token spans, then the list of pivot jump links.

    tokens: rows of one sample by pos (Store.trajectory). pivots: rows (pos, kind, label,
    score) of the same sample, or None. anchor: prefix of the element ids, distinct per panel
    so two trajectories can share a page. span: colour half-width (shared between panels so
    their colours compare); default from this trajectory's values.
    """
    if scalar not in SCALARS:
        raise ValueError(f"scalar {scalar!r}; allowed: {', '.join(SCALARS)}")
    centre = SCALARS[scalar].centre
    values = _column(tokens, scalar)
    span = colour_span(values, centre) if span is None else span
    classes = [f"c{i}" if i >= 0 else "cn" for i in colour_index(values, centre, span).tolist()]
    positions = tokens["pos"].to_pylist()
    texts = ["" if t is None else t for t in tokens["token"].to_pylist()]

    pivot_rows = (
        [] if pivots is None else pivots.select(["pos", "kind", "label", "score"]).to_pylist()
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
            kinds = " ".join(m["kind"] for m in marks)
            colour = PIVOT_COLOURS.get(marks[0]["kind"], "#000")
            parts.append(
                f'<span class="tok {colour_class} pv" id="{anchor}-p{pos}" data-pivot="{kinds}"'
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
    header = f"<div><b>{html.escape(title)}</b></div>" if title else ""
    pivot_block = (
        f'<div class="pvlist"><b>{len(links)} pivots</b> (click to jump): {"".join(links)}</div>'
        if links
        else '<div class="pvlist">no pivots stored for this sample'
        " (run <code>fipo-bench credit</code>)</div>"
    )
    body = (
        f'<div class="fipo-traj" id="{anchor}">{header}<div class="toks"></div>'
        f'{pivot_block}<div class="tip" hidden></div>{script}</div>'
    )
    return Rendered(html=body, n_tokens=len(positions), n_pivots=len(links), span=span)


def shared_span(tables: Sequence[pa.Table], scalar: str) -> float:
    """One colour half-width for several panels, so equal colours mean equal values."""
    centre = SCALARS[scalar].centre
    values = [_column(t, scalar) for t in tables if t.num_rows]
    return colour_span(np.concatenate(values), centre) if values else 1.0


def has_values(tokens: pa.Table, scalar: str) -> bool:
    return bool(np.isfinite(_column(tokens, scalar)).any())
