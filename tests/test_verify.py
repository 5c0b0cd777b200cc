"""Answer verification: extraction protocols, math-verify judging, deadlines, cache, threads."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fipo_bench.errors import VerifyError
from fipo_bench.verify import (
    VerifyResult,
    cache_info,
    check,
    check_many,
    clear_cache,
    extract_answer,
    judge,
    shutdown,
    warm_up,
)
from fipo_bench.verify import pool as verify_pool
from fipo_bench.verify.judge import judge_pair, read_progress
from fipo_bench.verify.normalize import plain_integer
from fipo_bench.verify.rules import RULE_NONE

# Generous: these tests check verdicts, not speed, on a CPU shared with other jobs.
JUDGE_TIMEOUT_S = 20.0
HANG_TIMEOUT_S = 2.0
# Each needs sympy far beyond any deadline (power towers, 3,000 nested brackets/braces).
PATHOLOGICAL_ANSWERS = (
    "9^{9^{9^{9^9}}}",
    "(" * 3000 + "1" + ")" * 3000,
    "{" * 3000 + "1" + "}" * 3000,
)


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield


def _verdict(result: VerifyResult) -> tuple[bool, str | None, str]:
    return (result.correct, result.extracted, result.status)


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _aime_golds(shared_benchmarks: Path) -> list[str]:
    """aime24 answers are zero-padded strings ("025"), aime25 answers ints (70): both, as str."""
    aime24 = [row["answer"] for row in _jsonl(shared_benchmarks / "aime24.jsonl")]
    aime25 = [str(row["answer"]) for row in _jsonl(shared_benchmarks / "aime25.jsonl")]
    assert any(gold.startswith("0") for gold in aime24), "aime24 should carry padded answers"
    return aime24 + aime25


# Each format writes the integer value v in a way a model might end its response.
AIME_FORMATS = {
    "answer_line": lambda v: f"Reasoning...\nAnswer: {v}",
    "answer_dollars": lambda v: f"Reasoning...\nAnswer: ${v}$",
    "answer_boxed": lambda v: f"Reasoning...\nAnswer: \\boxed{{{v}}}",
    "bold_answer": lambda v: f"Reasoning...\n**Answer:** {v}",
    "boxed_padded": lambda v: f"So the count is \\boxed{{{v:03d}}}.",
    "fbox": lambda v: f"Therefore \\fbox{{{v}}}",
    "final_answer_is": lambda v: f"The final answer is {v}. I hope it is correct.",
    "final_answer_dollars": lambda v: f"The final answer is ${v}$.",
    "display_math_next_line": lambda v: f"Answer:\n\n$$ {v} $$",
    "answer_with_units": lambda v: f"Answer: {v} minutes",
    "answer_text_units": lambda v: f"Answer: ${v} \\text{{ cm}}$",
    "answer_fraction_form": lambda v: f"Answer: $\\frac{{{2 * v}}}{{2}}$",
    "answer_degrees": lambda v: f"Answer: ${v}^\\circ$",
    "boxed_then_answer_line": lambda v: f"\\boxed{{{v + 1}}} was wrong, fixed.\nAnswer: {v}",
}


# --- extraction ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("Answer: 25", "25"),
        ("Answer: $25$", "25"),
        ("Answer: $25$.", "25"),
        ("Answer: \\boxed{25}", "25"),
        ("**Answer:** 25", "25"),
        ("Final Answer: $\\boxed{(3, \\frac{\\pi}{2})}$", "(3, \\frac{\\pi}{2})"),
        ("Answer:\n\n$$ 42 $$", "42"),
        ("Answer: \\(x=5\\).", "x=5"),
        ("Answer: The value is $25$ minutes.", "25"),
        ("so \\boxed{025}.", "025"),
        ("\\boxed{\\{1,2\\}}", "\\{1,2\\}"),
        ("\\boxed{\\frac{1}{2}} and later \\boxed{3", "\\frac{1}{2}"),
        ("\\fbox{7}", "7"),
        ("\\boxed 5 done", "5"),
        ("The final answer is $\\frac{1}{2}$. I hope it is correct.", "\\frac{1}{2}"),
        ("The final answer is 3.5.", "3.5"),
    ],
)
def test_extract_answer_reads_each_protocol(response: str, expected: str) -> None:
    """Each documented format yields exactly the answer text, delimiters stripped."""
    assert extract_answer(response) == expected


@pytest.mark.parametrize(
    "response", ["", "no answer here", "Answer:", "\\boxed{12", "Answer: $$", "\\boxed{}"]
)
def test_extract_answer_is_none_without_an_answer(response: str) -> None:
    """No marker with content and no math to fall back on (an unclosed box is not math)."""
    assert extract_answer(response) is None


def test_extraction_takes_the_last_construct_whatever_its_marker() -> None:
    """Boxes, Answer: lines and "final answer is" phrases rank by position only: the last wins."""
    assert extract_answer("\\boxed{1}\nThe final answer is 2.\nAnswer: 3") == "3"
    assert extract_answer("Answer: 3\nlater: \\boxed{1}") == "1"
    assert extract_answer("The final answer is 2. Indeed \\boxed{1}") == "1"
    assert extract_answer("\\boxed{1}. So the final answer is 2.") == "2"
    assert extract_answer("Answer: 1\nno wait\nAnswer: 2") == "2"
    assert extract_answer("\\boxed{1} then \\boxed{2}") == "2"


def test_extraction_stays_fast_on_many_unclosed_boxes() -> None:
    """Thousands of unclosed \\boxed{ do not make extraction quadratic (only the last few tried)."""
    response = "\\boxed{" * 20_000 + "1"
    assert extract_answer(response) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [("25", 25), ("025", 25), ("-3", -3), ("+4", 4), ("1,000", 1000), ("27.0", 27), ("3.", 3)],
)
def test_plain_integer_reads_integer_spellings(text: str, value: int) -> None:
    assert plain_integer(text) == value


@pytest.mark.parametrize("text", ["2.5", "1,00", "\\frac{1}{2}", "", "1e3", "(1,2)", "x"])
def test_plain_integer_rejects_non_integers(text: str) -> None:
    assert plain_integer(text) is None


def _integer_spelling(value: int, style: str) -> str:
    if style == "padded":
        return f"{value:05d}" if value >= 0 else str(value)
    if style == "plus" and value >= 0:
        return f"+{value}"
    if style == "thousands":
        return f"{value:,}"
    if style == "point_zero":
        return f"{value}.0"
    return str(value)


SPELLINGS = st.sampled_from(["plain", "padded", "plus", "thousands", "point_zero"])


@settings(max_examples=40, deadline=None)
@given(
    st.integers(-5000, 5000),
    st.integers(-5000, 5000),
    SPELLINGS,
    SPELLINGS,
    st.booleans(),
)
def test_integer_fast_path_agrees_with_math_verify(
    a: int, b: int, style_a: str, style_b: str, same: bool
) -> None:
    """The no-sympy integer comparison gives math-verify's verdict on integer spellings."""
    gold, answer = _integer_spelling(a, style_a), _integer_spelling(a if same else b, style_b)
    fast = plain_integer(gold) == plain_integer(answer)
    status, slow = judge_pair(gold, answer, timeout_s=JUDGE_TIMEOUT_S)
    assert status == "ok"
    assert fast == slow, (gold, answer)


# --- judging the real benchmark answers ---------------------------------------------------


def test_real_aime_answers_in_every_format_are_correct(shared_benchmarks: Path) -> None:
    """All 60 AIME golds (padded str and int) are matched in each of 14 response formats."""
    golds = _aime_golds(shared_benchmarks)
    items = [(gold, fmt(int(gold))) for gold in golds for fmt in AIME_FORMATS.values()]
    results = check_many(items, timeout_s=JUDGE_TIMEOUT_S, workers=2)
    failures = [
        (name, gold, result)
        for (gold, _), result, name in zip(
            items, results, [n for _ in golds for n in AIME_FORMATS], strict=True
        )
        if not (result.correct and result.status == "ok")
    ]
    assert failures == []


def test_real_aime_wrong_and_missing_answers_are_incorrect(shared_benchmarks: Path) -> None:
    """An off-by-one answer in any format is wrong (status ok); no answer is no_answer."""
    golds = _aime_golds(shared_benchmarks)
    wrong_formats = ["answer_line", "boxed_padded", "answer_fraction_form", "answer_text_units"]
    wrong = [(gold, AIME_FORMATS[name](int(gold) + 1)) for gold in golds for name in wrong_formats]
    missing = [(gold, "I could not finish this problem, sorry.") for gold in golds]
    results = check_many(wrong + missing, timeout_s=JUDGE_TIMEOUT_S, workers=2)
    assert all(r.status == "ok" and not r.correct for r in results[: len(wrong)])
    assert all(
        r == VerifyResult(False, None, "no_answer", rule=RULE_NONE) for r in results[len(wrong) :]
    )


def test_amc_float_golds_match_integer_answers(shared_benchmarks: Path) -> None:
    """amc23 golds are floats (27.0): "Answer: 27" is right, "Answer: 28" wrong."""
    golds = [str(row["answer"]) for row in _jsonl(shared_benchmarks / "amc23.jsonl")]
    right = check_many([(g, f"Answer: {int(float(g))}") for g in golds], workers=2)
    wrong = check_many([(g, f"Answer: {int(float(g)) + 1}") for g in golds], workers=2)
    assert all(r.correct for r in right)
    assert not any(r.correct for r in wrong)


def test_math500_fractions_match_decimals(shared_benchmarks: Path) -> None:
    """LaTeX fraction golds equal their decimals (to 8 places) and not a nearby decimal."""
    import re

    rows = _jsonl(shared_benchmarks / "math500.jsonl")
    fractions = [r["answer"] for r in rows if re.fullmatch(r"\\frac\{\d+\}\{\d+\}", r["answer"])]
    golds = list(dict.fromkeys(fractions))[:6]
    assert len(golds) == 6

    def value(gold: str) -> float:
        numerator, denominator = re.findall(r"\d+", gold)
        return int(numerator) / int(denominator)

    right = [(g, f"Answer: ${value(g):.8f}$") for g in golds]
    wrong = [(g, f"Answer: ${value(g) + 0.01:.8f}$") for g in golds]
    results = check_many(right + wrong, timeout_s=JUDGE_TIMEOUT_S, workers=2)
    assert [r.correct for r in results] == [True] * 6 + [False] * 6


@pytest.mark.parametrize(
    ("gold", "response", "correct"),
    [
        ("(6,31,-1)", "Answer: $(6, 31, -1)$", True),
        ("(3,4]", "The final answer is $(3, 4]$.", True),
        ("(-\\infty, 0]", "\\boxed{(-\\infty,0]}", True),
        ("(0,9) \\cup (9,36)", "Answer: $(0, 9)\\cup(9, 36)$", True),
        ("(3,4]", "Answer: $[3,4]$", False),
        ("(-2,1)", "Answer: $(1,-2)$", False),
        ("\\text{(C)}", "Answer: (C)", True),
        ("\\frac{14}{3}", "Answer: 14/3", True),
        ("10\\%", "Answer: 10", True),
    ],
)
def test_math500_tuples_intervals_and_text_answers(gold: str, response: str, correct: bool) -> None:
    """Tuples, intervals, unions, choice letters and percents are compared mathematically."""
    result = check(gold, response, timeout_s=JUDGE_TIMEOUT_S)
    assert result.status == "ok"
    assert result.correct is correct


def test_unreadable_gold_is_an_error_not_a_verdict() -> None:
    """A gold math-verify cannot parse judges nothing: status error, incorrect."""
    result = check("", "Answer: \\frac{1}{2}", timeout_s=JUDGE_TIMEOUT_S)
    assert _verdict(result) == (False, "\\frac{1}{2}", "error")


# --- deadlines ----------------------------------------------------------------------------


def _warm_pool() -> None:
    """Start the default pool so that wall-time bounds measure judging, not process start."""
    check_many([("\\frac{1}{2}", "Answer: 0.5")], timeout_s=JUDGE_TIMEOUT_S)
    clear_cache()


@pytest.mark.parametrize("answer", PATHOLOGICAL_ANSWERS, ids=["power_tower", "parens", "braces"])
def test_pathological_answer_times_out_within_bound(answer: str) -> None:
    """An answer that hangs sympy comes back timeout/incorrect in < 3x the timeout."""
    _warm_pool()
    started = time.monotonic()
    result = check("25", f"Answer: ${answer}$", timeout_s=HANG_TIMEOUT_S)
    elapsed_s = time.monotonic() - started
    assert _verdict(result) == (False, answer, "timeout")
    assert elapsed_s < 3 * HANG_TIMEOUT_S


def test_one_hanging_item_does_not_hold_up_the_batch() -> None:
    """Items around a hanging one keep their verdicts; the batch ends in < 3x the timeout."""
    _warm_pool()
    items = [(f"\\frac{{1}}{{{k}}}", f"Answer: $\\frac{{2}}{{{2 * k}}}$") for k in range(2, 40)]
    items.insert(17, ("25", "Answer: $9^{9^{9^{9^9}}}$"))
    started = time.monotonic()
    results = check_many(items, timeout_s=HANG_TIMEOUT_S, workers=2)
    elapsed_s = time.monotonic() - started
    assert _verdict(results[17]) == (False, "9^{9^{9^{9^9}}}", "timeout")
    assert all(r.correct and r.status == "ok" for i, r in enumerate(results) if i != 17)
    assert elapsed_s < 3 * HANG_TIMEOUT_S


def test_answer_stuck_in_c_code_is_timed_out_and_chunk_mates_judged() -> None:
    """10^{30000000} makes sympy multiply huge integers: single C calls that SIGALRM can only
    interrupt once they return (seconds here), against a chunk deadline with no slack. Whichever
    deadline ends it, the item is a timeout and the items sharing its chunk keep their verdicts
    (unbounded, the comparison ran 165 s on this machine)."""
    pairs = [(str(k), str(k)) for k in range(9)]
    pairs.insert(1, ("25", "10^{30000000}"))
    started = time.monotonic()
    verdicts = verify_pool.judge_pairs(
        pairs, timeout_s=0.5, workers=1, slice_s=0.5, kill_slack_s=0.0
    )
    elapsed_s = time.monotonic() - started
    assert verdicts[1] == ("timeout", False)
    assert [v for i, v in enumerate(verdicts) if i != 1] == [("ok", True)] * 9
    assert elapsed_s < 30.0


def test_killed_chunk_keeps_finished_verdicts_and_marks_the_hung_item() -> None:
    """When pebble kills a worker mid-chunk (here: the pool deadline is set below the worker's
    own, as for a hang SIGALRM cannot reach), the verdicts written before the kill are kept,
    the in-flight item is a timeout, and the pool replaces the worker for the next call."""
    killed_before = verify_pool.stats().killed
    path = verify_pool._POOLS.progress_path()
    pairs = [("7", "7"), ("25", "9^{9^{9^{9^9}}}"), ("8", "8")]
    chunk = verify_pool._Chunk(0, len(pairs), path)
    future = verify_pool._POOLS.get(1).schedule(
        judge.judge_chunk, args=(pairs, 600.0, 600.0, path), timeout=2.0
    )
    assert verify_pool._chunk_outcome(future, chunk) == [("ok", True), ("timeout", False)]
    assert verify_pool.stats().killed == killed_before + 1
    assert verify_pool.judge_pairs([("8", "8")], timeout_s=JUDGE_TIMEOUT_S, workers=1) == [
        ("ok", True)
    ]


def test_read_progress_drops_a_torn_last_line(tmp_path: Path) -> None:
    """A worker killed mid-write leaves a partial line; only whole verdicts are read back."""
    progress = tmp_path / "chunk.log"
    progress.write_text("ok 1\ntimeout 0\nerror 0\nok", encoding="utf-8")
    assert read_progress(str(progress)) == [("ok", True), ("timeout", False), ("error", False)]
    assert read_progress(str(tmp_path / "missing.log")) == []


# --- cache, threads, order, lifecycle -----------------------------------------------------


def test_cache_serves_repeated_pairs_without_a_worker() -> None:
    """A second check of the same (gold, response), or of another response with the same
    answer, is a cache hit; items the rules decide in-process (integers, fractions) never
    touch the cache."""
    first = check("\\sqrt{2}", "Answer: $2^{1/2}$", timeout_s=JUDGE_TIMEOUT_S)
    after_first = cache_info()
    again = check("\\sqrt{2}", "Answer: $2^{1/2}$", timeout_s=JUDGE_TIMEOUT_S)
    other = check("\\sqrt{2}", "so \\boxed{2^{1/2}}", timeout_s=JUDGE_TIMEOUT_S)
    check("025", "Answer: 25")
    check("\\frac{1}{3}", "Answer: $\\frac{2}{6}$")
    info = cache_info()
    assert first == again
    assert _verdict(first) == _verdict(other) == (True, "2^{1/2}", "ok")
    assert (first.source, other.source) == ("answer_line", "box")
    assert (after_first.hits, after_first.misses) == (0, 1)
    assert (info.hits, info.misses, info.entries) == (2, 1, 1)


def test_duplicates_in_a_batch_are_judged_once() -> None:
    answers = ("2^{1/2}", "2^{1/2}", "\\frac{2}{\\sqrt{2}}", "2^{1/2}", "\\sqrt{3}")
    items = [("\\sqrt{2}", f"Answer: ${x}$") for x in answers]
    results = check_many(items, timeout_s=JUDGE_TIMEOUT_S, workers=2)
    assert [r.correct for r in results] == [True, True, True, True, False]
    assert cache_info().misses == 3  # 2^{1/2}, 2/sqrt(2), sqrt(3)


def test_timeout_is_retried_with_a_longer_budget_not_served_from_cache() -> None:
    """A cached timeout only answers calls whose timeout_s is no longer than the one it had."""
    _warm_pool()
    response = "Answer: $9^{9^{9^{9^9}}}$"
    assert check("25", response, timeout_s=0.5).status == "timeout"
    assert check("25", response, timeout_s=0.5).status == "timeout"
    assert cache_info().hits == 1
    assert check("25", response, timeout_s=1.0).status == "timeout"
    assert cache_info().misses == 2


def test_check_many_from_a_worker_thread_matches_the_main_thread() -> None:
    """The verifier needs no main thread in the caller (math-verify's SIGALRM runs in workers)."""
    items = [
        ("\\frac{1}{2}", "Answer: 0.5"),
        ("025", "\\boxed{25}"),
        ("(3,4]", "Answer: $(3, 4]$"),
        ("7", "no answer"),
        ("\\frac{3}{2}", "Answer: 1.4"),
    ]
    from_thread: list[list[VerifyResult]] = []
    thread = threading.Thread(
        target=lambda: from_thread.append(check_many(items, timeout_s=JUDGE_TIMEOUT_S))
    )
    thread.start()
    thread.join(timeout=120)
    clear_cache()
    assert from_thread == [check_many(items, timeout_s=JUDGE_TIMEOUT_S)]
    assert [r.status for r in from_thread[0]] == ["ok", "ok", "ok", "no_answer", "ok"]
    assert [r.correct for r in from_thread[0]] == [True, True, True, False, False]


def test_concurrent_callers_share_the_pool() -> None:
    """Several threads calling at once each get their own results, in their own order."""
    batches = [
        [
            (f"\\frac{{1}}{{{k + t}}}", f"Answer: $\\frac{{3}}{{{3 * (k + t)}}}$")
            for k in range(2, 8)
        ]
        for t in range(4)
    ]
    out: dict[int, list[VerifyResult]] = {}

    def run(index: int) -> None:
        out[index] = check_many(batches[index], timeout_s=JUDGE_TIMEOUT_S, workers=2)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(batches))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for index, batch in enumerate(batches):
        assert [r.extracted for r in out[index]] == [extract_answer(resp) for _, resp in batch]
        assert all(r.correct for r in out[index])


def test_pool_is_rebuilt_after_shutdown() -> None:
    shutdown()
    assert check("\\frac{1}{2}", "Answer: 0.5", timeout_s=JUDGE_TIMEOUT_S).correct


def test_empty_batch_returns_empty_list() -> None:
    assert check_many([]) == []


# --- bad arguments ------------------------------------------------------------------------


@pytest.mark.parametrize("timeout_s", [0, -1.0, float("nan"), float("inf"), "5", True])
def test_invalid_timeout_is_a_verify_error(timeout_s: object) -> None:
    with pytest.raises(VerifyError, match="timeout_s=") as error:
        check_many([("1", "Answer: 1")], timeout_s=timeout_s)  # type: ignore[arg-type]
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("workers", [0, -2, 1.5, True])
def test_invalid_workers_is_a_verify_error(workers: object) -> None:
    with pytest.raises(VerifyError, match="workers="):
        check_many([("1", "Answer: 1")], workers=workers)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "items", [[("1",)], [(1, "Answer: 1")], ["1"], [("1", "Answer: 1"), ("1", None)]]
)
def test_malformed_items_are_a_verify_error(items: object) -> None:
    with pytest.raises(VerifyError, match=r"items\[\d+\]"):
        check_many(items)  # type: ignore[arg-type]


def test_items_must_be_a_sequence() -> None:
    with pytest.raises(VerifyError, match="sequence of"):
        check_many("1,Answer: 1")  # type: ignore[arg-type]


def test_warm_up_starts_every_worker_before_the_first_item() -> None:
    """warm_up(workers=N) returns once all N workers ran their initializer (math-verify and
    its parsers built); a batch right after it needs no new process."""
    shutdown()
    assert warm_up(workers=2) == 2
    started_before = verify_pool.stats()
    assert check("\\frac{1}{2}", "Answer: $\\sqrt{0.25}$", timeout_s=JUDGE_TIMEOUT_S).correct
    assert verify_pool.stats().lost == started_before.lost


@pytest.mark.parametrize("workers", [0, -1, 2.0, True])
def test_warm_up_rejects_invalid_worker_counts(workers: object) -> None:
    with pytest.raises(VerifyError, match="workers="):
        warm_up(workers=workers)  # type: ignore[arg-type]
