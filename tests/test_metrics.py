"""Eval metrics against hand computations and closed forms."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fipo_bench.eval.metrics import (
    SampleOutcome,
    accuracy_by_length_quartile,
    compute_metrics,
    cons_correct,
    length_stats,
    majority_vote,
    normalise_answer,
    pass_at_k,
    pass_k_values,
)


def _s(pid: str, idx: int, extracted: str | None, correct: bool, n_tokens: int = 10):
    return SampleOutcome(pid, idx, extracted, correct, n_tokens)


@given(st.integers(1, 64).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))))
def test_pass_at_k_equals_the_binomial_closed_form(n_c):
    n, c = n_c
    for k in range(1, n + 1):
        closed = 1.0 - math.comb(n - c, k) / math.comb(n, k)
        assert pass_at_k(n, c, k) == pytest.approx(closed, abs=1e-12)


def test_pass_at_k_hand_values():
    # n=4, c=1: pass@1 = 1/4, pass@2 = 1 - C(3,2)/C(4,2) = 1 - 3/6 = 1/2, pass@4 = 1.
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)
    assert pass_at_k(4, 1, 4) == 1.0
    assert pass_at_k(4, 0, 4) == 0.0
    # pass@1 is the plain accuracy c/n.
    assert pass_at_k(32, 7, 1) == pytest.approx(7 / 32)


def test_pass_at_k_rejects_impossible_counts():
    with pytest.raises(ValueError):
        pass_at_k(4, 5, 1)
    with pytest.raises(ValueError):
        pass_at_k(4, 1, 5)


def test_pass_k_values_are_powers_of_two_up_to_n():
    assert pass_k_values(1) == [1]
    assert pass_k_values(2) == [1, 2]
    assert pass_k_values(32) == [1, 2, 4, 8, 16, 32]
    assert pass_k_values(20) == [1, 2, 4, 8, 16]


def test_normalise_answer_keeps_every_digit_of_a_long_number():
    """Votes on answers longer than Decimal's default 28 digits neither raise nor merge: a
    drifting checkpoint's 40-digit answer once crashed the eval's closing metrics."""
    long = "1" * 40
    assert normalise_answer(long) == long
    assert normalise_answer(long + ".0") == long
    assert normalise_answer(long + ".5") != normalise_answer(long + ".6")


def test_normalise_answer_merges_numeric_spellings_but_not_different_values():
    assert normalise_answer("025") == normalise_answer("25") == normalise_answer("25.0") == "25"
    assert normalise_answer(" $25$ ") == "25"
    assert normalise_answer("\\boxed{25}") == "25"
    assert normalise_answer("100") == "100"  # not 1E+2
    assert normalise_answer("1,000") == "1000"
    assert normalise_answer("1,2") == "1,2"  # a tuple, not one thousand two hundred
    assert normalise_answer("0.50") == "0.5"
    assert normalise_answer("\\frac{1}{2}") == normalise_answer("\\frac{1}{ 2 }")
    assert normalise_answer("\\text{(C)}") == "(C)"
    assert normalise_answer("") is None
    assert normalise_answer("  ") is None
    assert normalise_answer(None) is None


def test_cons_majority_wins_over_first_answer():
    samples = [_s("p", 0, "3", False), _s("p", 1, "5", True), _s("p", 2, "05", True)]
    assert majority_vote(samples).extracted in {"5", "05"}
    assert cons_correct(samples)


def test_cons_tie_goes_to_the_earliest_sample_whatever_the_input_order():
    a = [
        _s("p", 0, "7", True),
        _s("p", 1, "9", False),
        _s("p", 2, "9", False),
        _s("p", 3, "7", True),
    ]
    assert cons_correct(a)
    assert cons_correct(list(reversed(a)))  # idx 0 still says "7" first
    b = [
        _s("p", 0, "9", False),
        _s("p", 1, "7", True),
        _s("p", 2, "7", True),
        _s("p", 3, "9", False),
    ]
    assert not cons_correct(b)
    assert not cons_correct(list(reversed(b)))


def test_cons_no_answer_never_wins_even_as_majority():
    samples = [_s("p", i, None, False) for i in range(5)] + [_s("p", 5, "42", True)]
    assert majority_vote(samples).extracted == "42"
    assert cons_correct(samples)
    # An empty extracted string is no answer too.
    assert majority_vote([_s("p", 0, "", False), _s("p", 1, " ", False)]) is None
    assert not cons_correct([_s("p", 0, None, False)])


def test_length_stats_hand_values():
    stats = length_stats([1, 2, 3, 4, 10])
    assert stats == {
        "min": 1.0,
        "q25": 2.0,
        "mean": 4.0,
        "median": 3.0,
        "q75": 4.0,
        "max": 10.0,
    }


def test_length_quartiles_split_by_rank_and_never_leave_a_quartile_empty_on_ties():
    # 8 samples all at the same length (e.g. all truncated): still 4 groups of 2.
    samples = [_s("p", i, "1", i % 2 == 0, n_tokens=50) for i in range(8)]
    qs = accuracy_by_length_quartile(samples)
    assert [q.num_samples for q in qs] == [2, 2, 2, 2]
    assert all(q.accuracy == 0.5 for q in qs)
    # Short answers right, long answers wrong: accuracy falls from 1 to 0 across quartiles.
    samples = [_s("p", i, "1", i < 4, n_tokens=10 * (i + 1)) for i in range(8)]
    qs = accuracy_by_length_quartile(samples)
    assert [q.accuracy for q in qs] == [1.0, 1.0, 0.0, 0.0]
    assert [(q.min_tokens, q.max_tokens) for q in qs] == [(10, 20), (30, 40), (50, 60), (70, 80)]


def test_compute_metrics_hand_example():
    # Problem a: 4 samples, 1 correct, majority on a wrong answer.
    # Problem b: 4 samples, 3 correct.   Problem c: 4 samples, none correct, no answers.
    samples = [
        _s("a", 0, "1", True, 4),
        _s("a", 1, "2", False, 8),
        _s("a", 2, "2", False, 8),
        _s("a", 3, "3", False, 12),
        _s("b", 0, "9", True, 2),
        _s("b", 1, "9", True, 2),
        _s("b", 2, "09", True, 6),
        _s("b", 3, "8", False, 20),
        *[_s("c", i, None, False, 30) for i in range(4)],
    ]
    m = compute_metrics(samples)
    assert (m.n, m.num_problems, m.num_samples) == (4, 3, 12)
    assert m.avg_at_n == pytest.approx((0.25 + 0.75 + 0.0) / 3)
    assert m.cons_at_n == pytest.approx(1 / 3)  # only b's vote is right
    assert list(m.pass_at_k) == [1, 2, 4]
    # pass@2: a = 1 - C(3,2)/C(4,2) = 1/2, b = 1 - C(1,2)/C(4,2) = 1, c = 0.
    assert m.pass_at_k[2] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert m.pass_at_k[4] == pytest.approx(2 / 3)
    assert m.pass_at_k[1] == pytest.approx(m.avg_at_n)
    assert m.per_problem_accuracy == {"a": 0.25, "b": 0.75, "c": 0.0}
    assert m.response_length["max"] == 30.0
    assert m.response_length["min"] == 2.0
    summary = m.summary()
    assert summary["avg@4"] == m.avg_at_n and summary["pass@4"] == m.pass_at_k[4]
    assert summary["response_length/median"] == m.response_length["median"]


def test_compute_metrics_does_not_depend_on_sample_order():
    samples = [_s(p, i, str(i % 3), (i + len(p)) % 2 == 0, 5 + i) for p in "xyz" for i in range(6)]
    assert compute_metrics(samples) == compute_metrics(list(reversed(samples)))


def test_compute_metrics_needs_samples():
    with pytest.raises(ValueError):
        compute_metrics([])
