"""How often an eval's responses reflect, and whether reflecting goes with being right.

A response reflects when the reflection lexicon matches it at least once (whole words, case
insensitive: `fipo_bench.reflection`, the one lexicon training and the pivots count with too);
its reflection count is the number of matches. Per
eval:
- reflection rate: the share of responses with at least one reflection;
- accuracy of reflective and of direct (non-reflective) responses, and their gap;
- reflections per 1,000 response tokens.
Each is a ratio of sums over responses; its 95% interval is a bootstrap over problems (BCa,
seeded): the samples of one problem share its difficulty, so problems are the independent
units. A ratio whose denominator is 0 (no reflective response at all) is NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fipo_bench.analysis.stats import CONFIDENCE, bootstrap_interval

REFLECTION_RESAMPLES = 2_000
PER_TOKENS = 1000.0


@dataclass(frozen=True)
class Ratio:
    value: float
    ci_low: float
    ci_high: float
    numerator: float
    denominator: float


@dataclass(frozen=True)
class ReflectionStats:
    num_samples: int
    num_problems: int
    rate: Ratio  # responses with >= 1 reflection / responses
    accuracy_reflective: Ratio
    accuracy_direct: Ratio
    accuracy_gap: Ratio  # reflective - direct (numerator/denominator: the two accuracies)
    per_1k_tokens: Ratio  # reflections per 1,000 response tokens


def _ratios(num: np.ndarray, den: np.ndarray, axis: int = -1) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return num.sum(axis=axis) / den.sum(axis=axis)


def _gap(
    c_ref: np.ndarray, n_ref: np.ndarray, c_dir: np.ndarray, n_dir: np.ndarray, axis: int = -1
) -> np.ndarray:
    return _ratios(c_ref, n_ref, axis) - _ratios(c_dir, n_dir, axis)


def reflection_stats(
    problem_ids: Sequence[str],
    reflections: Sequence[int],
    correct: Sequence[bool],
    n_tokens: Sequence[int],
    *,
    resamples: int = REFLECTION_RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> ReflectionStats:
    """Statistics of one eval from its responses: problem id, reflection count, correctness
    and length of each."""
    ids = np.asarray([str(p) for p in problem_ids])
    hits = np.asarray(reflections, dtype=np.float64)
    right = np.asarray(correct, dtype=np.float64)
    tokens = np.asarray(n_tokens, dtype=np.float64)
    if not (ids.size == hits.size == right.size == tokens.size) or ids.size == 0:
        raise ValueError("reflection_stats needs one id, count, outcome and length per response")
    _, group = np.unique(ids, return_inverse=True)
    group = group.reshape(-1)

    def per_problem(values: np.ndarray) -> np.ndarray:
        return np.bincount(group, weights=values)

    reflective = (hits > 0).astype(np.float64)
    n = per_problem(np.ones_like(hits))
    r = per_problem(reflective)
    c_ref = per_problem(reflective * right)
    c_dir = per_problem((1 - reflective) * right)
    nums = np.stack([r, c_ref, c_dir, PER_TOKENS * per_problem(hits)])
    dens = np.stack([n, r, n - r, per_problem(tokens)])
    values = _ratios(nums, dens)
    gap_value = float(_gap(c_ref, r, c_dir, n - r))
    if n.size > 1 and resamples > 0:
        low, high = bootstrap_interval(
            (nums, dens), _ratios, resamples=resamples, seed=seed, confidence=confidence,
            paired=True,
        )  # fmt: skip
        gap_low, gap_high = bootstrap_interval(
            (c_ref, r, c_dir, n - r), _gap, resamples=resamples, seed=seed,
            confidence=confidence, paired=True,
        )  # fmt: skip
    else:
        low = high = np.full(4, math.nan)
        gap_low = gap_high = np.array([math.nan])
    ratios = [
        Ratio(float(values[i]), float(low[i]), float(high[i]), float(nums[i].sum()),
              float(dens[i].sum()))
        for i in range(4)
    ]  # fmt: skip
    if not math.isfinite(gap_value):
        gap_low, gap_high = np.array([math.nan]), np.array([math.nan])
    gap = Ratio(gap_value, float(gap_low[0]), float(gap_high[0]), ratios[1].value, ratios[2].value)
    return ReflectionStats(
        num_samples=int(ids.size),
        num_problems=int(n.size),
        rate=ratios[0],
        accuracy_reflective=ratios[1],
        accuracy_direct=ratios[2],
        accuracy_gap=gap,
        per_1k_tokens=ratios[3],
    )


def eval_reflection(store, eval_id: str, **kwargs) -> ReflectionStats:
    """reflection_stats of a stored eval, counted with the lexicon its pivots were found with
    (the default lexicon when it has none)."""
    from fipo_bench.reflection import Lexicon, default_lexicon

    record = store.get_analysis(eval_id, "pivots")
    phrases = record["settings"].get("lexicon") if record else None
    lexicon = Lexicon.compile(phrases) if phrases else default_lexicon()
    samples = store.eval_samples(eval_id).select(["problem_id", "text", "correct", "n_tokens"])
    columns = samples.to_pydict()
    return reflection_stats(
        columns["problem_id"],
        [lexicon.count(t) for t in columns["text"]],
        [bool(c) for c in columns["correct"]],  # NULL (never verified) counts as wrong
        columns["n_tokens"],
        **kwargs,
    )
