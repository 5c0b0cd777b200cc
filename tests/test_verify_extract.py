"""Extraction protocol and verdict rules, one failure kind per test (real math-verify behind)."""

from __future__ import annotations

import pytest

from fipo_bench.verify import SOURCES, VerifyResult, check_many, extract
from fipo_bench.verify.rules import RULE_HEDGE, RULE_INTEGER, RULE_RATIONAL, RULE_SET, RULE_TIME

JUDGE_TIMEOUT_S = 20.0
REASONING = "Let me set up the equations and simplify each side.\n\n"


def _judge(pairs: list[tuple[str, str]]) -> list[VerifyResult]:
    return check_many(pairs, timeout_s=JUDGE_TIMEOUT_S, workers=2)


# --- 1. marker priority: the last answer-bearing construct wins --------------------------


@pytest.mark.parametrize(
    ("response", "answer", "source"),
    [
        ("Let me verify my answer: 3 + 4 = 7 ... \\boxed{12}", "12", "box"),
        ("<think>so the answer: 24? No wait</think>\nSo the total is \\boxed{25}.", "25", "box"),
        ("**Final Answer:**\n\\[ \\boxed{189} \\]", "189", "box"),
        ("\\boxed{24} was a slip.\nAnswer: 25", "25", "answer_line"),
        ("Answer: 24\nOn reflection the total is \\boxed{25}.", "25", "box"),
        ("The final answer is $2$. Indeed, \\boxed{1}", "1", "box"),
        ("\\boxed{1}. So the final answer is $2$.", "2", "answer_line"),
        (
            "Answer: 12\n\nLet me verify my answer: 3 + 4 = 7, which checks out.",
            "12",
            "answer_line",
        ),
    ],
)
def test_the_last_construct_wins_whatever_its_marker(response, answer, source) -> None:
    """Boxes and answer lines rank by position only; 'my answer:' mid-sentence is no marker."""
    found = extract(response)
    assert (found.answer, found.source) == (answer, source)


@pytest.mark.parametrize(
    "response",
    ["Answer:\n\n$$ 25 $$", "Answer:\n$$\n25\n$$", "Final Answer:\n\\[\n25\n\\]", "Answer:\n\n25"],
)
def test_an_empty_marker_line_reads_the_block_after_it(response: str) -> None:
    assert extract(response).answer == "25"


def test_text_after_the_thinking_decides() -> None:
    """After </think> the answer given there counts; the thinking is read only when it is all."""
    assert extract("<think>The answer is \\boxed{5}.</think>\nSo it is $x = 6$.").answer == "x = 6"
    # nothing answer-like after the thinking: the thinking is read
    assert extract("<think>so \\boxed{5}</think>\nThanks for reading!").answer == "5"


# --- 2. a lone $x$ on an answer line is not the answer ------------------------------------


@pytest.mark.parametrize(
    ("response", "answer"),
    [
        ("Final Answer: The largest $n$ is 34.", "34"),
        ("Answer: the domain of $f(x)$ is 19", "19"),
        ("Answer: The value is $25$ minutes.", "25"),
        ("Answer: The walk takes $204$ minutes.", "204"),
        ("Answer: x = 5 cm", "x = 5"),
        ("The answer is 12 because there are 3 groups of 4.", "12"),
        ("The final answer is $28 \\%$. I hope it is correct.", "28 \\%"),
        ("Answer: Evelyn", "Evelyn"),
    ],
)
def test_prose_after_a_marker_answers_with_the_value_it_states(response, answer) -> None:
    assert extract(response).answer == answer


# --- 3. several boxes for one set/tuple answer ---------------------------------------------


def test_boxes_in_a_row_are_one_set_when_the_gold_has_several_values() -> None:
    """Boxes joined by 'and'/commas are judged together for a set gold, in any order; one box
    of two, or an extra one, is wrong; for a one-value gold, different boxes are a hedge."""
    pairs = [
        ("(2,2),(6,2)", "so \\boxed{(2,2)} and \\boxed{(6,2)}"),
        ("(2,2),(6,2)", "so \\boxed{(6,2)} and \\boxed{(2,2)}"),
        ("(2,2),(6,2)", "so \\boxed{(2,2)}"),
        ("(2,2),(6,2)", "so \\boxed{(2,2)}, \\boxed{(6,2)}, \\boxed{(3,1)}"),
        ("\\{1, 2\\}", "The set is \\boxed{1}, \\boxed{2}."),
        ("(6,31,-1)", "so $p = \\boxed{6}$, $q = \\boxed{31}$, $r = \\boxed{-1}$"),
        ("45", "The count is \\boxed{45} or \\boxed{46}."),
        ("45", "So \\boxed{45}.\nChecking again: \\boxed{45}."),
        ("(1,2),(2,1)", "For part (a) it is \\boxed{(1,2)} and for part (b) it is \\boxed{(2,1)}."),
    ]
    results = _judge(pairs)
    assert [r.correct for r in results] == [True, True, False, False, True, True, False, True, True]
    assert results[0].rule.startswith(RULE_SET)
    assert results[6].rule == RULE_HEDGE


@pytest.mark.parametrize(
    ("gold", "response", "correct"),
    [
        ("204", "Answer: 204 or 205", False),
        ("204", "Answer: either $204$ or $205$", False),
        ("-2,1", "Answer: $x = -2$ or $x = 1$", True),
        ("-2,1", "Answer: x = 1 or x = -2", True),
        ("3, 5, 7", "The primes are 3, 5, and 7.", True),
        ("3, 5, 7", "The primes are 3, 5, and 11.", False),
    ],
)
def test_or_lists_are_hedges_for_one_value_and_solution_lists_for_several(
    gold, response, correct
) -> None:
    assert _judge([(gold, response)])[0].correct is correct


# --- 4. dollar signs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gold", "response", "correct"),
    [
        ("\\$32,\\!348", "The total is $\\boxed{\\$32,\\!348}$.", True),
        ("\\$32,\\!348", "The total is $\\boxed{32348}$.", True),
        ("\\$32,\\!348", "The total is $\\boxed{32,\\!438}$.", False),
        ("\\$18.90", "Answer: \\$18.90", True),
        ("\\$18.90", "Answer: $18.90", True),
        ("\\$36", "Answer: 36 dollars", True),
        ("16386.17", "worth $\\boxed{\\$16386.17}$ after 5 years", True),
        ("25", "Answer: \\$25", True),
        ("25", "Answer: 25 dollars", True),
        ("25", "Answer: $25", True),
    ],
)
def test_dollar_golds_and_answers_are_judged_not_errors(gold, response, correct) -> None:
    result = _judge([(gold, response)])[0]
    assert (result.status, result.correct) == ("ok", correct)


# --- 5. units and formats --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gold", "response", "correct"),
    [
        ("1000000", "so $\\boxed{1\\,000\\,000}$", True),
        ("1000000", "so $\\boxed{100\\,000}$", False),
        ("1000", "Thus the total is 1 000.", True),
        ("113", "Answer: 1.13 \\times 10^2", True),
        ("1000.99", "the number is 1000,99", True),
    ],
)
def test_digit_groups_and_number_spellings(gold, response, correct) -> None:
    assert _judge([(gold, response)])[0].correct is correct


@pytest.mark.parametrize(
    ("response", "correct"),
    [
        ("They arrive at \\boxed{4:30 \\text{ p.m.}}.", True),
        ("Answer: 4:30 p.m.", True),
        ("Answer: 16:30", True),
        ("They will arrive at 4:30 p.m.", True),
        ("Answer: 4:30 a.m.", False),
        ("Answer: 5:30 p.m.", False),
        ("Answer: 4:30", False),  # a.m. or p.m.? not the gold's time
    ],
)
def test_clock_times_are_compared_as_times(response: str, correct: bool) -> None:
    result = _judge([("\\text{4:30 p.m.}", response)])[0]
    assert (result.correct, result.rule) == (correct, RULE_TIME)


@pytest.mark.parametrize(
    ("response", "correct"),
    [
        ("$\\boxed{1+\\frac{1}{\\mathrm{e}}}$", False),
        ("$\\boxed{1-\\frac{1}{\\mathrm{e}}}$", True),
        ("$\\boxed{1 - e^{-1}}$", True),
        ("$\\boxed{\\frac{e-1}{e}}$", True),
    ],
)
def test_e_written_as_mathrm_is_the_constant_not_a_parse_stop(response, correct) -> None:
    """math-verify stops at \\mathrm{e} and reads 1 +- 1/e as 1 on both sides; not here."""
    assert _judge([("1-\\frac{1}{\\mathrm{e}}", response)])[0].correct is correct


# --- raw protocol ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "answer"),
    [
        ("... so the probability is 2/3.", "2/3"),
        ("Adding the cases, the probability is 2/3. I hope this helps!", "2/3"),
        ("Each of the 5 rows holds 5 seats, so there are 25 seats.", "25"),
        ("There are 25 seats in 5 rows.", "25"),
        ("Paula's investment is worth \\$16,386.20 after 5 years.", "\\$16,386.20"),
        ("the number is not 10 which is 1,000.99", "1,000.99"),
        ("Therefore $x \\geq 5$ is the solution.", "x \\geq 5"),
        ("所以一共有3 + 10 = 13只鸟。", "3 + 10 = 13"),
    ],
)
def test_raw_protocol_reads_the_value_the_last_math_sentence_states(response, answer) -> None:
    """No marker: the first value after the last sentence's last result word, else its last."""
    found = extract(REASONING + response)
    assert (found.answer, found.source, found.marker) == (answer, "raw", "last math expression")


@pytest.mark.parametrize(
    "response", ["I could not finish this problem.", "so the total is \\boxed{11", "\\boxed{}"]
)
def test_no_math_and_open_boxes_are_no_answer(response: str) -> None:
    result = _judge([("11", REASONING + response)])[0]
    assert (result.status, result.source, result.extracted) == ("no_answer", "none", None)


# --- what was already better than plain math-verify stays ----------------------------------


def test_integer_answers_zero_padding_fbox_and_many_intermediate_boxes() -> None:
    many = "".join(f"Case {k}: $\\boxed{{{7 * k}}}$.\n" for k in range(1, 60))
    pairs = [
        ("025", "Answer: 25"),
        ("25", "so \\boxed{025}"),
        ("004", "**Final Answer**\n\\boxed{4}"),
        ("113", "Therefore \\fbox{113}."),
        ("113", many + "\nAdding the cases:\n\n**Final Answer**\n\\boxed{113}"),
        ("113", many + "\nAnswer: 113"),
    ]
    results = _judge(pairs)
    assert all(r.correct and r.rule == RULE_INTEGER for r in results)


# --- the audit trail ----------------------------------------------------------------------------


def test_every_result_names_its_source_marker_and_rule() -> None:
    results = _judge(
        [
            ("12", "\\boxed{12}"),
            ("12", "Answer: 12"),
            ("12", "so it is 12."),
            ("12", "no idea"),
            ("\\frac{1}{2}", "Answer: 0.5"),
            ("\\sqrt{2}", "Answer: $2^{1/2}$"),
        ]
    )
    assert [r.source for r in results] == [
        "box",
        "answer_line",
        "raw",
        "none",
        *["answer_line"] * 2,
    ]
    assert [r.marker for r in results[:3]] == ["\\boxed", "Answer:", "last math expression"]
    assert [r.rule for r in results] == [
        RULE_INTEGER,
        RULE_INTEGER,
        RULE_INTEGER,
        "no answer found",
        RULE_RATIONAL,
        "math-verify",
    ]
    assert all(r.source in SOURCES for r in results)


def test_verify_result_keeps_its_three_field_constructor() -> None:
    """Callers that build VerifyResult(correct, extracted, status) keep working."""
    result = VerifyResult(True, "25", "ok")
    assert (result.correct, result.extracted, result.status, result.source) == (
        True,
        "25",
        "ok",
        "none",
    )


@pytest.mark.parametrize(
    ("response", "answer"),
    [
        ("Answer:\nAnswer: 25", "25"),
        ("Answer:\nAnswer:", None),
        ("Answer:\n" * 20_000, None),
        ("the answer is " * 20_000, None),
        ("Answer: " * 20_000 + "25", "25"),
        ("so 12 and 13 are there " * 25_000, "13"),
        ("\\boxed{1} " * 20_000, "1"),
    ],
)
def test_markers_never_answer_for_each_other_and_huge_inputs_are_read_from_the_end(
    response: str, answer: str | None
) -> None:
    """A marker's answer is never the next marker; thousands of markers, boxes or numbers are
    read from the end (only the last constructs are tried, a run-on sentence from its tail)."""
    assert extract(response).answer == answer
