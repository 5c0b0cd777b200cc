"""Warming math-verify before the first real item: imports, extraction regexes, LaTeX grammar.

A cold worker pays for more than imports: math-verify's LaTeX parser (ANTLR) builds its
prediction tables as it meets each kind of construct, and sympy imports modules the first time
a comparison needs them. So the warm-up parses and compares one pair per kind of answer a math
benchmark has, equal pairs and unequal ones (an unequal pair runs every comparison method),
before the pool forks: forked workers inherit the built state.
"""

from __future__ import annotations

import logging
import threading

# (gold, answer), math-verify input form. Kinds: integers, decimals, fractions, mixed numbers,
# roots, powers, pi, e, i, percents, degrees, units in \text, text answers, choices, tuples,
# vectors, intervals, unions, infinity, sets, lists, +-, equations, inequalities, functions,
# logs and trig, bases, matrices, ratios.
WARM_PAIRS = (
    ("1", "1"),
    ("$25$", "$26$"),
    ("$0.5$", "$\\frac{1}{2}$"),
    ("$\\frac{14}{3}$", "$\\dfrac{28}{6}$"),
    ("$-\\frac{3}{4}$", "$\\tfrac{-3}{5}$"),
    ("$12\\frac{3}{5}$", "$12.6$"),
    ("$3\\sqrt{13}$", "$\\sqrt{117}$"),
    ("$\\frac{\\sqrt{3}}{2}$", "$\\frac{\\sqrt{2}}{2}$"),
    ("$2^{10}$", "$1024$"),
    ("$\\sqrt[3]{2}$", "$2^{1/3}$"),
    ("$7\\pi$", "$\\pi \\cdot 7$"),
    ("$\\frac{9}{4}\\pi$", "$2\\pi$"),
    ("$1 - \\frac{1}{e}$", "$1 - e^{-1}$"),
    ("$6 - 5i$", "$6-5i$"),
    ("$10\\%$", "$0.1$"),
    ("$90^\\circ$", "$90$"),
    ("$15\\mbox{ cm}^2$", "$15$"),
    ("$\\text{Evelyn}$", "$\\text{evelyn}$"),
    ("$\\text{(C)}$", "$C$"),
    ("$(3, \\frac{\\pi}{2})$", "$\\left( 3, \\frac{\\pi}{2} \\right)$"),
    ("$(6,31,-1)$", "$(6,31,1)$"),
    ("$\\begin{pmatrix} 1 \\\\ -2 \\end{pmatrix}$", "$\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}$"),
    ("$(-\\infty, 0] \\cup (2, 3)$", "$(-\\infty,0]\\cup(2,3)$"),
    ("$[-2, 7]$", "$(-2, 7)$"),
    ("$(1, \\infty)$", "$x > 1$"),
    ("$\\{1, 2\\}$", "$2, 1$"),
    ("$-2, 1$", "$1, -2, 3$"),
    ("$1 \\pm \\sqrt{19}$", "$1+\\sqrt{19}, 1-\\sqrt{19}$"),
    ("$x = 5$", "$5$"),
    ("$y = 2x + 3$", "$y = 3 + 2x$"),
    ("$x \\geq 5$", "$5 \\leq x$"),
    ("$x^2+7x+10$", "$(x+2)(x+5)$"),
    ("$\\frac{x+2}{7}$", "$\\frac{x}{7}+\\frac{2}{7}$"),
    ("$f(x) = 2x$", "$2x$"),
    ("$\\log_2 8$", "$3$"),
    ("$\\sin 30^\\circ$", "$\\frac{1}{2}$"),
    ("$\\tan^2(y)+1$", "$\\sec^2(y)$"),
    ("$204_5$", "$205_5$"),
    (
        "$\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}$",
        "$\\begin{pmatrix} 1 & 2 \\\\ 3 & 5 \\end{pmatrix}$",
    ),
    ("$7:32$", "$7:32$"),
    ("$\\frac{a}{b}$", "$\\frac{b}{a}$"),
)

_lock = threading.Lock()
_warmed = False


def warm_up() -> None:
    """Parse and compare `WARM_PAIRS` once per process (a forked child inherits it done).

    No deadlines here: the pairs are known to be quick, and the parent may not be in its main
    thread, where SIGALRM lives.
    """
    global _warmed
    with _lock:
        if _warmed:
            return
        from math_verify import parse, verify

        # With math-verify's timeouts off it warns once per process that we must time out
        # ourselves, which we do; its per-parse debug noise is not useful in worker logs.
        logging.getLogger("math_verify").setLevel(logging.ERROR)
        for gold, answer in WARM_PAIRS:
            gold_parsed = parse(gold, parsing_timeout=None)
            verify(gold_parsed, parse(answer, parsing_timeout=None), timeout_seconds=None)
        _warmed = True
