"""Finding the answer inside prose: "The largest $n$ is 34." -> 34, "25 or 26" -> a hedge.

A *math item* is a math span (``$..$``, ``\\[..\\]``, ...) or a bare run of math-like words
outside spans ("1,000", "x = 5", "\\frac{1}{2}", "2/3"). Text around the items decides which
one is the answer; words alone ("Evelyn") can be an answer too when they are short.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from fipo_bench.verify.latex import Span, drop_lone_dollar, math_spans

_OPERATORS = frozenset(
    {"=", "+", "-", "*", "/", "^", "<", ">", "×", "÷", "≤", "≥", "≠", "±"}
    | {"\\times", "\\cdot", "\\div", "\\le", "\\leq", "\\ge", "\\geq", "\\ne", "\\neq", "\\pm"}
)
_SENTENCE_END = re.compile(r"[.!?](?=\s)|\n")
# Separators allowed between the items of one list answer: "1, 2 and 3", "$2$ or $3$".
_LIST_GAP = re.compile(r"(?:\s|,|;|&|\band\b|\bor\b|\\quad|\\qquad|\\text\{\s*(?:and|or)\s*\})*")
_HAS_OR = re.compile(r"\bor\b")
# Words that start a justification after the answer: "25 because there are 5 groups".
_CLAUSE_CUT = re.compile(r"\b(?:because|since|as|given|which|where|when|if)\b", re.IGNORECASE)
_OPEN_BOX = re.compile(r"\\(?:boxed|fbox)\b")
# CJK text has no spaces between words: its characters and punctuation separate tokens.
_CJK = "\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f"
_TOKEN = re.compile(rf"[^\s{_CJK}]+")
_WORD = re.compile(rf"(?<![\\A-Za-z])[A-Za-z]{{2,}}|[{_CJK}]+")
_NOT_WORDS = frozenset({"or", "and"})
_COPULA = re.compile(r"\b(?:is|are|was|equals|be)\b", re.IGNORECASE)
# Words after which a sentence states its result: "the largest $n$ is 34", "so $x = 1$".
_ANCHOR = re.compile(
    r"\b(?:is|are|was|were|equals?|be|it's|so|thus|therefore|hence|gives?|gets?|becomes?)\b",
    re.IGNORECASE,
)
# An item that only names something ("$n$", "$f(x)$", "$ABCD$"), not a value.
_NAME_ONLY = re.compile(r"[A-Za-z]+(?:_\{?\w+\}?)?(?:\([A-Za-z, ]*\))?'?")
_CLOCK = re.compile(r"\d{1,2}:\d{2}")
_MERIDIEM = re.compile(r"(?:[ap]\.?m\.?|[AP]M)[.,;!?]*")
MAX_TEXT_ANSWER_WORDS = 3
MAX_SENTENCE_CHARS = 4096


@dataclass(frozen=True)
class ProseAnswer:
    answer: str
    parts: tuple[str, ...] = ()  # two or more items given together ("1, 2 and 3", "2 or 3")
    joiner: str = ""  # "or" when any separator between the parts is an "or", else "and"


def items(text: str) -> list[Span]:
    """Math spans and bare math runs of `text`, in order of position."""
    spans = math_spans(text)
    found: list[Span] = []
    position = 0
    for span in spans:
        found.extend(_bare_runs(text, position, span.start))
        if not _OPEN_BOX.search(span.content):  # an empty or unclosed box answers nothing
            found.append(span)
        position = span.end
    found.extend(_bare_runs(text, position, len(text)))
    return found


def words_outside_math(text: str) -> list[str]:
    """Words of two or more letters outside math, LaTeX commands and "and"/"or" excluded."""
    masked = _mask(text, math_spans(text))
    return [w for w in _WORD.findall(masked) if w.lower() not in _NOT_WORDS]


def read_marked(content: str) -> ProseAnswer | None:
    """The answer in the text after an answer marker ("Answer:", "the final answer is").

    Math-like content (no words) is the answer whole, split only into a list at "or"/"and".
    Prose keeps its first sentence, drops a trailing justification ("because ..."), and
    answers with the value it states (`_pick`, first item by default: "The walk takes $204$
    minutes"); prose without math is a text answer when it is short ("Evelyn").
    """
    content = first_sentence(content)
    words = words_outside_math(content)
    found = items(content)
    listed = _trailing_list(content, found)
    if listed is not None:
        return listed
    if not words:
        return ProseAnswer(content.strip()) if content.strip() else None
    clause = _cut_justification(content)
    found = items(clause)
    listed = _trailing_list(clause, found)
    if listed is not None:
        return listed
    if found:
        return ProseAnswer(_pick(clause, found, last=False).content.strip())
    if len(words) <= MAX_TEXT_ANSWER_WORDS:
        copulas = list(_COPULA.finditer(clause))
        text = clause[copulas[-1].end() :] if copulas else clause
        return ProseAnswer(text.strip()) if text.strip() else None
    return None


def read_raw(text: str) -> ProseAnswer | None:
    """Raw protocol: the value stated by the last sentence that has a math item (`_pick`, last
    item by default: "so the probability is 2/3." -> 2/3; see extract.py)."""
    masked = _mask(text, math_spans(text))
    bounds = [0, *(m.end() for m in _SENTENCE_END.finditer(masked)), len(text)]
    for start, end in reversed(list(itertools.pairwise(bounds))):
        # A run-on "sentence" (no stop for pages) is read from its end, in linear time.
        sentence = text[max(start, end - MAX_SENTENCE_CHARS) : end]
        found = items(sentence)
        if found:
            listed = _trailing_list(sentence, found)
            if listed is not None:
                return listed
            return ProseAnswer(_pick(sentence, found, last=True).content.strip())
    return None


def _pick(text: str, found: list[Span], *, last: bool) -> Span:
    """The item a sentence states as its result.

    The first value after the sentence's last result word ("is", "are", "so", "thus", ...)
    when one follows it ("the number is not 10 which is 1,000.99" -> 1,000.99; "Paula's
    investment is worth $16,386.20 after 5 years" -> 16,386.20), else the `last` (or first)
    value. Items that only name something ("$n$", "$f(x)$") are values only when nothing else is.
    """
    values = [item for item in found if not _NAME_ONLY.fullmatch(item.content.strip())] or found
    anchors = list(_ANCHOR.finditer(_mask(text, math_spans(text))))
    if anchors:
        after = [item for item in values if item.start >= anchors[-1].end()]
        if after:
            return after[0]
    return values[-1] if last else values[0]


def first_sentence(text: str) -> str:
    """Text up to the first sentence end outside math ("25. I hope it is correct." -> "25")."""
    masked = _mask(text, math_spans(text))
    end = re.search(r"[.!?](?=\s+\S)", masked)
    return text[: end.start()] if end is not None else text


def _cut_justification(text: str) -> str:
    masked = _mask(text, math_spans(text))
    cut = _CLAUSE_CUT.search(masked)
    if cut is None or not items(text[: cut.start()]):
        return text
    return text[: cut.start()]


def _trailing_list(text: str, found: list[Span]) -> ProseAnswer | None:
    """Two or more items at the end joined only by commas, "and", "or": a list answer."""
    if len(found) < 2:
        return None
    tail = [found[-1]]
    joiner = "and"
    for previous in reversed(found[:-1]):
        gap = text[previous.end : tail[0].start]
        if not _LIST_GAP.fullmatch(gap):
            break
        if _HAS_OR.search(gap):
            joiner = "or"
        tail.insert(0, previous)
    if len(tail) < 2:
        return None
    parts = tuple(span.content.strip() for span in tail)
    return ProseAnswer(parts[-1], parts, joiner)


def _mask(text: str, spans: list[Span]) -> str:
    """`text` with each span replaced by as many spaces (positions kept, math out of sight)."""
    if not spans:
        return text
    pieces, position = [], 0
    for span in spans:
        pieces.append(text[position : span.start])
        pieces.append(" " * (span.end - span.start))
        position = span.end
    pieces.append(text[position:])
    return "".join(pieces)


def _is_mathy(token: str) -> bool:
    return (
        any(char.isdigit() for char in token)
        or re.match(r"\\[A-Za-z]", token) is not None  # a LaTeX command: \frac{1}{2}, \pi
        or token in _OPERATORS
        or (len(token) == 1 and token.isalpha())
    )


def _is_meridiem(token: str, run: list[re.Match[str]]) -> bool:
    """ "p.m." right after a clock time ("4:30 p.m.") belongs to the time."""
    return (
        bool(run)
        and _CLOCK.fullmatch(run[-1].group(0)) is not None
        and (_MERIDIEM.fullmatch(token) is not None)
    )


def _bare_runs(text: str, start: int, stop: int) -> list[Span]:
    """Maximal runs of math-like tokens in text[start:stop]; each must hold a digit or \\cmd."""
    runs: list[Span] = []
    run: list[re.Match[str]] = []

    def close() -> None:
        tokens = _trim(run)
        text_of_run = " ".join(t.group(0) for t in tokens)
        # A box left open is a truncated answer, not a math expression to fall back on.
        if tokens and re.search(r"[\d\\]", text_of_run) and not _OPEN_BOX.search(text_of_run):
            begin, end = tokens[0].start(), tokens[-1].end()
            content = text[begin:end].rstrip(".,;:!?")
            end = begin + len(content)
            runs.append(Span(begin, end, drop_lone_dollar(content), "bare"))
        run.clear()

    for token in _TOKEN.finditer(text, start, stop):
        word = token.group(0)
        bare = word.rstrip(".,;:!?")
        if _is_meridiem(word, run):
            run.append(token)
            close()
        elif bare and _is_mathy(bare.lstrip("$(").rstrip("$)")):
            run.append(token)
            if word != bare and word[len(bare)] in ".;:!?":
                close()  # a sentence mark ends the run: "so 6. Then ..."
        else:
            close()
    close()
    return runs


def _trim(run: list[re.Match[str]]) -> list[re.Match[str]]:
    """Drop operators at the ends and lone letters not tied to an operator ("a 25" -> "25")."""
    tokens = list(run)

    def loose_letter(index: int, neighbour: int) -> bool:
        word = tokens[index].group(0).rstrip(".,;:!?")
        if not (len(word) == 1 and word.isalpha()):
            return False
        return not (0 <= neighbour < len(tokens) and tokens[neighbour].group(0) in _OPERATORS)

    changed = True
    while tokens and changed:
        changed = False
        if tokens and (tokens[0].group(0) in _OPERATORS - {"-", "+"} or loose_letter(0, 1)):
            tokens.pop(0)
            changed = True
        if tokens and (
            tokens[-1].group(0).rstrip(".,;:!?") in _OPERATORS
            or loose_letter(len(tokens) - 1, len(tokens) - 2)
        ):
            tokens.pop()
            changed = True
    return tokens
