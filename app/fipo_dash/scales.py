"""Colour scales of the token heatmap, chosen by what each value means.

- future_kl, delta: signed shifts; diverging around 0 (plotly RdBu_r: red = the new policy
  gained probability, blue = lost), symmetric to the 99th percentile of |value|.
- influence_weight: the FIPO weight f = clip(exp(FutureKL), low, high); diverging around 1 on
  the clip band the credit was computed with, its two edges marked; a token at an edge was
  clipped there.
- entropy: >= 0; sequential from 0 (plotly Purples) to its 99th percentile.
- logp: <= 0; sequential from 0 (white: certain) down to its 1st percentile (plotly Blues).

A value beyond the scale is drawn in the end colour and counted as saturated, so the legend can
say how many tokens the scale cuts off. Palettes are PALETTE_SIZE colours sampled from the
named plotly scale (the darkest ends left out so the token text stays readable).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from functools import cache

import numpy as np
from plotly.colors import sample_colorscale, unlabel_rgb

PALETTE_SIZE = 201
MID = PALETTE_SIZE // 2
EDGE_TOL = 1e-6  # a weight this close to a band edge was clipped there


@dataclass(frozen=True)
class ScaleSpec:
    name: str
    kind: str  # diverging | band | sequential | nonpositive
    colourscale: str  # plotly named colour scale
    lightest: float  # the sampled part of the named scale
    darkest: float
    meaning: str  # for the legend


SPECS: dict[str, ScaleSpec] = {
    s.name: s
    for s in (
        ScaleSpec(
            "future_kl", "diverging", "RdBu_r", 0.15, 0.85,
            "red: later tokens gained probability under the new policy; blue: lost",
        ),
        ScaleSpec(
            "influence_weight", "band", "RdBu_r", 0.15, 0.85,
            "f > 1 amplifies the token's advantage, f < 1 damps it",
        ),
        ScaleSpec(
            "delta", "diverging", "RdBu_r", 0.15, 0.85,
            "log-prob shift; red: more likely under the new policy",
        ),
        ScaleSpec("entropy", "sequential", "Purples", 0.0, 0.7, "nats; darker: less certain"),
        ScaleSpec("logp", "nonpositive", "Blues", 0.0, 0.7, "darker: the token was less likely"),
    )
}  # fmt: skip


@cache
def palette(name: str) -> tuple[str, ...]:
    """PALETTE_SIZE hex colours of the scale, lowest value first (for nonpositive: from 0)."""
    spec = SPECS[name]
    where = np.linspace(spec.lightest, spec.darkest, PALETTE_SIZE)
    colours = sample_colorscale(spec.colourscale, where.tolist())
    return tuple("#{:02x}{:02x}{:02x}".format(*map(round, unlabel_rgb(c))) for c in colours)


@dataclass(frozen=True)
class Scale:
    """A scale fitted to values: low..high on the palette (mid: the diverging centre)."""

    spec: ScaleSpec
    low: float
    mid: float | None
    high: float
    edges: tuple[float, ...] = ()  # the clip band's edges (influence weight)

    def index(self, values: np.ndarray) -> np.ndarray:
        """Palette index per value, -1 where the value is missing (NaN)."""
        v = np.asarray(values, dtype=np.float64)
        if self.mid is None:
            t = (v - self.low) / (self.high - self.low)
            if self.spec.kind == "nonpositive":
                t = 1.0 - t  # 0 (certain) is the light end
            pos = np.clip(t, 0.0, 1.0) * (PALETTE_SIZE - 1)
        else:
            # Each side of the centre spans its own half of the palette. A band like [1.0, 1.2]
            # has no lower half: a weight below it (the safety clamp into [0.8, 1.0]) takes
            # the far blue end and counts as saturated.
            t = np.zeros_like(v)
            lower, upper = v < self.mid, v > self.mid
            t[lower] = (v[lower] - self.mid) / (self.mid - self.low) if self.mid > self.low else -1
            t[upper] = (v[upper] - self.mid) / (self.high - self.mid) if self.high > self.mid else 1
            pos = MID + np.clip(t, -1.0, 1.0) * MID
        out = np.rint(np.nan_to_num(pos)).astype(np.int64)
        out[~np.isfinite(v)] = -1
        return out

    def saturated(self, values: np.ndarray) -> np.ndarray:
        """Values the scale cannot tell apart from its end: beyond it, or at a band edge."""
        v = np.asarray(values, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            out = (v < self.low - EDGE_TOL) | (v > self.high + EDGE_TOL)
            for edge in self.edges:
                out |= np.abs(v - edge) <= EDGE_TOL
        return out & np.isfinite(v)

    def ticks(self) -> list[float]:
        mids = [] if self.mid is None or self.mid in (self.low, self.high) else [self.mid]
        return [self.low, *mids, self.high]


def _percentile(values: np.ndarray, q: float, fallback: float) -> float:
    finite = values[np.isfinite(values)]
    return float(np.percentile(finite, q)) if finite.size else fallback


def fit_scale(name: str, values: np.ndarray, band: tuple[float, float] | None = None) -> Scale:
    """The scale of `name` for these values (all panels of a page together, so equal colours
    mean equal values). band: the stored influence clip band (low, high), when known."""
    spec = SPECS[name]
    v = np.asarray(values, dtype=np.float64)
    if spec.kind == "diverging":
        span = _percentile(np.abs(v), 99, 1.0)
        span = span if span > 1e-9 else 1.0
        return Scale(spec, -span, 0.0, span)
    if spec.kind == "sequential":
        high = _percentile(v, 99, 1.0)
        return Scale(spec, 0.0, None, high if high > 1e-9 else 1.0)
    if spec.kind == "nonpositive":
        low = _percentile(v, 1, -1.0)
        return Scale(spec, low if low < -1e-9 else -1.0, None, 0.0)
    if band is not None:
        low, high = band
        return Scale(spec, low, min(max(1.0, low), high), high, edges=(low, high))
    low, high = min(_percentile(v, 1, 1.0), 1.0), max(_percentile(v, 99, 1.0), 1.0)
    if high - low < 1e-9:
        low, high = 0.8, 1.2
    return Scale(spec, low, 1.0, high)


def palette_css(name: str) -> str:
    """One CSS class per palette entry ("c0".."c200", "cn" for a missing value): a token's
    markup carries a short class instead of an inline style, which matters at 20,000 tokens."""
    rules = "".join(f".fipo-traj .c{i}{{background:{c}}}" for i, c in enumerate(palette(name)))
    return rules + f".fipo-traj .cn{{background:{NA_COLOUR}}}"


NA_COLOUR = "#e6e6e6"  # a token without a value for the chosen scalar (credit not computed)


def legend_html(scale: Scale, n_saturated: int, n_missing: int) -> str:
    """Colour bar with its tick values and band edges, how many tokens the scale saturates
    and how many have no value."""
    colours = palette(scale.spec.name)
    stops = ",".join(colours[i] for i in range(0, PALETTE_SIZE, PALETTE_SIZE // 10))
    ticks = " · ".join(f"{t:.3g}" for t in scale.ticks())
    band = (
        f"<span><b>clip band [{scale.edges[0]:g}, {scale.edges[1]:g}]</b>: the bar's ends;"
        " tokens at an edge were clipped (top mark)</span>"
        if scale.edges
        else ""
    )
    saturated = (
        f"<span>{n_saturated:,} tokens beyond the scale, drawn at its end (top mark)</span>"
        if n_saturated and not scale.edges
        else (f"<span>{n_saturated:,} tokens at the band's edges</span>" if n_saturated else "")
    )
    missing = (
        f'<span><span class="sw" style="background:{NA_COLOUR};"></span>'
        f"{n_missing:,} tokens with no value</span>"
        if n_missing
        else ""
    )
    return (
        f'<div class="fipo-legend"><b>{scale.spec.name}</b><span>{scale.low:.3g}</span>'
        f'<span class="bar" style="background:linear-gradient(to right,{stops})"></span>'
        f"<span>{scale.high:.3g}</span><span>(ticks {ticks}; {html.escape(scale.spec.meaning)})"
        f"</span>{band}{saturated}{missing}</div>"
    )
