"""Answer extraction: find the final answer a response commits to. Pure string work, no sympy.

Protocols, in priority order (the first one that yields an answer wins):

1. The last ``Answer:`` line (DAPO's instruction: "The last line of your response should be of
   the form Answer: $Answer"). Markdown bold (``**Answer:**``) and "Final Answer:" match too; an
   empty ``Answer:`` line takes the next non-empty line. If that line holds a ``\\boxed{}``, the
   box content is the answer.
2. The last ``\\boxed{...}`` / ``\\fbox{...}`` with balanced braces (Qwen/MATH protocol).
3. The last "final answer is ..." phrase (Minerva protocol: "The final answer is $25$.").

The extracted string is cleaned of math delimiters (``$..$``, ``\\(..\\)``, ``\\[..\\]``), bold
markers and a trailing period, so it is what a person would call "the answer" and what the
judge compares against the gold.
"""

from __future__ import annotations

import re

# "answer:" anywhere in a line (so "Final Answer:" and "**Answer:**" match), last one wins.
_ANSWER_LINE = re.compile(r"answer\s*\**\s*:\s*\**[ \t]*([^\n]*)", re.IGNORECASE)
_BOX_COMMAND = re.compile(r"\\(?:boxed|fbox)\s*")
_FINAL_ANSWER_IS = re.compile(r"final answer is\s*:?[ \t]*([^\n]*)", re.IGNORECASE)
_INLINE_MATH = re.compile(r"\$\$?([^$]+?)\$\$?")
# Plain integers, optionally signed, zero-padded ("025") or with strict thousands groups.
_PLAIN_INTEGER = re.compile(r"[+-]?(?:\d{1,100}|\d{1,3}(?:,\d{3}){1,33})")
_INTEGRAL_FLOAT = re.compile(r"([+-]?\d{1,100})\.0*")
_MAX_CLEAN_PASSES = 4
_MAX_BOX_TRIES = 8


def extract_answer(response: str) -> str | None:
    """The answer the response commits to (see module docstring for the protocol order).

    Returns None when no protocol matches or the match is empty after cleaning.
    """
    for finder in (_from_answer_line, _from_last_box, _from_final_answer_phrase):
        found = finder(response)
        if found is not None:
            answer = clean_answer(found)
            if answer:
                return answer
    return None


def clean_answer(text: str) -> str:
    """Strip delimiters and decoration around an answer; keep the mathematical content."""
    answer = text.strip()
    for _ in range(_MAX_CLEAN_PASSES):
        before = answer
        boxed = last_boxed(answer)
        if boxed is not None:
            answer = boxed
        answer = answer.strip().strip("*").strip()
        answer = _strip_delimiters(answer)
        answer = _single_inline_math(answer)
        answer = answer.rstrip(".").rstrip()
        if answer == before:
            break
    # Empty math ("$$", "$ $") is no answer.
    return answer if answer.strip("$ ") else ""


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` or ``\\fbox{...}`` whose braces balance, else None.

    A box left open (a truncated response) is skipped in favour of an earlier complete one.
    ``\\boxed 5`` (no braces) yields the single token after the command.
    """
    # Only the last few boxes are tried: each try scans to the end of the text, and a response
    # with thousands of unclosed boxes must stay linear.
    for match in list(_BOX_COMMAND.finditer(text))[-_MAX_BOX_TRIES:][::-1]:
        start = match.end()
        if text.startswith("{", start):
            content = _balanced_braces(text, start)
            if content is not None:
                return content
        elif match.group(0) != match.group(0).rstrip():
            token = re.match(r"[^\s$]+", text[start:])
            if token is not None:
                return token.group(0)
    return None


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


def _last_match(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    last = None
    for match in pattern.finditer(text):
        last = match
    return last


def _from_answer_line(response: str) -> str | None:
    last = _last_match(_ANSWER_LINE, response)
    if last is None:
        return None
    rest = last.group(1).strip()
    if rest:
        return rest
    # "Answer:" alone on its line: the answer is on the next non-empty line.
    for line in response[last.end() :].splitlines():
        if line.strip():
            return line.strip()
    return None


def _from_last_box(response: str) -> str | None:
    return last_boxed(response)


def _from_final_answer_phrase(response: str) -> str | None:
    last = _last_match(_FINAL_ANSWER_IS, response)
    if last is None:
        return None
    rest = last.group(1).strip()
    # "The final answer is 25. I hope it is correct." -> keep the first sentence only, unless
    # the answer is in math delimiters (a decimal point must not end it).
    math = _INLINE_MATH.match(rest)
    if math is not None:
        return math.group(0)
    return re.split(r"\.(?:\s|$)", rest, maxsplit=1)[0]


def _balanced_braces(text: str, open_at: int) -> str | None:
    """Content between text[open_at] == "{" and its matching "}"; escaped \\{ \\} do not count."""
    depth = 0
    for index in range(open_at, len(text)):
        char = text[index]
        if char not in "{}" or (index > 0 and text[index - 1] == "\\"):
            continue
        depth += 1 if char == "{" else -1
        if depth == 0:
            return text[open_at + 1 : index]
    return None


def _strip_delimiters(answer: str) -> str:
    """\\[..\\] and \\(..\\); dollar spans are handled by _single_inline_math."""
    for left, right in (("\\[", "\\]"), ("\\(", "\\)")):
        if answer.startswith(left) and answer.endswith(right) and len(answer) >= 4:
            return answer[len(left) : -len(right)].strip()
    return answer


def _single_inline_math(answer: str) -> str:
    """ "The answer is $25$ minutes" -> "25"; two or more math spans stay as they are."""
    spans = _INLINE_MATH.findall(answer)
    if len(spans) == 1 and "$" in answer:
        return spans[0].strip()
    return answer
