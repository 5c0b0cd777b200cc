"""Answer and gold text as math-verify should see it. Pure string work, no sympy.

Each rewrite fixes a spelling math-verify misreads, with the misreading it prevents:
- ``\\$`` (a dollar sign) is dropped: MATH-500 golds such as ``\\$32,\\!348`` otherwise reach
  math-verify unwrapped and never parse, and ``\\boxed{\\$16386.17}`` misses its gold;
- digit-group separators ``\\,`` ``\\!`` ``\\;`` ``{,}`` go: ``1\\,000\\,000`` parses as 1*0*0;
- ``\\mathrm{e}`` becomes ``e``: math-verify stops at the unknown command, so ``1 +
  \\frac{1}{\\mathrm{e}}`` and ``1 - \\frac{1}{\\mathrm{e}}`` both read as 1 (a false "equal");
- a number followed by words ("25 dollars", "28 percent") keeps the number (and "%");
- words alone ("Evelyn") are wrapped in ``\\text{}`` so they compare as text, not as a
  product of symbols E*v*e*l*y*n.
"""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction

from fipo_bench.verify.latex import (
    has_unescaped_dollar,
    matching_braces,
    strip_delimiters,
    top_level_split,
)

# Plain integers, optionally signed, zero-padded ("025") or with strict thousands groups.
_PLAIN_INTEGER = re.compile(r"[+-]?(?:\d{1,100}|\d{1,3}(?:,\d{3}){1,33})")
_INTEGRAL_FLOAT = re.compile(r"([+-]?\d{1,100})\.0*")
_DIGIT_GROUP_SPACE = re.compile(r"(?<=\d)(?:\\[,;!: ]|~|\{,\}|,\\!)\s*(?=\d{3}(?!\d))")
_E_CONSTANT = re.compile(r"\\(?:mathrm|operatorname|text|mathit)\s*\{\s*e\s*\}|\\mathrm\s+e\b")
_NUMBER_WITH_WORDS = re.compile(
    r"([+-]?(?:\d[\d,]*(?:\.\d+)?|\.\d+)(?:\s*/\s*\d+)?)\s*(?:\\(?:text|mbox|mathrm)\s*\{)?"
    r"\s*([A-Za-z][A-Za-z .]*?)\s*\}?"
)
_SCIENTIFIC = re.compile(
    r"([+-]?\d+(?:\.\d+)?)\s*(?:\\times|\\cdot|\*|×)\s*10\s*\^\s*\{?\s*([+-]?\d{1,3})\s*\}?"
)
_PERCENT_WORDS = frozenset({"percent", "pct", "percentage"})
_ONLY_WORDS = re.compile(r"[A-Za-z][A-Za-z '\-]*")
_TEXT_WRAPPER = re.compile(r"\\(?:text|textbf|mbox|mathrm)\s*\{([^{}]*)\}")
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::\d{2})?\s*(?:([ap])\.?\s*m\.?)?", re.IGNORECASE)
# Separators between the values of a gold with several: "-2, 1", "1 and 2", "(2,2); (6,2)".
_GOLD_SEPARATORS = re.compile(
    r"\s*(?:,|;|\\text\{\s*(?:and|or)\s*\}|\s(?:and|or)\s)\s*", re.IGNORECASE
)
_COMMA = re.compile(r"\s*,\s*")
_SIZING = re.compile(r"\\(?:left|right|big|Big|bigg|Bigg)(?![A-Za-z])|\\[,;!: ]|~")
_FRAC_VARIANT = re.compile(r"\\[dt]frac(?![A-Za-z])")
_DEGREE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°")
_SPACE_NOT_AFTER_COMMAND = re.compile(r"(?<![A-Za-z])\s+|(?<=[A-Za-z])\s+(?![A-Za-z])")
_DECIMAL_NUMBER = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+)")
_SIMPLE_FRACTION = re.compile(
    r"([+-]?)\s*(?:\\frac\s*\{\s*(\d+)\s*\}\s*\{\s*(\d+)\s*\}|(\d+)\s*/\s*(\d+))"
)
_AND_OR = re.compile(r"\s*(?:\\text\{\s*(?:and|or)\s*\}|\s(?:and|or)\s)\s*", re.IGNORECASE)
_HEDGE = re.compile(r"\s(?:or)\s|\\text\{\s*or\s*\}", re.IGNORECASE)
_VARIABLE_PREFIX = re.compile(r"^[A-Za-z](?:_\{?\w+\}?)?\s*=\s*(?=\S)")
_NAME_PREFIX = re.compile(r"^\\?[A-Za-z]+(?:_\{?\w+\}?)?(?:\([A-Za-z, ]*\))?\s*=\s*(?=[^=]+$)")
_LEADING_SPACING = re.compile(r"^(?:\s|~|\\[ ,;!:]|\\q?quad\b)+")
_SPACE_GROUPED = re.compile(r"[+-]?\d{1,3}(?: \d{3})+(?:\.\d+)?")
_DECIMAL = re.compile(r"[+-]?\d+\.\d+")
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+")


def for_judging(text: str) -> str:
    """`text` rewritten as the module docstring lists, ready to wrap in $...$."""
    answer = strip_delimiters(text.strip())
    answer = answer.replace("\\$", "")
    answer = _DIGIT_GROUP_SPACE.sub("", answer)
    answer = answer.replace("\\!", "").replace("{,}", ",")
    answer = _E_CONSTANT.sub("e", answer)
    scientific = _SCIENTIFIC.fullmatch(answer)
    if scientific is not None:  # "1.13 \\times 10^2": math-verify leaves the product unevaluated
        value = Decimal(scientific.group(1)).scaleb(int(scientific.group(2)))
        answer = format(value.normalize(), "f")
    if _SPACE_GROUPED.fullmatch(answer):
        answer = answer.replace(" ", "")  # "1 000": a thousands group, not a product
    answer = _number_without_words(answer)
    if _ONLY_WORDS.fullmatch(answer) and not _single_letter(answer):
        return f"\\text{{{answer.strip()}}}"
    return answer.strip()


def as_math(answer: str) -> str:
    """Wrap a bare answer in $...$ so math-verify reads it as LaTeX (tuples, intervals, \\text)."""
    if has_unescaped_dollar(answer) or "\\boxed" in answer:
        return answer
    return f"${answer}$"


def plain_integer(text: str) -> int | None:
    """The value of a plain integer answer ("25", "025", "-3", "1,000", "27.0"), else None.

    AIME answers are integers; comparing them needs no sympy, which is the verifier's fast path.
    """
    candidate = text.strip()
    if _PLAIN_INTEGER.fullmatch(candidate):
        return int(candidate.replace(",", ""))
    integral = _INTEGRAL_FLOAT.fullmatch(candidate)
    if integral is not None:
        return int(integral.group(1))
    return None


def names_several(gold: str) -> bool:
    """Whether a gold has several values: a list ("-2, 1"), a set, a tuple, or a "\\pm"."""
    return value_count(gold) > 1


def value_count(gold: str) -> int:
    """How many values a gold names: "-2, 1" 2, "\\{1, 2, 3\\}" 3, "(6,31,-1)" 3, "3,250" 1."""
    if "\\pm" in gold or "±" in gold:
        return 2
    values = gold_values(gold)
    if len(values) > 1:
        return len(values)
    inner = _container_inside(gold)
    return len(top_level_split(inner, _COMMA)) if inner is not None else 1


def container(gold: str) -> str:
    """ "(" for a tuple gold "(6,31,-1)", "{" for a set gold "\\{1, 2\\}", else ""."""
    inner = _container_inside(gold)
    if inner is None or len(top_level_split(inner, _COMMA)) < 2:
        return ""
    return "{" if gold.strip().startswith("\\{") else "("


def _container_inside(gold: str) -> str | None:
    text = gold.strip()
    for left, right in (("\\{", "\\}"), ("\\left(", "\\right)"), ("(", ")")):
        if text.startswith(left) and text.endswith(right):
            inner = text[len(left) : len(text) - len(right)]
            if _balanced(inner):
                return inner
    return None


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += char in "([{"
        depth -= char in ")]}"
        if depth < 0:
            return False
    return depth == 0


def gold_values(gold: str) -> list[str]:
    """The values a list answer names, split at top-level commas, semicolons, "and", "or"."""
    if plain_integer(gold) is not None:
        return [gold]
    text = gold.strip()
    if (
        text.startswith("{")
        and text.endswith("}")
        and matching_braces(text).get(0) == len(text) - 1
    ):
        text = text[1:-1]  # "{1,2,3}": grouping braces around a list
    values = [v for v in top_level_split(text, _GOLD_SEPARATORS) if v.strip()]
    return values or [gold]


def is_hedge(answer: str) -> bool:
    """ "25 or 26": two candidates offered as one answer."""
    return len(top_level_split(answer, _HEDGE)) > 1


def join_parts(parts: tuple[str, ...]) -> str:
    """Several answers as one comma list for math-verify ("x = 1", "x = -2" -> "1, -2")."""
    return ", ".join(
        _VARIABLE_PREFIX.sub("", _LEADING_SPACING.sub("", part).strip()) for part in parts
    )


def and_as_comma(text: str) -> str:
    """ "12 \\text{ and } 13" -> "12, 13": the list form math-verify compares as a set."""
    parts = (part.strip().strip(",").strip() for part in top_level_split(text, _AND_OR))
    return ", ".join(part for part in parts if part)


def without_name(answer: str) -> str:
    """ "k = \\frac{1}{3}" -> "\\frac{1}{3}" (for a gold with no "="; math-verify trips on an
    unknown name command such as "\\k")."""
    return _NAME_PREFIX.sub("", answer)


def canonical_text(text: str) -> str:
    """Spelling-only differences removed: spaces, \\left/\\right, \\dfrac/\\tfrac, thin spaces,
    degree marks. Two answers with the same canonical text are the same answer."""
    canonical = _SIZING.sub("", text)
    canonical = _FRAC_VARIANT.sub(r"\\frac", canonical)
    canonical = _DEGREE.sub("", canonical)
    canonical = _SPACE_NOT_AFTER_COMMAND.sub("", canonical)
    return canonical.rstrip(".")


def exact_rational(text: str) -> Fraction | None:
    """The value of an integer, decimal or simple fraction ("-\\frac{3}{4}", "3/4", ".5")."""
    candidate = text.strip()
    integer = plain_integer(candidate)
    if integer is not None:
        return Fraction(integer)
    if _DECIMAL_NUMBER.fullmatch(candidate):
        return Fraction(candidate)
    fraction = _SIMPLE_FRACTION.fullmatch(candidate)
    if fraction is not None:
        sign, numerator, denominator = fraction.group(1), *(fraction.group(2, 3) or ())
        if numerator is None:
            numerator, denominator = fraction.group(4), fraction.group(5)
        if int(denominator) == 0:
            return None
        value = Fraction(int(numerator), int(denominator))
        return -value if sign == "-" else value
    return None


def decimal_comma(gold: str, answer: str) -> tuple[str, str]:
    """ "1000,99" against a gold of 1000.99 (or the reverse) is a decimal comma, not a list."""
    if _DECIMAL.fullmatch(gold) and _DECIMAL_COMMA.fullmatch(answer) and not _thousands(answer):
        return gold, answer.replace(",", ".")
    if _DECIMAL.fullmatch(answer) and _DECIMAL_COMMA.fullmatch(gold) and not _thousands(gold):
        return gold.replace(",", "."), answer
    return gold, answer


def _thousands(text: str) -> bool:
    return _PLAIN_INTEGER.fullmatch(text) is not None


def parse_time(text: str) -> tuple[int, int, str | None] | None:
    """(hour, minute, "a"|"p"|None) of a clock time ("4:30 p.m.", "\\text{16:30}"), else None."""
    unwrapped = _TEXT_WRAPPER.sub(lambda m: m.group(1), text).strip().rstrip(".")
    match = _TIME.fullmatch(unwrapped.strip())
    if match is None:
        return None
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        return None
    meridiem = match.group(3).lower() if match.group(3) else None
    return hour, minute, meridiem


def same_time(gold: tuple[int, int, str | None], answer: tuple[int, int, str | None]) -> bool:
    """Equal clock times: "4:30 p.m." == "16:30"; "4:30" (a.m. or p.m.?) only equals "4:30"."""
    gold_minutes, answer_minutes = _minutes(gold), _minutes(answer)
    if gold_minutes is None or answer_minutes is None:
        return gold_minutes is None and answer_minutes is None and gold[:2] == answer[:2]
    return gold_minutes == answer_minutes


def _minutes(time: tuple[int, int, str | None]) -> int | None:
    """Minutes after midnight, or None for an hour 1-12 with no a.m./p.m. (ambiguous)."""
    hour, minute, meridiem = time
    if meridiem is not None:
        return (hour % 12 + (12 if meridiem == "p" else 0)) * 60 + minute
    return hour * 60 + minute if hour == 0 or hour >= 13 else None


def _number_without_words(answer: str) -> str:
    match = _NUMBER_WITH_WORDS.fullmatch(answer)
    if match is None or _single_letter(match.group(2)):
        return answer
    words = match.group(2).strip().lower()
    if words in {"or", "and"} or words.startswith(("or ", "and ")):
        return answer
    number = match.group(1)
    return f"{number}\\%" if words in _PERCENT_WORDS else number


def _single_letter(text: str) -> bool:
    return len(text.strip()) == 1
