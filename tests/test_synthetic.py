"""The synthetic arithmetic task and its traces: exact answers, true arithmetic in every style,
caught slips, disjoint splits, seeded sets, levels read from data."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fipo_bench.errors import ConfigError, DataError
from fipo_bench.models import traces
from fipo_bench.reflection import default_lexicon
from fipo_bench.tasks import synthetic
from fipo_bench.tasks.problem import Problem
from fipo_bench.verify import check_many

# `a op b = r` with an optional `(r op' b = a)` check and `, not x` verdict
LINE = re.compile(
    r"^(?P<a>-?\d+) (?P<op>[-+]) (?P<b>-?\d+) = (?P<result>-?\d+)"
    r"(?: \((?P<ca>-?\d+) (?P<cop>[-+]) (?P<cb>-?\d+) = (?P<rec>-?\d+)"
    r"(?:, not (?P<not>-?\d+))?\))?$"
)


def _problem(text: str) -> Problem:
    return Problem("synthetic", synthetic.problem_id_of(text), text, str(synthetic.evaluate(text)))


def _check(a: int, op: str, b: int, result: int) -> str:
    """The inverse operation written out (a's own recovery when result is right)."""
    inverse = "-" if op == "+" else "+"
    return f"{result} {inverse} {b} = {synthetic.apply(result, inverse, b)}"


def _slips(problem: Problem) -> list[dict[int, int]]:
    """Slip patterns of a problem's checked trace: each line alone, each offset, and all lines."""
    n_steps = len(synthetic.parse_expression(problem.problem)[1])
    single = [{step: offset} for step in range(n_steps) for offset in (-2, -1, 1, 2)]
    return [*single, dict.fromkeys(range(n_steps), 1)]


@settings(max_examples=200, deadline=None)
@given(
    operands=st.lists(st.integers(0, 99), min_size=2, max_size=6),
    op_choices=st.lists(st.sampled_from("+-"), min_size=5, max_size=5),
)
def test_answer_equals_python_arithmetic_and_every_style_ends_in_it(operands, op_choices):
    """The gold answer is the chain's value (Python's eval as an independent oracle), and the
    last line of every style's trace is `Answer: <that value>`."""
    text = synthetic.format_expression(operands, op_choices[: len(operands) - 1])
    assert synthetic.evaluate(text) == eval(text)
    problem = _problem(text)
    for style in traces.STYLES:
        trace = traces.write_trace(problem, style)
        assert trace.text.splitlines()[-1] == f"Answer: {eval(text)}"
    for slip in _slips(problem)[:3]:
        assert traces.write_trace(problem, "checked", slip).text.endswith(f"Answer: {eval(text)}")


def _parsed_lines(trace_text: str) -> list[tuple[re.Match, re.Match | None]]:
    """(first statement, corrected statement or None) per derivation line."""
    out = []
    for line in trace_text.splitlines()[:-1]:
        first, _, corrected = line.partition(f" {traces.WAIT_PHRASE} ")
        first = first.removesuffix(".")
        out.append((LINE.match(first), LINE.match(corrected) if corrected else None))
    return out


def test_every_number_is_true_arithmetic_except_the_slipped_result():
    """In each style, every line does the chain's next operation on the previous result (the
    first operand for the first line); every result and every check is true arithmetic, except
    a slipped result, whose check (true arithmetic on the wrong number) recovers another operand
    than the one written, says `not <that operand>`, and is followed by the reflection phrase and
    the corrected line; the last result is the answer."""
    problems = synthetic.load_problems("train", n=150, levels=[1, 2, 3, 4, 5])
    for problem in problems:
        operands, ops = synthetic.parse_expression(problem.problem)
        for style, slips in [("steps", {}), ("checked", {})] + [
            ("checked", s) for s in _slips(problem)[::3]
        ]:
            trace = traces.write_trace(problem, style, slips)
            previous = operands[0]
            for step, (first, corrected) in enumerate(_parsed_lines(trace.text)):
                assert first is not None, trace.text
                a, op, b, result = (
                    int(first["a"]),
                    first["op"],
                    int(first["b"]),
                    int(first["result"]),
                )
                assert (a, op, b) == (previous, ops[step], operands[step + 1])
                truth = synthetic.apply(a, op, b)
                slipped = step in slips
                assert (result == truth) != slipped
                if style == "steps":
                    assert first["ca"] is None and corrected is None
                    previous = result
                    continue
                check_a, check_b, recovered = int(first["ca"]), int(first["cb"]), int(first["rec"])
                assert (check_a, check_b) == (result, b) and first["cop"] != op
                assert recovered == synthetic.apply(check_a, first["cop"], check_b)
                assert (recovered != a) == slipped == (first["not"] is not None)
                assert (corrected is not None) == slipped
                if slipped:
                    assert int(first["not"]) == a
                    assert (corrected["a"], corrected["op"], corrected["b"]) == (
                        first["a"],
                        first["op"],
                        first["b"],
                    )
                    assert int(corrected["result"]) == truth
                    assert int(corrected["rec"]) == a and corrected["not"] is None
                previous = truth
            last = trace.text.splitlines()[-1]
            assert last == f"Answer: {previous}" == f"Answer: {problem.answer}"


def test_the_slipped_result_is_the_only_untrained_span():
    """A slipped trace marks exactly the wrong numbers as untrained (the warm-up teaches catching
    slips, not making them); clean traces mark nothing."""
    problem = _problem("7 + 5 - 3")
    assert traces.write_trace(problem, "checked").untrained == ()
    assert traces.write_trace(problem, "steps").untrained == ()
    slipped = traces.write_trace(problem, "checked", {0: -1, 1: 2})
    (first_start, first_end), (start, end) = slipped.untrained
    assert slipped.text[first_start:first_end] == "11"  # 7 + 5 = 12, written as 11
    assert slipped.text[:first_start] == "7 + 5 = "
    assert slipped.text[start:end] == "11"  # 12 - 3 = 9, written as 11
    assert slipped.text[:start].endswith("\n12 - 3 = ")


def test_traces_verify_to_their_own_answers_and_styles_are_recognised():
    """The project's verifier accepts every trace (slipped ones included) for its own answer and
    rejects it for a neighbouring integer; `response_style` names the style each was written in,
    and the reflection lexicon finds the self-reflection phrase exactly in the slipped ones."""
    problems = synthetic.load_problems("test", n=120, levels=[1, 2, 3, 5])
    rng = random.Random(0)
    written = [traces.draw_trace(p, traces.StyleMix(slip_rate=0.5), rng) for p in problems]
    right = check_many([(p.answer, t.text) for p, t in zip(problems, written, strict=True)])
    assert all(r.correct and r.status == "ok" for r in right)
    wrong = check_many(
        [(str(int(p.answer) + 1), t.text) for p, t in zip(problems, written, strict=True)]
    )
    assert not any(r.correct for r in wrong)
    assert [traces.response_style(t.text) for t in written] == [t.style for t in written]
    lexicon = default_lexicon()
    for trace in written:
        assert (lexicon.count(trace.text) > 0) == bool(trace.untrained)
        assert traces.caught_slips(trace.text) == len(trace.untrained)
    assert traces.response_style("7 + 5\nAnswer: 12") == "other"


def test_drawn_styles_and_slips_follow_the_mix():
    """Over 3000 draws each style's share and the share of checked lines with a slip are within
    4 binomial standard deviations of the configured values; a zero share never appears."""
    problems = synthetic.load_problems("train", n=3000, levels=[2, 3])
    mix = traces.StyleMix(direct=0.2, steps=0.5, checked=0.3, slip_rate=0.4)
    rng = random.Random(1)
    written = [traces.draw_trace(p, mix, rng) for p in problems]

    def within(count: int, total: int, p: float) -> bool:
        return abs(count / total - p) <= 4 * (p * (1 - p) / total) ** 0.5

    for style, share in mix.shares.items():
        assert within(sum(t.style == style for t in written), len(written), share)
    checked = [t for t in written if t.style == "checked"]
    lines = sum(len(t.text.splitlines()) - 1 for t in checked)
    assert within(sum(len(t.untrained) for t in checked), lines, mix.slip_rate)
    only_steps = traces.StyleMix(direct=0.0, steps=1.0, checked=0.0)
    assert {traces.draw_trace(p, only_steps, rng).style for p in problems[:200]} == {"steps"}


def test_a_slip_never_writes_a_number_its_level_cannot_have():
    """Bounded levels have no values below 0 or above their bound; a slipped result outside them
    would be a tell-tale the model could spot without checking, so the slip goes the other way."""
    rng = random.Random(2)
    offsets = set()
    for problem in synthetic.load_problems("train", n=400, levels=[2, 3, 4]):
        trace = traces.draw_trace(problem, traces.StyleMix(0, 0, 1, slip_rate=1.0), rng)
        for start, end in trace.untrained:
            assert 0 <= int(trace.text[start:end]) <= problem.meta["max_value"]
            corrected = trace.text[end:].split(f"{traces.WAIT_PHRASE} ", 1)[1]
            offsets.add(int(trace.text[start:end]) - int(corrected.split(" ")[4]))
    assert offsets == {-2, -1, 1, 2}


def test_train_and_test_never_share_a_problem():
    """The whole test split of the enumerable levels and a large train sample are disjoint,
    for every seed, and each problem sits in the split its text hashes to."""
    test_texts = set()
    for level in (1, 2, 3):
        capacity = synthetic._capacity(synthetic.LEVELS[level], "test")
        test_texts |= {p.problem for p in synthetic.load_problems("test", n=capacity, levels=level)}
    for seed in (0, 1):
        train = synthetic.load_problems("train", n=20_000, seed=seed, levels=[2, 3, 4])
        assert not test_texts & {p.problem for p in train}
    stream = synthetic.iter_problems("train", seed=3, levels=[1, 2, 3, 4])
    assert not test_texts & {next(stream).problem for _ in range(5000)}
    assert all(synthetic.split_of(t) == "test" for t in test_texts)


def test_sampled_levels_are_disjoint_too():
    """Levels too large to enumerate still split by hash."""
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
    problems = synthetic.load_problems("test", n=200, levels=[1, 2])
    assert sum(p.meta["level"] == 1 for p in problems) == level_one_capacity
    assert len(problems) == 200


def test_levels_set_difficulty_as_the_levels_file_says():
    """Each level's problems have its operation count, operand range and operators, and every
    running value stays within its bound (the levels file is the one definition)."""
    for level, spec in synthetic.LEVELS.items():
        n = min(100, synthetic._capacity(spec, "train"))
        for problem in synthetic.load_problems("train", n=n, levels=level):
            operands, ops = synthetic.parse_expression(problem.problem)
            assert len(ops) == spec.n_ops
            assert max(operands) <= spec.max_operand
            assert set(ops) <= set(spec.ops)
            if spec.max_value is not None:
                values = synthetic.running_values(operands, ops)
                assert min(values) >= 0 and max(values) <= spec.max_value
    unbounded = synthetic.load_problems("train", n=200, levels=5)
    assert any(int(p.answer) < 0 for p in unbounded)


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


def test_bad_levels_mixes_and_files_name_the_value():
    with pytest.raises(DataError, match="ops='\\*'"):
        synthetic.Level(n_ops=1, max_operand=9, ops="*")
    with pytest.raises(DataError, match="max_value=5"):
        synthetic.Level(n_ops=1, max_operand=9, max_value=5)
    with pytest.raises(ConfigError, match="sum to 1"):
        traces.StyleMix(direct=0.5, steps=0.5, checked=0.5)
    with pytest.raises(ConfigError, match=re.escape("slip_rate=1.5")):
        traces.StyleMix(slip_rate=1.5)
    with pytest.raises(ConfigError, match="do not fit a steps trace"):
        traces.write_trace(_problem("1 + 2"), "steps", {0: 1})
    with pytest.raises(ConfigError, match="style 'fast'"):
        traces.write_trace(_problem("1 + 2"), "fast")
    with pytest.raises(DataError, match="n_ops=0"):
        synthetic.parse_levels("default = [1]\n[levels.1]\nn_ops = 0\nmax_operand = 9\n", "x")
    with pytest.raises(DataError, match=r"default \[2\]"):
        synthetic.parse_levels("default = [2]\n[levels.1]\nn_ops = 1\nmax_operand = 9\n", "x")
    with pytest.raises(DataError, match="levels file x is unreadable"):
        synthetic.parse_levels("default = [1", "x")
