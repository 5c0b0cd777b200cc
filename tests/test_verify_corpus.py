"""The verifier against public graders' own cases (tests/verify_corpus), slice by slice.

Plain math-verify runs for real beside it (`fipo_bench.verify.baseline`: its README call, its
defaults, each item in a worker killed after a timeout because some parses hang).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from fipo_bench.verify import check_many
from fipo_bench.verify.baseline import plain_verdicts

CORPUS = Path(__file__).parent / "verify_corpus"
SLICES = ("boxed", "dapo", "raw", "aime", "multi")
MIN_CASES_PER_SLICE = 40
JUDGE_TIMEOUT_S = 20.0


def _cases() -> list[dict]:
    return [
        json.loads(line)
        for path in sorted(CORPUS.glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


def test_corpus_cases_are_well_formed_and_cite_their_source() -> None:
    """Unique ids, a known slice, str gold/response, bool verdict, a repository@commit source,
    and enough cases in every slice for its agreement to mean something."""
    cases = _cases()
    ids = [case["id"] for case in cases]
    assert len(ids) == len(set(ids))
    for case in cases:
        assert set(case) <= {"id", "slice", "gold", "response", "correct", "source", "note"}
        assert case["slice"] in SLICES, case["id"]
        assert isinstance(case["gold"], str) and case["gold"].strip(), case["id"]
        assert isinstance(case["response"], str), case["id"]
        assert isinstance(case["correct"], bool), case["id"]
        assert "@" in case["source"], case["id"]  # owner/repo@commit ...
    counts = Counter(case["slice"] for case in cases)
    assert all(counts[name] >= MIN_CASES_PER_SLICE for name in SLICES), counts


@pytest.mark.slow
def test_project_agrees_with_at_least_as_many_verdicts_as_plain_math_verify_on_every_slice(
    capsys,
) -> None:
    """On each slice (boxed, dapo, raw, aime, multi) fipo-bench's verdict matches the right
    verdict at least as often as plain math-verify's does; the table is printed for the notes."""
    cases = _cases()
    items = [(case["gold"], case["response"]) for case in cases]
    ours = check_many(items, timeout_s=JUDGE_TIMEOUT_S, workers=2)
    plain = plain_verdicts(items, timeout_s=JUDGE_TIMEOUT_S, workers=2)
    table: dict[str, list[int]] = {name: [0, 0, 0] for name in SLICES}
    for case, result, baseline in zip(cases, ours, plain, strict=True):
        row = table[case["slice"]]
        row[0] += 1
        row[1] += result.correct == case["correct"]
        row[2] += bool(baseline) == case["correct"]
    with capsys.disabled():
        print("\nslice   cases  fipo-bench  plain math-verify")
        for name, (n, project, baseline) in table.items():
            print(
                f"{name:7} {n:5}  {project:4} {project / n:6.1%}  {baseline:4} {baseline / n:6.1%}"
            )
    behind = {name: row for name, row in table.items() if row[1] < row[2]}
    assert behind == {}, f"slices where plain math-verify agrees more often: {behind}"
