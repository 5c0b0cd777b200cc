"""Worker side: math-verify judging under a hard per-item deadline. Runs in pool processes.

math-verify's own timeouts use ``signal.alarm`` with whole seconds and cancel any other alarm in
their ``finally``; they are switched off here (``parsing_timeout=None``, ``timeout_seconds=None``)
and replaced by one ``setitimer`` deadline per item that covers parse(gold), parse(answer) and
verify together. The deadline raises `_Deadline`, a BaseException, so neither math-verify nor
sympy (both catch ``Exception`` freely) can swallow it. Nothing here ever calls ``str()`` on a
parsed object: a worker returns only ``(status, correct)`` pairs.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Sequence

from fipo_bench.verify.normalize import as_math

STATUS_OK = "ok"
STATUS_NO_ANSWER = "no_answer"
STATUS_TIMEOUT = "timeout"
STATUS_ERROR = "error"
STATUSES = (STATUS_OK, STATUS_NO_ANSWER, STATUS_TIMEOUT, STATUS_ERROR)

Verdict = tuple[str, bool]


class _Deadline(BaseException):
    """Raised by SIGALRM when an item's time is up."""


def _raise_deadline(signum: int, frame: object) -> None:
    raise _Deadline


def ready() -> int:
    """A no-op task: the worker that runs it has finished its initializer. Returns its pid."""
    time.sleep(0.05)  # long enough that the pool hands the next task to another worker
    return os.getpid()


def judge_pair(gold: str, answer: str, *, timeout_s: float) -> Verdict:
    """(status, correct) for one extracted answer against the gold, gold parsed first.

    Must run in a process's main thread (SIGALRM). A parse or comparison that outlives
    `timeout_s` comes back ("timeout", False); any exception comes back ("error", False).
    """
    from math_verify import parse, verify

    previous = signal.signal(signal.SIGALRM, _raise_deadline)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        gold_parsed = parse(as_math(gold), parsing_timeout=None)
        if not gold_parsed:
            return (STATUS_ERROR, False)  # a gold that math-verify cannot read judges nothing
        answer_parsed = parse(as_math(answer), parsing_timeout=None)
        # allow_set_relation_comp: a gold "x \in [-2,7]" also accepts "-2 \le x \le 7" (by
        # default math-verify accepts that only when the relation is the gold).
        correct = bool(
            verify(gold_parsed, answer_parsed, allow_set_relation_comp=True, timeout_seconds=None)
        )
        return (STATUS_OK, correct)
    except _Deadline:
        return (STATUS_TIMEOUT, False)
    except Exception:
        return (STATUS_ERROR, False)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def judge_chunk(
    pairs: Sequence[tuple[str, str]], timeout_s: float, slice_s: float, progress_path: str
) -> list[Verdict]:
    """Judge pairs in order, each under its own deadline; may stop early (a prefix comes back).

    No item is started once `slice_s` has passed since the chunk began, so the pool's kill
    timer (slice_s + timeout_s + slack) only fires on a hang the in-process deadline cannot
    interrupt (one inside C code). Each verdict is appended to `progress_path` as it is made:
    when the pool kills this process the parent reads which items finished and which one hung.
    """
    started = time.monotonic()
    verdicts: list[Verdict] = []
    with open(progress_path, "w", buffering=1, encoding="utf-8") as progress:
        for gold, answer in pairs:
            if verdicts and time.monotonic() - started > slice_s:
                break
            status, correct = judge_pair(gold, answer, timeout_s=timeout_s)
            verdicts.append((status, correct))
            progress.write(f"{status} {int(correct)}\n")
    return verdicts


def read_progress(progress_path: str) -> list[Verdict]:
    """Verdicts a (possibly killed) `judge_chunk` wrote; a torn last line is dropped."""
    verdicts: list[Verdict] = []
    try:
        with open(progress_path, encoding="utf-8") as progress:
            lines = progress.read().split("\n")[:-1]  # the text after the last newline is torn
    except FileNotFoundError:
        return verdicts
    for line in lines:
        status, _, correct = line.partition(" ")
        if status not in STATUSES or correct not in ("0", "1"):
            break
        verdicts.append((status, correct == "1"))
    return verdicts
