"""Accuracy against response length: one definition, three named bases.

- per sample: one point per response (length in tokens, correct 0/1). The slope w answers "how
  much likelier is a response to be right per 1,000 more tokens", within one eval.
- per problem: one point per problem (its mean length, its accuracy). Mixes difficulty into
  the slope (hard problems draw long answers), so it is reported separately and never called
  by the per-sample name.
- per checkpoint: one point per eval of a training run (mean length, avg@k), fitted within
  each stage of steps the user names: the paper's Figure 3(f).

Every fit is `algos.lengths.least_squares_fit` (slope per 1k tokens, intercept, R^2, Pearson
r); the per-sample and per-problem slopes also get a 95% bootstrap interval (seeded) over the
points of the fit: BCa up to 1,000 points, the percentile interval above.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fipo_bench.algos.lengths import (
    TOKENS_PER_SLOPE_UNIT,
    LinearFit,
    least_squares_fit,
    problem_points,
    slopes_along,
)
from fipo_bench.analysis.stats import CONFIDENCE, bootstrap_interval
from fipo_bench.errors import ConfigError
from fipo_bench.eval.metrics import SampleOutcome

BASES = ("per sample", "per problem", "per checkpoint")
# Slope intervals resample the fit's points; 2,000 resamples keep an interval's ends steady
# to a few % of its width.
SLOPE_RESAMPLES = 2_000
# Above this many points the slope interval is the percentile one: BCa's jackknife refits the
# line once per point left out (O(N^2)), and with thousands of points both agree.
BCA_MAX_POINTS = 1_000


@dataclass(frozen=True)
class LengthFit:
    """Least-squares accuracy ~ length on one basis, with a bootstrap interval for w."""

    basis: str  # one of BASES
    fit: LinearFit
    slope_ci_low: float  # per 1k tokens (NaN when not computed or undefined)
    slope_ci_high: float

    @property
    def slope_per_1k(self) -> float:
        return self.fit.slope_per_1k_tokens

    @property
    def name(self) -> str:
        """The label every table and figure uses, e.g. 'w per 1k tokens (per sample)'."""
        return f"w per 1k tokens ({self.basis})"


def _slope(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return slopes_along(x, y, axis=axis) * TOKENS_PER_SLOPE_UNIT


def _fit(
    basis: str, x: np.ndarray, y: np.ndarray, *, resamples: int, seed: int, confidence: float
) -> LengthFit:
    fit = least_squares_fit(x, y)
    if resamples < 1 or not math.isfinite(fit.slope) or x.size < 3:
        return LengthFit(basis, fit, math.nan, math.nan)
    method = "BCa" if x.size <= BCA_MAX_POINTS else "percentile"
    low, high = bootstrap_interval(
        (x, y), _slope, resamples=resamples, seed=seed, confidence=confidence, paired=True,
        method=method,
    )  # fmt: skip
    return LengthFit(basis, fit, float(low[0]), float(high[0]))


def sample_length_fit(
    outcomes: Sequence[SampleOutcome],
    *,
    resamples: int = SLOPE_RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> LengthFit:
    """Per sample: correctness (0/1) of each response on its length."""
    x = np.array([o.n_tokens for o in outcomes], dtype=np.float64)
    y = np.array([o.correct for o in outcomes], dtype=np.float64)
    return _fit("per sample", x, y, resamples=resamples, seed=seed, confidence=confidence)


def problem_length_fit(
    outcomes: Sequence[SampleOutcome],
    *,
    resamples: int = SLOPE_RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> LengthFit:
    """Per problem: each problem's accuracy on its mean response length."""
    x, y = problem_points(
        [o.problem_id for o in outcomes],
        [o.n_tokens for o in outcomes],
        [float(o.correct) for o in outcomes],
    )
    return _fit("per problem", x, y, resamples=resamples, seed=seed, confidence=confidence)


# ---- stages of a training run (Figure 3(f)) -------------------------------------------------

_STAGE = re.compile(r"\s*(\d+)\s*-\s*(\d+)\s*")


@dataclass(frozen=True)
class Stage:
    """Steps first <= step < last, except that the last stage of a list also holds `last`."""

    first: int
    last: int
    closed: bool = False  # True for the last stage: `last` itself belongs to it

    def holds(self, step: int) -> bool:
        return self.first <= step < self.last or (self.closed and step == self.last)

    @property
    def name(self) -> str:
        return f"steps {self.first}-{self.last}"


def parse_stages(text: str) -> tuple[Stage, ...]:
    """'0-100,100-300' -> two stages. ConfigError naming the bad part and what is allowed:
    comma-separated FIRST-LAST step ranges, FIRST < LAST, in increasing order, not overlapping."""
    parts = [p for p in text.split(",") if p.strip()]
    if not parts:
        raise ConfigError(f"--stages {text!r} is empty; allowed: ranges like 0-100,100-300")
    ranges = []
    for part in parts:
        match = _STAGE.fullmatch(part)
        if match is None:
            raise ConfigError(
                f"--stages part {part.strip()!r} is invalid; allowed: FIRST-LAST steps, e.g. 0-100"
            )
        first, last = int(match[1]), int(match[2])
        if first >= last:
            raise ConfigError(f"--stages part {part.strip()!r} is invalid; allowed: FIRST < LAST")
        if ranges and first < ranges[-1][1]:
            raise ConfigError(
                f"--stages part {part.strip()!r} overlaps or precedes the one before it;"
                " allowed: increasing, non-overlapping ranges"
            )
        ranges.append((first, last))
    return tuple(Stage(a, b, closed=i == len(ranges) - 1) for i, (a, b) in enumerate(ranges))


@dataclass(frozen=True)
class CheckpointPoint:
    """One eval of a training run's checkpoint: a point of Figures 1 and 3(f)."""

    eval_id: str
    label: str
    dataset: str
    step: int
    n: int  # samples per problem (the k of avg@k and cons@k)
    accuracy: float  # avg@k
    cons: float  # cons@k
    mean_length_tokens: float
    partial: bool  # the eval is still running, was killed or failed


@dataclass(frozen=True)
class StageFit:
    run_label: str
    dataset: str
    stage: Stage
    points: tuple[CheckpointPoint, ...]
    fit: LengthFit


def stage_fits(
    points: Sequence[CheckpointPoint], stages: Sequence[Stage], *, run_label: str, dataset: str
) -> list[StageFit]:
    """Per stage: the least-squares fit of accuracy on mean length over its checkpoints (no
    interval: a stage has a handful of points). A stage without checkpoints is left out."""
    out = []
    for stage in stages:
        inside = tuple(sorted((p for p in points if stage.holds(p.step)), key=lambda p: p.step))
        if not inside:
            continue
        x = np.array([p.mean_length_tokens for p in inside])
        y = np.array([p.accuracy for p in inside])
        fit = LengthFit("per checkpoint", least_squares_fit(x, y), math.nan, math.nan)
        out.append(StageFit(run_label, dataset, stage, inside, fit))
    return out
