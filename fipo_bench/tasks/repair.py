"""Repairs for real benchmark files: mangled LaTeX escapes and mixed answer types.

Published benchmark files were often written by code that put LaTeX into a JSON (or Python)
string without doubling the backslash, so a reader decoded `\\frac` as form feed + "rac" and
`\\triangle` as TAB + "riangle". `repair_escapes` puts the backslash and the letter back, but only
where the control character is a mangled escape: a TAB between words of prose, or a TAB that
indents Asymptote code, is left alone (MATH-500 rows 17 and 426 are both of that kind).
"""

from __future__ import annotations

import math
import re

from fipo_bench.errors import DataError

# Control character -> the escape letter a JSON/Python decoder consumed to produce it.
_ESCAPE_LETTER = {"\x07": "a", "\x08": "b", "\x0b": "v", "\x0c": "f", "\t": "t", "\r": "r"}

# Characters that never occur in real problem text: followed by letters they are always a
# mangled escape, whatever the command (\frac, \fbox, \vec, \binom, \alpha, ...).
_NEVER_LEGITIMATE = frozenset("\x07\x08\x0b\x0c")

# TAB and CR are real whitespace too, so they are repaired only when "t"/"r" + the letters that
# follow spell a LaTeX command *and* the spot is inside math (or the command works in text).
_T_R_NAMES = """
    tan tanh tau theta therefore thicksim thickapprox tilde times to top triangle triangledown
    triangleleft trianglelefteq triangleq triangleright trianglerighteq tfrac tbinom tdfrac text
    textbf textit textrm texttt textsf textsc textsl textup textnormal textstyle textcolor
    textdegree thinspace tiny tt twoheadrightarrow
    rangle rbrace rbrack rceil rfloor rgroup rho right rightarrow rightarrowtail rightharpoondown
    rightharpoonup rightleftarrows rightleftharpoons rightrightarrows rightsquigarrow
    rightthreetimes risingdotseq rm rmoustache root rtimes rvert rVert raisebox
"""
_T_R_COMMANDS = frozenset(_T_R_NAMES.split())
_TEXT_MODE_NAMES = "text textbf textit textrm texttt textsf textsc textsl textup textnormal tiny"
_TEXT_MODE_COMMANDS = frozenset(_TEXT_MODE_NAMES.split())

_CANDIDATE = re.compile(r"([\x07\x08\x0b\x0c\t\r])([A-Za-z]+)")
# Math delimiters: escaped dollars first so "\$" is not taken for a delimiter.
_MATH_DELIM = re.compile(
    r"\\\$|\$|\\\(|\\\)|\\\[|\\\]"
    r"|\\(begin|end)\{(?:equation|align|alignat|gather|multline|eqnarray|displaymath)\*?\}"
)


def _in_math(text: str, pos: int) -> bool:
    """Whether `pos` lies inside $..$, $$..$$, \\(..\\), \\[..\\] or a display environment."""
    dollars = 0
    depth = 0  # \( \[ and environments nest only in broken text; count rather than toggle
    for m in _MATH_DELIM.finditer(text, 0, pos):
        token = m.group(0)
        if token == "\\$":
            continue
        if token == "$":
            dollars += 1
        elif token in ("\\(", "\\[") or m.group(1) == "begin":
            depth += 1
        else:
            depth = max(0, depth - 1)
    return dollars % 2 == 1 or depth > 0


def repair_escapes(text: str) -> str:
    """Undo control characters left by decoded `\\f`, `\\t`, `\\b`, `\\r`, `\\v`, `\\a` escapes.

    `\\n` is deliberately not repaired: a newline inside display math followed by "e" (as in
    "e^x") is indistinguishable from a mangled `\\ne`, and newlines are everywhere in real text.
    """
    if not _CANDIDATE.search(text):
        return text
    # Pass 1 restores the unambiguous escapes, so that a mangled \begin{align} opens math
    # before pass 2 asks whether a TAB/CR sits inside math.
    text = _CANDIDATE.sub(
        lambda m: (
            "\\" + _ESCAPE_LETTER[m.group(1)] + m.group(2)
            if m.group(1) in _NEVER_LEGITIMATE
            else m.group(0)
        ),
        text,
    )

    def fix_whitespace(m: re.Match[str]) -> str:
        command = _ESCAPE_LETTER[m.group(1)] + m.group(2)
        if command in _T_R_COMMANDS and (
            command in _TEXT_MODE_COMMANDS or _in_math(text, m.start())
        ):
            return "\\" + command
        return m.group(0)

    return _CANDIDATE.sub(fix_whitespace, text)


def normalize_answer(value: object, *, where: str) -> str:
    """The gold answer as text: strings kept as given ("025" stays "025"), 70 -> "70",
    27.0 -> "27", 27.5 -> "27.5". `where` names the file and row for the error message."""
    # bool is an int subclass: a True/False "answer" is a broken row, not the number 1/0.
    if isinstance(value, bool) or value is None:
        raise DataError(f"{where}: answer is {value!r}; expected a string or a number")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise DataError(f"{where}: answer is {value!r}; expected a finite number")
        # Integral floats come from pandas/JSON writers (amc23 stores 27.0); the benchmark's
        # answer is the integer. repr() gives the shortest round-trip text for the rest.
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        text = repair_escapes(value).strip()
        if not text:
            raise DataError(f"{where}: answer is empty; every row needs a gold answer")
        return text
    raise DataError(
        f"{where}: answer has type {type(value).__name__}; expected a string or a number"
    )
