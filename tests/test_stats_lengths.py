"""The one definition of the length statistics, the accuracy-length fits, reflection statistics
and the length-weighted advantage, against hand computations and independent libraries."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fipo_bench.algos.lengths import (
    accuracy_by_length_quartile,
    least_squares_fit,
    length_stats,
    problem_points,
    quartile_weights,
)
from fipo_bench.analysis.length_accuracy import (
    CheckpointPoint,
    parse_stages,
    problem_length_fit,
    sample_length_fit,
    stage_fits,
)
from fipo_bench.analysis.reflection import reflection_stats
from fipo_bench.errors import ConfigError
from fipo_bench.eval.metrics import SampleOutcome
from fipo_bench.train.metrics import length_weighted_advantage_mean


def test_length_quantiles_interpolate_like_duckdb_and_torch():
    lengths = [1, 2, 3, 4, 10, 10, 11]
    stats = length_stats(lengths)
    x = torch.tensor(lengths, dtype=torch.float64)
    q = torch.quantile(x, torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64))
    assert (stats["q25"], stats["median"], stats["q75"]) == tuple(q.tolist())
    assert length_stats([1, 2, 3, 4])["q25"] == 1.75  # DuckDB quantile_cont(x, 0.25) too
    assert length_stats([]) == {}


def test_tied_lengths_split_across_quartiles_by_the_ranks_they_occupy():
    # 8 samples, cuts at ranks 2, 4, 6. Length 1 holds ranks 0-4 (5 samples): 2/5 of it in
    # Q1, 2/5 in Q2, 1/5 in Q3. Length 2 holds ranks 5-7: 1/3 in Q3, 2/3 in Q4.
    lengths = [1, 1, 1, 1, 1, 2, 2, 2]
    correct = [1, 1, 0, 0, 0, 1, 0, 0]
    weights = quartile_weights(lengths)
    assert weights[0].tolist() == pytest.approx([0.4, 0.4, 0.2, 0.0])
    assert weights[-1].tolist() == pytest.approx([0.0, 0.0, 1 / 3, 2 / 3])
    assert weights.sum(axis=0).tolist() == pytest.approx([2.0] * 4)
    qs = accuracy_by_length_quartile(lengths, correct)
    acc_1, acc_2 = 2 / 5, 1 / 3  # accuracy within each tie group
    assert [q.accuracy for q in qs] == pytest.approx(
        [acc_1, acc_1, (acc_1 + acc_2) / 2, acc_2]  # Q3: one sample-weight of each group
    )
    assert [(q.min_tokens, q.max_tokens) for q in qs] == [(1, 1), (1, 1), (1, 2), (2, 2)]
    assert [q.num_samples for q in qs] == pytest.approx([2.0] * 4)


def test_quartiles_do_not_depend_on_sample_order():
    rng = np.random.default_rng(0)
    lengths = rng.integers(10, 14, 37)  # heavy ties
    correct = rng.random(37) < 0.5
    order = rng.permutation(37)
    assert accuracy_by_length_quartile(lengths, correct) == accuracy_by_length_quartile(
        lengths[order], correct[order]
    )


def test_least_squares_fit_equals_numpy_polyfit_and_pearson_r():
    rng = np.random.default_rng(1)
    x = rng.integers(100, 5000, 200).astype(float)
    y = (rng.random(200) < 0.8 - x / 10000).astype(float)
    fit = least_squares_fit(x, y)
    slope, intercept = np.polyfit(x, y, 1)
    r = np.corrcoef(x, y)[0, 1]
    assert fit.slope == pytest.approx(slope, rel=1e-9)
    assert fit.intercept == pytest.approx(intercept, rel=1e-9)
    assert fit.pearson_r == pytest.approx(r, rel=1e-9)
    assert fit.r_squared == pytest.approx(r * r, rel=1e-9)
    assert fit.slope_per_1k_tokens == pytest.approx(1000 * slope, rel=1e-9)
    undefined = least_squares_fit([5, 5, 5], [1, 0, 1])
    assert math.isnan(undefined.slope) and math.isnan(undefined.r_squared)
    flat = least_squares_fit([1, 2, 3], [1, 1, 1])
    assert flat.slope == 0 and math.isnan(flat.r_squared)


def test_per_sample_and_per_problem_fits_are_different_named_numbers():
    """Per problem the points are (mean length, accuracy) of each problem; per sample, every
    response. The bootstrap interval of w covers the slope the data were drawn with."""
    rng = np.random.default_rng(2)
    outcomes = []
    for p in range(40):
        for k in range(20):
            length = int(rng.integers(200, 3000))
            outcomes.append(SampleOutcome(f"p{p}", k, None, rng.random() < 0.9 - length / 4000,
                                          length))  # fmt: skip
    per_sample = sample_length_fit(outcomes, resamples=1000)
    per_problem = problem_length_fit(outcomes, resamples=1000)
    assert per_sample.name == "w per 1k tokens (per sample)"
    assert per_problem.name == "w per 1k tokens (per problem)"
    assert per_sample.slope_ci_low < -0.25 < per_sample.slope_ci_high  # true w: -0.25 per 1k
    assert per_sample.slope_ci_low < per_sample.slope_per_1k < per_sample.slope_ci_high
    x, y = problem_points(
        [o.problem_id for o in outcomes], [o.n_tokens for o in outcomes],
        [float(o.correct) for o in outcomes],
    )  # fmt: skip
    assert per_problem.fit == least_squares_fit(x, y) and per_problem.fit.num_points == 40
    assert per_sample.fit.num_points == 800


def test_stages_parse_and_fit_the_checkpoints_inside_each():
    stages = parse_stages("0-100,100-300")
    assert [(s.first, s.last, s.closed) for s in stages] == [(0, 100, False), (100, 300, True)]
    assert not stages[0].holds(100) and stages[1].holds(100) and stages[1].holds(300)
    points = [
        CheckpointPoint(f"e{s}", f"run@{s}", "toy", s, 4, 0.1 + 0.0001 * (1000 + 10 * s),
                        0.2, 1000 + 10 * s, False)
        for s in (0, 50, 100, 200, 300)
    ]  # fmt: skip
    fits = stage_fits(points, stages, run_label="run", dataset="toy")
    assert [len(f.points) for f in fits] == [2, 3]
    for f in fits:  # accuracy = 0.1 + 0.0001 * length exactly: w = 0.1 per 1k, R^2 = 1
        assert f.fit.slope_per_1k == pytest.approx(0.1) and f.fit.fit.r_squared == pytest.approx(1)
    for bad, message in [
        ("", "is empty"),
        ("0-100,50-200", "overlaps"),
        ("100-100", "FIRST < LAST"),
        ("a-b", "FIRST-LAST"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse_stages(bad)


def test_reflection_statistics_by_hand():
    # Problem a: 2 reflective (1 right), 2 direct (2 right); problem b: 1 reflective (right),
    # 3 direct (0 right). Tokens: 100 each; hits 1 + 2 + 1 = 4 over 800 tokens.
    problems = ["a"] * 4 + ["b"] * 4
    hits = [1, 2, 0, 0, 1, 0, 0, 0]
    correct = [1, 0, 1, 1, 1, 0, 0, 0]
    stats = reflection_stats(problems, hits, correct, [100] * 8, resamples=500)
    assert stats.rate.value == pytest.approx(3 / 8)
    assert stats.accuracy_reflective.value == pytest.approx(2 / 3)
    assert stats.accuracy_direct.value == pytest.approx(2 / 5)
    assert stats.accuracy_gap.value == pytest.approx(2 / 3 - 2 / 5)
    assert stats.per_1k_tokens.value == pytest.approx(4 / 800 * 1000)
    for ratio in (stats.rate, stats.accuracy_reflective, stats.per_1k_tokens):
        assert ratio.ci_low <= ratio.value <= ratio.ci_high
    assert (stats.num_samples, stats.num_problems) == (8, 2)
    none = reflection_stats(["a", "b"], [0, 0], [1, 0], [10, 10], resamples=100)
    assert none.rate.value == 0 and math.isnan(none.accuracy_reflective.value)


def test_length_weighted_advantage_is_token_sum_over_total_length_by_hand():
    # Three responses of 2, 3 and 1 tokens with advantages +1, -0.5, +2 (broadcast per token):
    # (2 * 1 + 3 * -0.5 + 1 * 2) / 6 = 2.5 / 6.
    mask = torch.tensor([[1, 1, 0, 0], [0, 1, 1, 1], [1, 0, 0, 0]], dtype=torch.float32)
    advantages = torch.tensor([1.0, -0.5, 2.0])
    assert length_weighted_advantage_mean(advantages, mask) == pytest.approx(2.5 / 6)
    per_token = advantages[:, None] * torch.ones(3, 4)
    per_token[1, 3] = 1.0  # token-level advantages are summed as given
    assert length_weighted_advantage_mean(per_token, mask) == pytest.approx(4.0 / 6)
    assert math.isnan(length_weighted_advantage_mean(advantages, torch.zeros(3, 4)))
    with pytest.raises(ValueError, match="do not match"):
        length_weighted_advantage_mean(torch.ones(2), mask)
