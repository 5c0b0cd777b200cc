"""Eval statistics and paired comparisons against closed forms and hand computations."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from stats_fixture import paired_bernoulli

from fipo_bench.analysis.stats import (
    bootstrap_interval,
    comparison_ks,
    eval_stats,
    paired_differences,
    sign_flip_p_values,
)
from fipo_bench.errors import DataError
from fipo_bench.eval.metrics import SampleOutcome, pass_at_k, problem_scores


def _scores(correct: np.ndarray, problem_ids=None, answers=None):
    correct = np.asarray(correct, dtype=bool)
    ids = problem_ids or [f"p{i:03d}" for i in range(correct.shape[0])]
    return problem_scores(
        SampleOutcome(
            ids[p],
            k,
            answers[p][k] if answers is not None else ("1" if correct[p, k] else "0"),
            bool(correct[p, k]),
            10,
        )
        for p in range(correct.shape[0])
        for k in range(correct.shape[1])
    )


def test_standard_errors_are_the_spread_of_per_problem_values_over_sqrt_problems():
    rng = np.random.default_rng(3)
    correct = rng.random((12, 8)) < rng.uniform(0, 1, (12, 1))
    stats = eval_stats(_scores(correct))
    acc = correct.mean(axis=1)
    assert stats.avg.value == pytest.approx(acc.mean(), abs=1e-12)
    assert stats.avg.se == pytest.approx(acc.std(ddof=1) / math.sqrt(12), abs=1e-12)
    cons = (correct.sum(axis=1) > 4).astype(float)  # 8 samples: a 4-4 tie goes to sample 0
    cons[correct.sum(axis=1) == 4] = correct[correct.sum(axis=1) == 4, 0]
    assert stats.cons.value == pytest.approx(cons.mean(), abs=1e-12)
    assert stats.cons.se == pytest.approx(cons.std(ddof=1) / math.sqrt(12), abs=1e-12)
    assert len(stats.pass_curve) == 8  # every k <= n, not only powers of two
    for k in range(1, 9):
        per_problem = [pass_at_k(8, int(c), k) for c in correct.sum(axis=1)]
        assert stats.pass_at(k).value == pytest.approx(np.mean(per_problem), abs=1e-12)
        assert stats.pass_at(k).se == pytest.approx(
            np.std(per_problem, ddof=1) / math.sqrt(12), abs=1e-12
        )


def test_pass_at_k_rows_of_a_comparison_are_powers_of_two_and_n():
    assert comparison_ks(32) == [1, 2, 4, 8, 16, 32]
    assert comparison_ks(12) == [1, 2, 4, 8, 12]
    assert comparison_ks(1) == [1]


def test_bootstrap_interval_width_matches_the_normal_approximation_on_large_paired_data():
    """For the mean of 1,000 paired Bernoulli differences the CLT holds: the bootstrap's 95%
    interval is within 10% of 2 * 1.96 * sd / sqrt(P) wide and centred on the mean."""
    rng = np.random.default_rng(7)
    a, b = paired_bernoulli(rng, n_problems=1000, n=1, p_base=0.4, shift=0.05)
    differences = paired_differences(_scores(a), _scores(b), resamples=2000, seed=1)
    avg = differences[0]
    d = b[:, 0].astype(float) - a[:, 0].astype(float)
    normal_width = 2 * 1.959964 * d.std(ddof=1) / math.sqrt(d.size)
    width = avg.ci_high - avg.ci_low
    assert abs(width / normal_width - 1) < 0.10
    assert avg.ci_low < d.mean() < avg.ci_high
    assert avg.delta == pytest.approx(d.mean(), abs=1e-12)


def test_the_same_seed_gives_the_same_intervals_and_p_values():
    rng = np.random.default_rng(11)
    a, b = paired_bernoulli(rng, n_problems=30, n=8, p_base=0.5, shift=0.1)
    first = paired_differences(_scores(a), _scores(b), resamples=2000, seed=5)
    again = paired_differences(_scores(a), _scores(b), resamples=2000, seed=5)
    assert first == again
    other = paired_differences(_scores(a), _scores(b), resamples=2000, seed=6)
    assert [d.delta for d in other] == [d.delta for d in first]  # only the resampling moved
    assert [(d.ci_low, d.ci_high) for d in other] != [(d.ci_low, d.ci_high) for d in first]


def test_permutation_p_value_is_exact_over_all_sign_flips_for_few_problems():
    """With 8 problems all 2^8 relabellings are enumerated: p = share of sign flips whose
    |mean| reaches the observed |mean|."""
    d = np.array([[0.5, 0.25, 0.25, -0.125, 0.5, 0.0, 0.375, 0.125]])
    observed = abs(d.mean())
    flips = np.array(list(itertools.product([1, -1], repeat=8)))
    expected = np.mean(np.abs((flips * d).mean(axis=1)) >= observed - 1e-12)
    assert sign_flip_p_values(d, resamples=10_000, seed=0)[0] == pytest.approx(expected)


def test_wins_ties_losses_and_deltas_by_hand():
    a = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]])
    b = np.array([[1, 1, 1, 0], [0, 0, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]])
    rows = {(d.metric, d.k): d for d in paired_differences(_scores(a), _scores(b), resamples=500)}
    avg = rows[("avg@k", 4)]
    assert (avg.wins, avg.ties, avg.losses, avg.n_problems) == (2, 1, 1, 4)
    assert avg.delta == pytest.approx((0.25 - 0.25 + 0 + 0.25) / 4)
    assert avg.baseline_value == pytest.approx(a.mean())
    # pass@4 per problem: a = [1, 1, 1, 0], b = [1, 0, 1, 1] -> one win, one loss.
    pass4 = rows[("pass@k", 4)]
    assert (pass4.wins, pass4.ties, pass4.losses) == (1, 2, 1) and pass4.delta == 0
    # Identical evals: every difference is 0 with a zero-width interval and p = 1.
    for d in paired_differences(_scores(a), _scores(a), resamples=500):
        assert (d.delta, d.ci_low, d.ci_high, d.p_value) == (0, 0, 0, 1)
        assert not d.excludes_zero and d.ties == 4


def test_a_large_real_difference_has_an_interval_excluding_zero():
    rng = np.random.default_rng(2)
    a, b = paired_bernoulli(rng, n_problems=60, n=16, p_base=0.3, shift=0.3)
    avg = paired_differences(_scores(a), _scores(b), resamples=2000)[0]
    assert avg.excludes_zero and avg.ci_low > 0 and avg.p_value < 0.01


def test_unequal_problem_sets_are_an_error_naming_what_each_side_lacks():
    a = _scores(np.ones((3, 2)), problem_ids=["x", "y", "z"])
    b = _scores(np.ones((3, 2)), problem_ids=["x", "y", "w"])
    with pytest.raises(DataError) as err:
        paired_differences(a, b, names=("run-a@1", "run-b@1"))
    message = str(err.value)
    assert "missing from run-b@1: z" in message and "missing from run-a@1: w" in message
    assert "\n" not in message


def test_bootstrap_interval_of_constant_data_is_the_constant():
    low, high = bootstrap_interval(
        (np.full((2, 20), 0.25),), lambda x, axis: x.mean(axis=axis), resamples=200, seed=0
    )
    assert low.tolist() == [0.25, 0.25] and high.tolist() == [0.25, 0.25]
