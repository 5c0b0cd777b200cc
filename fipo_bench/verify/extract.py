"""Answer extraction: find the final answer a response commits to. Pure string work, no sympy.

The protocol (the same for every prompt style: boxed, dapo, raw):

1. Only the text after the last ``</think>`` is read when it holds an answer; the thinking
   before it is a scratchpad.
2. The answer is the **last answer-bearing construct** in that text, whichever marker it uses:
   - a box, ``\\boxed{...}`` or ``\\fbox{...}`` with balanced braces (Qwen/MATH protocol);
   - an answer line: ``Answer:`` (DAPO: "The last line of your response should be of the form
     Answer: $Answer"), ``**Final Answer:**``, "The final answer is ..." (Minerva), "the answer
     is ...". A marker with nothing after it on its line reads the math block or line that
     follows it ("**Final Answer:**" then ``\\[ \\boxed{189} \\]``; "Answer:" then ``$$ 25 $$``).
   "Let me verify my answer: 3 + 4 = 7" is not a marker (only line starts, sentence starts,
   "final answer" and "the answer is" are), and a later box beats any earlier answer line.
3. The text after an answer line is read as prose when it has words (prose.py): "The largest
   $n$ is 34." answers 34 (a lone ``$n$`` is not the answer), "25 dollars" answers 25, "25 or
   26" is a list with "or" (a hedge, see rules.py).
4. Several boxes in a row separated only by commas, "and", "or" (``\\boxed{(2,2)}`` and
   ``\\boxed{(6,2)}``) are kept together as `parts`; rules.py judges them as one set when the
   gold has several values (and, for such a gold, takes as many of the boxes that end the final
   paragraph as it has values: "for part (a) ... \\boxed{1} and for part (b) ... \\boxed{2}").
5. **Raw protocol**, when no construct yields an answer: the last sentence that holds a math
   item (a math span, or a bare expression such as "2/3" or "1,000") answers with the value it
   states: the first item after its last result word ("is", "are", "so", "thus", ...),
   else its last item. "so the probability is 2/3." -> 2/3; "There are 25 seats in 5 rows."
   -> 25; "Paula's investment is worth \\$16,386.20 after 5 years." -> \\$16,386.20. A
   response with no math at all has no answer (source "none"), as has one whose only box is
   left open (truncated).

Each result says where its answer came from (`source`: box | answer_line | raw | none) and by
which marker (`marker`), so a score can be audited and a drift in answer style seen.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from fipo_bench.verify.latex import Span, boxes, drop_lone_dollar, math_spans, strip_delimiters
from fipo_bench.verify.prose import ProseAnswer, read_marked, read_raw

SOURCE_BOX = "box"
SOURCE_ANSWER_LINE = "answer_line"
SOURCE_RAW = "raw"
SOURCE_NONE = "none"
SOURCES = (SOURCE_BOX, SOURCE_ANSWER_LINE, SOURCE_RAW, SOURCE_NONE)

# "Answer:" at a line or sentence start (with Markdown decoration), or "final answer:" anywhere;
# a few other languages' words for it too ("Réponse :", "答案：").
_ANSWER_WORD = r"(?:answer|r[ée]ponse|respuesta|antwort|risposta|resposta)"
_ANSWER_COLON = re.compile(
    r"(?:^|(?<=[.!?])[ \t]+)[ \t>#*_-]*(?:(?:the|my|our)[ \t]+)?(?:final[ \t]+)?"
    + _ANSWER_WORD
    + r"[ \t]*(?:\*\*|__)?[ \t]*[:：]"
    r"|\bfinal[ \t]+answer[ \t]*(?:\*\*|__)?[ \t]*[:：]"
    r"|答案\s*(?:[:：]|是|为)",
    re.IGNORECASE | re.MULTILINE,
)
# Minerva's "The final answer is $25$." and the plain "the answer is 25".
_ANSWER_IS = re.compile(
    r"\b(?:the[ \t]+)?(?:final[ \t]+)?answer[ \t]+(?:is|would be|should be|will be)\b[ \t]*[:：]?",
    re.IGNORECASE,
)
# What may stand between boxes that answer together: "\boxed{1} and \boxed{-2}".
# "x = \boxed{1} and y = \boxed{2}", "\boxed{(3, 3)} \text{ for part (a) and } \boxed{(1, 1)}".
_BOX_GAP = re.compile(
    r"(?:\s|,|;|&|\\\\|\\quad|\\qquad|\\[,;!]|\$|\\\(|\\\)|\\\[|\\\]|\band\b|\bor\b"
    r"|\\text\{[^{}]*?\b(?:and|or)\s*\}|\\text\{\s*\}|[A-Za-z](?:_\{?\w+\}?)?\s*=)*"
)
_GAP_OR = re.compile(r"\bor\b")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_THINK_END = "</think>"
_MAX_GROUP = 16
_MAX_CANDIDATES = 32
_MAX_LINE_CHARS = 65_536  # an answer line (or the block after an empty one) is cut beyond this
_MAX_CLEAN_PASSES = 4


@dataclass(frozen=True)
class Extraction:
    """What a response answers and where that answer was found."""

    answer: str | None  # the answer text, cleaned of delimiters; None when there is none
    source: str  # box | answer_line | raw | none
    marker: str  # the marker as written ("\\boxed", "Final Answer:", ...) or the raw rule
    parts: tuple[str, ...] = ()  # >= 2 answers given together (boxes in a row, "2 or 3")
    joiner: str = ""  # "or" when an "or" separates the parts, else "and"
    # The boxes of the final paragraph, the answer's last: for a gold with several values the
    # response may box them apart ("for part (a) ... \boxed{1} and for part (b) ... \boxed{2}").
    paragraph: tuple[str, ...] = ()


NO_ANSWER = Extraction(None, SOURCE_NONE, "")


def extract(response: str) -> Extraction:
    """The answer the response commits to, by the protocol in the module docstring."""
    section = _final_section(response)
    found = _from_constructs(section)
    if found is not None:
        return found
    return _finish(read_raw(section), SOURCE_RAW, "last math expression") or NO_ANSWER


def extract_answer(response: str) -> str | None:
    """Only the answer text of `extract` (None when the response has no answer)."""
    return extract(response).answer


def clean_answer(text: str) -> str:
    """Strip delimiters and decoration around an answer; keep the mathematical content."""
    answer = text.strip()
    for _ in range(_MAX_CLEAN_PASSES):
        before = answer
        answer = answer.strip().strip("*").strip()
        answer = drop_lone_dollar(strip_delimiters(answer))
        answer = answer.rstrip(".").rstrip()
        if answer == before:
            break
    return answer if answer.strip("$ ") else ""


def last_boxed(text: str) -> str | None:
    """Content of the last complete ``\\boxed{...}`` / ``\\fbox{...}``, else None."""
    found = boxes(text)
    return found[-1].content if found else None


def _final_section(response: str) -> str:
    cut = response.rfind(_THINK_END)
    if cut < 0:
        return response
    after = response[cut + len(_THINK_END) :]
    return after if after.strip() and _has_anything(after) else response


def _has_anything(text: str) -> bool:
    return bool(boxes(text) or math_spans(text) or re.search(r"\d", text))


def _from_constructs(section: str) -> Extraction | None:
    """Try the constructs from last to first; the first that yields an answer wins.

    Only the last `_MAX_CANDIDATES` are tried, and an answer line's text ends where the next
    marker starts: a response of thousands of markers stays linear.
    """
    box_spans = boxes(section)
    markers = sorted(
        (m for pattern in (_ANSWER_COLON, _ANSWER_IS) for m in pattern.finditer(section)),
        key=lambda match: match.start(),
    )
    ends = {m.start(): following.start() for m, following in itertools.pairwise(markers)}
    candidates: list[tuple[int, object]] = [(b.start, b) for b in box_spans]
    candidates.extend((m.start(), m) for m in markers)
    candidates.sort(key=lambda candidate: candidate[0])
    for start, item in reversed(candidates[-_MAX_CANDIDATES:]):
        if isinstance(item, Span):
            found = _read_box(section, box_spans, item)
        else:
            found = _read_answer_line(section, item, ends.get(start, len(section)))
        if found is not None:
            return found
    return None


def _read_box(section: str, box_spans: list[Span], box: Span) -> Extraction | None:
    content = clean_answer(box.content)
    if not content:
        return None
    index = box_spans.index(box)
    group, joiner = _box_group(section, box_spans[: index + 1])
    paragraph = _paragraph_boxes(section, box_spans[: index + 1])
    parts = tuple(p for p in (clean_answer(b.content) for b in group) if p)
    marker = f"\\{box.kind}" if len(parts) < 2 else f"{len(parts)} \\{box.kind} in a row"
    if len(parts) < 2:
        return Extraction(content, SOURCE_BOX, marker, paragraph=paragraph)
    return Extraction(content, SOURCE_BOX, marker, parts, joiner, paragraph)


def _box_group(section: str, boxes_so_far: list[Span]) -> tuple[list[Span], str]:
    """The last box and those before it joined only by separators, and the joiner word."""
    group = [boxes_so_far[-1]]
    joiner = "and"
    for previous in reversed(boxes_so_far[:-1]):
        gap = section[previous.end : group[0].start]
        if len(group) >= _MAX_GROUP or previous.end > group[0].start:
            break
        if not _BOX_GAP.fullmatch(gap):
            break
        if _GAP_OR.search(gap):
            joiner = "or"
        group.insert(0, previous)
    return group, joiner


def _paragraph_boxes(section: str, boxes_so_far: list[Span]) -> tuple[str, ...]:
    """Contents of the boxes that end the final paragraph (no blank line between them)."""
    kept = [boxes_so_far[-1]]
    for previous in reversed(boxes_so_far[:-1]):
        gap = section[previous.end : kept[0].start]
        if len(kept) >= _MAX_GROUP or previous.end > kept[0].start or _BLANK_LINE.search(gap):
            break
        kept.insert(0, previous)
    return tuple(p for p in (clean_answer(b.content) for b in kept) if p)


def _read_answer_line(section: str, marker: re.Match[str], stop: int) -> Extraction | None:
    line_end = section.find("\n", marker.end(), stop)
    line_end = stop if line_end < 0 else line_end
    content = section[marker.end() : min(line_end, marker.end() + _MAX_LINE_CHARS)]
    if not content.strip(" \t*_:"):
        content = _following_block(section, line_end)
    content = content.strip().lstrip("*_: \t").strip()
    if not content:
        return None
    found = read_marked(content)
    label = re.sub(r"\s+([:：])", r"\1", re.sub(r"[*_\s]+", " ", marker.group(0))).strip(" >#-")
    return _finish(found, SOURCE_ANSWER_LINE, label) if found is not None else None


def _following_block(section: str, start: int) -> str:
    """The math block (``$$..$$``, ``\\[..\\]``) or line that follows an empty marker line."""
    stripped = section[start : start + _MAX_LINE_CHARS].lstrip()
    if _ANSWER_COLON.match(stripped) or _ANSWER_IS.match(stripped):
        return ""  # the next line is another marker, not this one's answer
    spans = math_spans(stripped)
    if spans and spans[0].start == 0:
        return stripped[: spans[0].end]
    return stripped.split("\n", 1)[0] if stripped else ""


def _finish(found: ProseAnswer | None, source: str, marker: str) -> Extraction | None:
    if found is None:
        return None
    answer = clean_answer(found.answer)
    if not answer:
        return None
    parts = tuple(p for p in (clean_answer(part) for part in found.parts) if p)
    if len(parts) < 2:
        return Extraction(answer, source, marker)
    return Extraction(answer, source, marker, parts, found.joiner)
