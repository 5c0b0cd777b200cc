"""Response-length statistics and the accuracy-length fit: the one definition of each.

The trainer (`response_length/*` per step), the evaluator, the reports and the dashboard all
call these functions, so a number with one name has one value everywhere.

- Length statistics: min, q25, mean, median, q75, max over response lengths in tokens. The
  quantiles interpolate linearly between order statistics (numpy's default, DuckDB's
  `quantile_cont`, torch.quantile's default): q25 of [1, 2, 3, 4] is 1.75.
- Length quartiles: the samples ranked by length and cut into four equal shares. Lengths tie
  heavily (every truncated response has max_tokens), so a tie rule is needed: a group of equal
  lengths that straddles a cut is split across the quartiles it spans in proportion to the
  ranks it occupies there, each member carrying that fraction of its weight. Every quartile then
  weighs exactly N/4 samples, no quartile is ever empty, and the result depends only on the
  multiset of (length, outcome) pairs, never on the order of the samples or on their ids.
- Accuracy-length fit: ordinary least squares of correctness (0/1) on length, reported as the
  slope w per 1,000 tokens, the intercept, R^2 and Pearson r. Per sample: one point per
  response. Per problem (a separate, differently named number): one point per problem, its mean
  length against its accuracy. Per checkpoint: one point per eval (the paper's Figure 3(f)).

Pure numpy, no package imports.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

LENGTH_STATS = ("min", "q25", "mean", "median", "q75", "max")
QUARTILES = 4
TOKENS_PER_SLOPE_UNIT = 1000.0  # slopes are reported per 1,000 tokens


def length_stats(lengths_tokens: Sequence[float] | np.ndarray) -> dict[str, float]:
    """{min, q25, mean, median, q75, max} of response lengths; {} for no responses."""
    x = np.asarray(lengths_tokens, dtype=np.float64)
    if x.size == 0:
        return {}
    q25, median, q75 = np.quantile(x, [0.25, 0.5, 0.75])
    return {
        "min": float(x.min()),
        "q25": float(q25),
        "mean": float(x.mean()),
        "median": float(median),
        "q75": float(q75),
        "max": float(x.max()),
    }


def _tie_groups(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(distinct lengths, group of each sample, group sizes, [G, 4] ranks each group occupies
    in each quartile); groups in increasing length, so nothing depends on sample order."""
    values, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.float64)  # first rank
    end = start + counts
    cut = x.size * np.arange(QUARTILES + 1) / QUARTILES
    lo, hi = cut[:-1], cut[1:]
    overlap = np.clip(np.minimum(end[:, None], hi) - np.maximum(start[:, None], lo), 0.0, None)
    return values, inverse.reshape(-1), counts, overlap


def quartile_weights(lengths_tokens: Sequence[float] | np.ndarray) -> np.ndarray:
    """[N, 4] weights: row i holds how much of sample i belongs to each length quartile.

    Rows sum to 1 and columns to N/4. A group of g equal lengths occupying ranks [a, a+g) gives
    each member overlap([a, a+g), quartile's ranks) / g of each quartile (module docstring)."""
    x = np.asarray(lengths_tokens, dtype=np.float64)
    if x.size == 0:
        return np.zeros((0, QUARTILES))
    _, group, counts, overlap = _tie_groups(x)
    return (overlap / counts[:, None])[group]


@dataclass(frozen=True)
class QuartileAccuracy:
    """Accuracy of one length quartile (1 = shortest)."""

    quartile: int
    num_samples: float  # N/4: a tie split across quartiles counts fractionally in each
    min_tokens: int  # shortest response with any weight in the quartile
    max_tokens: int  # longest response with any weight in the quartile
    accuracy: float


def accuracy_by_length_quartile(
    lengths_tokens: Sequence[float] | np.ndarray, correct: Sequence[float] | np.ndarray
) -> tuple[QuartileAccuracy, ...]:
    """Accuracy in each length quartile under the tie rule above; () for no samples."""
    x = np.asarray(lengths_tokens, dtype=np.float64)
    y = np.asarray(correct, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"lengths {x.shape} and outcomes {y.shape} differ in shape")
    if x.size == 0:
        return ()
    values, group, counts, overlap = _tie_groups(x)
    # Per tie group first: correct counts are exact integer sums, and the groups come in
    # length order, so the result is bit-for-bit the same for any order of the samples.
    group_accuracy = np.bincount(group, weights=y, minlength=values.size) / counts
    out = []
    for q in range(QUARTILES):
        share = overlap[:, q]
        members = values[share > 0]
        total = float(share.sum())
        out.append(
            QuartileAccuracy(
                quartile=q + 1,
                num_samples=total,
                min_tokens=int(members.min()),
                max_tokens=int(members.max()),
                accuracy=float(share @ group_accuracy) / total,
            )
        )
    return tuple(out)


@dataclass(frozen=True)
class LinearFit:
    """Least squares y = intercept + slope * x. NaN where undefined: everything for fewer than
    two points or when all x are equal; r and R^2 also when all y are equal."""

    slope: float  # per unit of x
    intercept: float
    r_squared: float
    pearson_r: float
    num_points: int

    @property
    def slope_per_1k_tokens(self) -> float:
        """The slope w per 1,000 tokens, when x is a length in tokens."""
        return self.slope * TOKENS_PER_SLOPE_UNIT


def least_squares_fit(
    x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray
) -> LinearFit:
    """Ordinary least squares of y on x (float64, centred sums)."""
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    if xs.shape != ys.shape or xs.ndim != 1:
        raise ValueError(f"x {xs.shape} and y {ys.shape} must be 1-d of equal length")
    n = xs.size
    nan = math.nan
    if n < 2:
        return LinearFit(nan, nan, nan, nan, n)
    dx, dy = xs - xs.mean(), ys - ys.mean()
    sxx, syy, sxy = float(dx @ dx), float(dy @ dy), float(dx @ dy)
    if sxx == 0:
        return LinearFit(nan, nan, nan, nan, n)
    slope = sxy / sxx
    intercept = float(ys.mean()) - slope * float(xs.mean())
    if syy == 0:
        return LinearFit(slope, intercept, nan, nan, n)
    r = sxy / math.sqrt(sxx * syy)
    return LinearFit(slope, intercept, r * r, r, n)


def slopes_along(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Least-squares slopes of y on x along `axis` (vectorised for bootstrap resamples); NaN
    where all x of a slice are equal."""
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    dx = xs - xs.mean(axis=axis, keepdims=True)
    dy = ys - ys.mean(axis=axis, keepdims=True)
    sxx = (dx * dx).sum(axis=axis)
    sxy = (dx * dy).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sxx > 0, sxy / np.where(sxx > 0, sxx, 1.0), np.nan)


def problem_points(
    problem_ids: Sequence[object], lengths_tokens: Sequence[float], correct: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """(mean length, accuracy) per problem, problems in sorted order of their ids."""
    ids = np.asarray([str(p) for p in problem_ids])
    x = np.asarray(lengths_tokens, dtype=np.float64)
    y = np.asarray(correct, dtype=np.float64)
    if not (ids.shape == x.shape == y.shape):
        raise ValueError("problem ids, lengths and outcomes must have one entry per sample")
    _, group, counts = np.unique(ids, return_inverse=True, return_counts=True)
    group = group.reshape(-1)
    mean_len = np.bincount(group, weights=x) / counts
    accuracy = np.bincount(group, weights=y) / counts
    return mean_len, accuracy
