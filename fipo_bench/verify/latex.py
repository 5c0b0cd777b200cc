"""LaTeX-aware string scanning for answer extraction: braces, boxes, math spans. No sympy.

Everything here is one linear pass over the text (a response can run to hundreds of kilobytes
and hold thousands of unclosed ``\\boxed{``), and returns positions so the extraction protocol
can ask "which construct comes last".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_BOX_COMMAND = re.compile(r"\\(boxed|fbox)\s*")
_DELIMITERS = re.compile(r"\\\$|\$\$|\$|\\\(|\\\[")
_CLOSER = {"$$": "$$", "$": "$", "\\(": "\\)", "\\[": "\\]"}


@dataclass(frozen=True)
class Span:
    """A piece of the text: [start, end) in the original string and its inner content."""

    start: int
    end: int
    content: str
    kind: str  # box: "boxed" | "fbox"; math: "$" | "$$" | "\\(" | "\\["


def matching_braces(text: str) -> dict[int, int]:
    """Index of each "{" -> index of its matching "}", for the braces that close.

    Escaped braces (``\\{``, ``\\}``: set delimiters) are not grouping braces.
    """
    pairs: dict[int, int] = {}
    stack: list[int] = []
    for index, char in enumerate(text):
        if char not in "{}" or (index > 0 and text[index - 1] == "\\"):
            continue
        if char == "{":
            stack.append(index)
        elif stack:
            pairs[stack.pop()] = index
    return pairs


def boxes(text: str) -> list[Span]:
    """Every complete ``\\boxed{...}`` / ``\\fbox{...}`` in order of position.

    A box left open (a truncated response) is skipped. ``\\boxed 5`` (no braces) yields the
    single token after the command, as LaTeX reads it.
    """
    if "\\boxed" not in text and "\\fbox" not in text:
        return []
    pairs = matching_braces(text)
    found = []
    for match in _BOX_COMMAND.finditer(text):
        start = match.end()
        if text.startswith("{", start):
            close = pairs.get(start)
            if close is not None:
                found.append(Span(match.start(), close + 1, text[start + 1 : close], match[1]))
        elif match.group(0) != match.group(0).rstrip():
            token = re.match(r"[^\s$]+", text[start:])
            if token is not None:
                end = start + token.end()
                found.append(Span(match.start(), end, token.group(0), match[1]))
    return found


def math_spans(text: str) -> list[Span]:
    """Math in ``$..$``, ``$$..$$``, ``\\(..\\)``, ``\\[..\\]``, in order, not nested.

    ``\\$`` is a dollar sign, not a delimiter. An inline ``$`` span never crosses a blank line
    and a ``$`` with no partner is text (a price: "costs $5"), as in Markdown renderers.
    """
    spans: list[Span] = []
    position = 0
    while True:
        match = _DELIMITERS.search(text, position)
        if match is None:
            return spans
        opener = match.group(0)
        if opener == "\\$":
            position = match.end()
            continue
        close = _find_closer(text, match.end(), _CLOSER[opener])
        if close is None or (opener == "$" and "\n\n" in text[match.end() : close]):
            position = match.end()
            continue
        end = close + len(_CLOSER[opener])
        spans.append(Span(match.start(), end, text[match.end() : close], opener))
        position = end


def _find_closer(text: str, start: int, closer: str) -> int | None:
    position = start
    while True:
        index = text.find(closer, position)
        if index < 0:
            return None
        if closer.startswith("$") and index > 0 and text[index - 1] == "\\":
            position = index + 1  # an escaped \$ inside the math
            continue
        if closer == "$" and text.startswith("$$", index):
            return None if index == start else index
        return index


def strip_delimiters(text: str) -> str:
    """The inside of one math span that covers the whole text, else the text unchanged."""
    stripped = text.strip()
    for left, right in (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$")):
        if (
            stripped.startswith(left)
            and stripped.endswith(right)
            and len(stripped) >= len(left) + len(right)
        ):
            inner = stripped[len(left) : len(stripped) - len(right)]
            if left == "$" and has_unescaped_dollar(inner):
                continue  # "$1$ and $2$": two spans, not one
            return inner.strip()
    return stripped


def drop_lone_dollar(text: str) -> str:
    """ "$25" (a price, or DAPO's "Answer: $Answer" taken literally) -> "25"; spans untouched."""
    dollars = [i for i, char in enumerate(text) if char == "$" and (i == 0 or text[i - 1] != "\\")]
    if len(dollars) != 1 or dollars[0] not in (0, len(text) - 1):
        return text
    return text[1:] if dollars[0] == 0 else text[:-1]


def has_unescaped_dollar(text: str) -> bool:
    """Whether `text` holds a math delimiter $ (not a \\$ dollar sign)."""
    return any(char == "$" and (i == 0 or text[i - 1] != "\\") for i, char in enumerate(text))


def top_level_split(text: str, separators: re.Pattern[str]) -> list[str]:
    """Split at matches of `separators` that lie outside (), [], {} and \\{ \\}."""
    parts: list[str] = []
    depth = 0
    last = 0
    position = 0
    while position < len(text):
        char = text[position]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(0, depth - 1)
        elif depth == 0:
            match = separators.match(text, position)
            if match is not None and match.end() > position:
                parts.append(text[last:position])
                last = position = match.end()
                continue
        position += 1
    parts.append(text[last:])
    return parts
