"""The synthetic arithmetic task: exact answers, faithful traces, disjoint splits, seeded sets."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fipo_bench.errors import DataError
from fipo_bench.tasks import synthetic
from fipo_bench.tasks.problem import Problem
from fipo_bench.verify import check_many

STEP = re.compile(r"^(-?\d+) ([-+*]) (-?\d+) = (-?\d+)$")


def _problem(text: str) -> Problem:
    return Problem("synthetic", synthetic.problem_id_of(text), text, str(synthetic.evaluate(text)))


@settings(max_examples=200, deadline=None)
@given(
    operands=st.lists(st.integers(0, 99), min_size=2, max_size=6),
    op_choices=st.lists(st.sampled_from("+-*"), min_size=5, max_size=5),
)
def test_answer_equals_python_arithmetic_and_trace_ends_in_it(operands, op_choices):
    """The gold answer is the expression's value with the usual precedence (Python's eval as an
    independent oracle), and the trace's last line is `Answer: <that value>`."""
    text = synthetic.format_expression(operands, op_choices[: len(operands) - 1])
    assert synthetic.evaluate(text) == eval(text)
    for fraction in (0.0, 1.0):
        trace = synthetic.gold_trace(_problem(text), wait_fraction=fraction)
        assert trace.splitlines()[-1] == f"Answer: {eval(text)}"


def test_every_step_is_correct_arithmetic_after_any_correction():
    """Each trace line states a true equation (the correction, when there is one), a slipped
    line states a false one before "Wait,", and the steps chain to the answer."""
    problems = synthetic.load_problems("train", n=300, levels=[1, 2, 3, 4, 5])
    for problem in problems:
        lines = synthetic.gold_trace(problem, wait_fraction=0.5).splitlines()
        previous = None
        for line in lines[:-1]:
            if synthetic.WAIT_PHRASE in line:
                slipped, corrected = line.split(f". {synthetic.WAIT_PHRASE} ")
                a, op, b, wrong = STEP.match(slipped).groups()
                assert wrong != corrected.rsplit(" = ", 1)[1]
                assert corrected.startswith(f"{a} {op} {b} = ")
                line = corrected
            a, op, b, result = STEP.match(line).groups()
            assert int(result) == eval(f"{a} {op} {b}")
            previous = int(result)
        assert lines[-1] == f"Answer: {previous}" == f"Answer: {problem.answer}"


def test_traces_verify_to_their_own_answers():
    """The project's verifier accepts every gold trace (slipped ones included) for its own
    answer and rejects it for a neighbouring integer."""
    problems = synthetic.load_problems("test", n=200, levels=[1, 2, 3, 4, 5])
    traces = [synthetic.gold_trace(p, wait_fraction=0.5) for p in problems]
    right = check_many([(p.answer, t) for p, t in zip(problems, traces, strict=True)])
    assert all(r.correct and r.status == "ok" for r in right)
    wrong = check_many([(str(int(p.answer) + 1), t) for p, t in zip(problems, traces, strict=True)])
    assert not any(r.correct for r in wrong)


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.3, 1.0])
def test_wait_fraction_matches_the_setting(fraction):
    """The share of traces with a "Wait," correction is the configured fraction (within 4
    binomial standard deviations over 2000 problems; exact at 0 and 1)."""
    problems = synthetic.load_problems("train", n=2000, levels=[2, 3, 4])
    share = sum("Wait," in synthetic.gold_trace(p, wait_fraction=fraction) for p in problems)
    share /= len(problems)
    tolerance = 4 * (fraction * (1 - fraction) / len(problems)) ** 0.5
    assert abs(share - fraction) <= tolerance
    # Exactly one correction per slipped trace.
    assert all(synthetic.gold_trace(p, wait_fraction=1.0).count("Wait,") == 1 for p in problems)


def test_a_problem_keeps_its_trace():
    """Traces are a function of the problem: repeated calls give the same text."""
    problem = synthetic.load_problems("test", n=1)[0]
    assert synthetic.gold_trace(problem) == synthetic.gold_trace(problem)


def test_train_and_test_never_share_a_problem():
    """The whole test split of the enumerable levels and a large train sample are disjoint,
    for every seed, and each problem sits in the split its text hashes to."""
    test_texts = set()
    for level in (1, 2, 3):
        capacity = synthetic._capacity(synthetic.LEVELS[level], "test")
        test_texts |= {p.problem for p in synthetic.load_problems("test", n=capacity, levels=level)}
    assert len(test_texts) > 0.15 * sum(synthetic.LEVELS[lv].space_size for lv in (1, 2, 3))
    for seed in (0, 1):
        train = synthetic.load_problems("train", n=20_000, seed=seed)
        assert not test_texts & {p.problem for p in train}
    stream = synthetic.iter_problems("train", seed=3, levels=[1, 2, 3, 4])
    assert not test_texts & {next(stream).problem for _ in range(5000)}
    assert all(synthetic.split_of(t) == "test" for t in test_texts)


def test_sampled_levels_are_disjoint_too():
    """Levels too large to enumerate (2-digit operands) still split by hash."""
    test = synthetic.load_problems("test", n=500, levels=[4])
    train = synthetic.load_problems("train", n=5000, levels=[4])
    assert not {p.problem for p in test} & {p.problem for p in train}


def test_sets_are_seeded_distinct_and_ids_follow_the_text():
    """Same arguments, same list; another seed, another draw; ids are the text's, unique."""
    first = synthetic.load_problems("test", n=50, seed=0)
    assert first == synthetic.load_problems("test", n=50, seed=0)
    other = synthetic.load_problems("test", n=50, seed=1)
    assert [p.problem for p in first] != [p.problem for p in other]
    assert len({p.problem_id for p in first}) == len({p.problem for p in first}) == 50
    for problem in first + other:
        assert problem.dataset == "synthetic"
        assert problem.problem_id == synthetic.problem_id_of(problem.problem)


def test_levels_are_spread_evenly_within_capacity():
    """n is split evenly over the levels, and a small level gives its surplus to the others."""
    problems = synthetic.load_problems("test", n=90, levels=[2, 3, 4])
    counts = {lv: sum(p.meta["level"] == lv for p in problems) for lv in (2, 3, 4)}
    assert counts == {2: 30, 3: 30, 4: 30}
    level_one_capacity = synthetic._capacity(synthetic.LEVELS[1], "test")
    problems = synthetic.load_problems("test", n=300, levels=[1, 2])
    assert sum(p.meta["level"] == 1 for p in problems) == level_one_capacity
    assert len(problems) == 300


def test_levels_set_difficulty():
    """Operation count and operand size follow the level (level 5 has multiplications)."""
    for level, spec in synthetic.LEVELS.items():
        for problem in synthetic.load_problems("train", n=100, levels=level):
            operands, ops = synthetic.parse_expression(problem.problem)
            assert len(ops) == spec.n_ops
            assert max(operands) <= spec.max_operand
            assert set(ops) <= set(spec.ops)
    assert any("*" in p.problem for p in synthetic.load_problems("train", n=50, levels=5))


def test_default_sizes():
    assert len(synthetic.load_problems("test")) == synthetic.DEFAULT_SIZE["test"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"split": "dev"}, "split 'dev'"),
        ({"levels": [9]}, "level 9"),
        ({"levels": []}, "levels=()"),
        ({"n": -1}, "n=-1"),
        ({"n": 10_000, "levels": [1]}, "n=10000"),
    ],
)
def test_bad_arguments_name_the_value(kwargs, message):
    with pytest.raises(DataError, match=re.escape(message)):
        synthetic.load_problems(**kwargs)


def test_bad_level_and_fraction_name_the_value():
    with pytest.raises(DataError, match="ops='/'"):
        synthetic.Level(n_ops=1, max_operand=9, ops="/")
    with pytest.raises(DataError, match=re.escape("wait_fraction=1.5")):
        synthetic.gold_trace(synthetic.load_problems("test", n=1)[0], wait_fraction=1.5)
