"""Deciding a verdict from an extraction: the rules before (and instead of) math-verify.

In order, the first that applies decides:

1. no answer -> ``no_answer``;
2. several answers given together (boxes in a row, "1, 2 and 3", "2 or 3"): judged as one set
   when the gold lists several values; when the gold is one value, an "or" or two different
   answers is a hedge (wrong), the same answer repeated is that answer;
3. an answer that offers alternatives ("25 or 26") for a one-value gold is a hedge (wrong);
4. both integers -> compared as integers ("025" == 25; AIME, no sympy);
5. the same text as the gold up to spelling (spaces, ``\\dfrac``, ``\\left(``) -> correct;
6. both exact rationals ("\\frac{3}{4}", "0.75", "3/4") -> compared as fractions (an unequal
   pair with a decimal goes on to math-verify, whose rounding tolerance decides it);
7. a clock-time gold ("4:30 p.m.") -> compared as times (math-verify reads 4:30 as 4/30);
8. otherwise math-verify, in a worker process under a deadline (judge.py).

Rules 4-6 only skip sympy where its verdict is certain; they make a MATH-500 evaluation
several times faster.

Gold and answer are rewritten by `normalize.for_judging` first (dollar signs, digit-group
spaces, ``\\mathrm{e}``, units in words).
"""

from __future__ import annotations

from dataclasses import dataclass

from fipo_bench.verify.extract import Extraction
from fipo_bench.verify.judge import STATUS_NO_ANSWER, STATUS_OK
from fipo_bench.verify.normalize import (
    and_as_comma,
    as_math,
    canonical_text,
    container,
    decimal_comma,
    exact_rational,
    for_judging,
    is_hedge,
    join_parts,
    parse_time,
    plain_integer,
    same_time,
    value_count,
    without_name,
)

RULE_NONE = "no answer found"
RULE_HEDGE = "hedge: several different answers for a one-value gold"
RULE_INTEGER = "integer comparison"
RULE_TIME = "clock-time comparison"
RULE_SAME_TEXT = "same text as the gold (up to spacing and \\dfrac/\\left spellings)"
RULE_RATIONAL = "exact rational comparison"
RULE_MATH_VERIFY = "math-verify"
RULE_SET = "answers given together, judged as one set"


@dataclass(frozen=True)
class Decided:
    """A verdict reached without math-verify."""

    answer: str | None  # the answer as judged (parts joined when judged as a set)
    status: str
    correct: bool
    rule: str


@dataclass(frozen=True)
class NeedsMathVerify:
    """A pair for the worker pool: gold and answer already wrapped as math-verify input."""

    answer: str
    gold_math: str
    answer_math: str
    rule: str


def decide(gold: str, extraction: Extraction) -> Decided | NeedsMathVerify:
    """The verdict for `extraction` against `gold`, or the math-verify pair that will give it."""
    if extraction.answer is None:
        return Decided(None, STATUS_NO_ANSWER, False, RULE_NONE)
    gold_text, answer_text = decimal_comma(for_judging(gold), for_judging(extraction.answer))
    count = value_count(gold_text)
    several = count > 1
    answer = extraction.answer
    rule = RULE_MATH_VERIFY
    parts = extraction.parts
    if several and len(parts) < count <= len(extraction.paragraph):
        parts = extraction.paragraph[-count:]  # the gold's values boxed apart in one paragraph
    if len(parts) > 1:
        distinct = {for_judging(part) for part in parts}
        if several:
            answer, rule = join_parts(parts), RULE_SET
            if container(gold_text) == "(":
                answer = f"({answer})"  # "\\boxed{6}, \\boxed{31}, \\boxed{-1}" as the triple
            answer_text = for_judging(answer)
        elif extraction.joiner == "or" or len(distinct) > 1:
            shown = f" {extraction.joiner} ".join(parts)
            return Decided(shown, STATUS_OK, False, RULE_HEDGE)
    elif not several and is_hedge(answer):
        return Decided(answer, STATUS_OK, False, RULE_HEDGE)
    if several:  # "12 \\text{ and } 13" on either side: the comma list math-verify reads as a set
        gold_text, answer_text = and_as_comma(gold_text), and_as_comma(answer_text)
    if "=" not in gold_text:
        answer_text = without_name(answer_text)
    decided = _compare(gold_text, answer_text)
    if rule == RULE_SET:  # say both: the parts were joined, and what compared them
        how = decided[1] if decided is not None else RULE_MATH_VERIFY
        rule = f"{RULE_SET}, by {how}"
    if decided is None:
        return NeedsMathVerify(answer, as_math(gold_text), as_math(answer_text), rule)
    return Decided(answer, STATUS_OK, decided[0], rule if rule != RULE_MATH_VERIFY else decided[1])


def _compare(gold_text: str, answer_text: str) -> tuple[bool, str] | None:
    """(correct, rule) where a rule settles the pair without sympy, else None (rules 4-7)."""
    gold_int, answer_int = plain_integer(gold_text), plain_integer(answer_text)
    if gold_int is not None and answer_int is not None:
        return gold_int == answer_int, RULE_INTEGER
    if canonical_text(gold_text) == canonical_text(answer_text):
        return True, RULE_SAME_TEXT
    gold_value, answer_value = exact_rational(gold_text), exact_rational(answer_text)
    if gold_value is not None and answer_value is not None:
        if gold_value == answer_value:
            return True, RULE_RATIONAL
        if "." not in gold_text + answer_text:  # decimals: math-verify's rounding decides
            return False, RULE_RATIONAL
    gold_time = parse_time(gold_text)
    if gold_time is not None:
        answer_time = parse_time(answer_text)
        return answer_time is not None and same_time(gold_time, answer_time), RULE_TIME
    return None
