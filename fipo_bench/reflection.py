"""Self-reflection in a response: the one lexicon and its whole-word matcher.

The phrases live in data/reflection_lexicon.txt; training's reflection_rate, the reports and
the keyword pivots all count with `default_lexicon()`, so their numbers can be compared.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from fipo_bench.resources import data_text, phrase_lines

REFLECTION_LEXICON_FILE = "reflection_lexicon.txt"


@dataclass(frozen=True)
class Lexicon:
    """A compiled reflection lexicon: one alternation, longest phrase first, so "let me re-check"
    wins over "re-check" and one stretch of text is one hit."""

    phrases: tuple[str, ...]
    pattern: re.Pattern[str]

    @classmethod
    def compile(cls, phrases: Iterable[str]) -> Lexicon:
        unique = tuple(dict.fromkeys(p.strip().lower() for p in phrases if p.strip()))
        if not unique:
            raise ValueError("a lexicon needs at least one non-empty phrase")
        ordered = sorted(range(len(unique)), key=lambda i: (-len(unique[i]), i))
        # Whitespace inside a phrase matches any run of whitespace ("check\n again").
        parts = [
            f"(?P<k{i}>" + r"\s+".join(re.escape(w) for w in unique[i].split()) + ")"
            for i in ordered
        ]
        # (?<!\w) / (?!\w): whole words, so "wait" does not fire inside "await" or "waiting".
        pattern = re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)", re.IGNORECASE)
        return cls(unique, pattern)

    def count(self, text: str) -> int:
        """Number of hits in a text (the reflection count of a response)."""
        return sum(1 for _ in self.pattern.finditer(text))


@functools.cache
def default_lexicon() -> Lexicon:
    """The project's reflection lexicon (data/reflection_lexicon.txt), compiled once."""
    return Lexicon.compile(phrase_lines(data_text(REFLECTION_LEXICON_FILE)))


def has_reflection(text: str) -> bool:
    """True when the response revisits its own work (at least one lexicon hit)."""
    return default_lexicon().pattern.search(text) is not None
