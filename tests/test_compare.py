"""`fipo-bench compare` on evals written through the real store: the numbers it prints are the
library's, every format carries the same records, and bad input exits 2 with one line."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from stats_fixture import paired_bernoulli, write_eval

from fipo_bench.analysis.compare import RECORD_KEYS, compare_evals
from fipo_bench.cli import main
from fipo_bench.store import Store

RESAMPLES = ["--resamples", "1000"]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("compare") / "c.duckdb"
    store = Store(path)
    store.upsert_run("run-1", kind="train", name="tiny-fipo")
    rng = np.random.default_rng(0)
    base, same = paired_bernoulli(rng, n_problems=30, n=8, p_base=0.4, shift=0.0)
    _, better = paired_bernoulli(rng, n_problems=30, n=8, p_base=0.4, shift=0.45)
    write_eval(store, "ev-base", base, run_id="run-1", step=0)
    write_eval(store, "ev-same", same, run_id="run-1", step=10)
    write_eval(store, "ev-better", better, run_id="run-1", step=20)
    write_eval(store, "ev-other", base[:29], problem_ids=[f"q{i}" for i in range(29)])
    write_eval(store, "ev-running", base, status="running", model_path="/m/base")
    return path


def _run(capsys, *args) -> tuple[int, str, str]:
    code = main(["compare", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_json_records_carry_the_documented_keys_and_the_library_numbers(db, capsys):
    args = ["--eval", "ev-base", "--eval", "ev-same", "--eval", "ev-better", "--db", str(db)]
    code, out, _ = _run(capsys, *args, "--format", "json", *RESAMPLES, "--seed", "3")
    assert code == 0
    records = json.loads(out)
    assert {tuple(r) for r in records} == {RECORD_KEYS}
    expected = compare_evals(
        Store(db, read_only=True), ["ev-base", "ev-same", "ev-better"], resamples=1000, seed=3
    ).records()
    assert records == expected
    assert {r["baseline"] for r in records} == {"ev-base"}
    assert {r["eval"] for r in records} == {"ev-same", "ev-better"}
    assert {r["eval_label"] for r in records} == {"tiny-fipo@10", "tiny-fipo@20"}
    metrics = [(r["metric"], r["k"]) for r in records if r["eval"] == "ev-better"]
    assert metrics == [("avg@k", 8), ("cons@k", 8), *(("pass@k", k) for k in (1, 2, 4, 8))]
    better = next(r for r in records if r["eval"] == "ev-better" and r["metric"] == "avg@k")
    assert better["ci_low"] > 0 and better["excludes_zero"]
    assert better["wins"] + better["ties"] + better["losses"] == better["n_problems"] == 30


def test_baseline_option_and_csv_rows_equal_the_json_rows(db, capsys):
    args = ["--eval", "ev-base", "--eval", "ev-better", "--baseline", "ev-better", "--db", str(db)]
    _, out_json, _ = _run(capsys, *args, "--format", "json", *RESAMPLES)
    _, out_csv, _ = _run(capsys, *args, "--format", "csv", *RESAMPLES)
    from_json = json.loads(out_json)
    from_csv = list(csv.DictReader(io.StringIO(out_csv)))
    assert [r["eval"] for r in from_json] == [r["eval"] for r in from_csv]
    assert all(r["baseline"] == "ev-better" for r in from_json)
    for j, c in zip(from_json, from_csv, strict=True):
        assert float(c["delta"]) == pytest.approx(j["delta"], abs=1e-12)
        assert float(c["ci_low"]) == pytest.approx(j["ci_low"], abs=1e-12)
    avg = from_json[0]
    assert avg["delta"] < 0 and avg["ci_high"] < 0  # the base is worse than the better eval


def test_table_marks_only_the_intervals_that_exclude_zero(db, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")
    args = ["--eval", "ev-base", "--eval", "ev-same", "--eval", "ev-better", "--db", str(db)]
    code, out, _ = _run(capsys, *args, *RESAMPLES)
    assert code == 0
    records = compare_evals(
        Store(db, read_only=True), ["ev-base", "ev-same", "ev-better"], resamples=1000
    ).records()
    lines = [line for line in out.splitlines() if "tiny-fipo@" in line and "@k" not in line]
    rows = [line for line in lines if line.count("[") == 1]  # difference rows carry the CI
    assert len(rows) == len(records)
    for line, record in zip(rows, records, strict=True):
        assert record["eval_label"] in line
        assert ("*" in line) == record["excludes_zero"]
    assert any(r["excludes_zero"] for r in records)
    assert "tiny-fipo@0 (baseline)" in out


def test_unequal_problem_sets_exit_2_naming_the_missing_problems(db, capsys):
    code, out, err = _run(capsys, "--eval", "ev-base", "--eval", "ev-other", "--db", str(db))
    assert code == 2 and out == ""
    assert "missing from" in err and "p000" in err and "q0" in err
    assert "Traceback" not in err


def test_evals_with_other_sample_counts_pair_with_a_note(db, capsys, tmp_path):
    store = Store(tmp_path / "n.duckdb")
    rng = np.random.default_rng(5)
    write_eval(store, "n4", rng.random((10, 4)) < 0.5)
    write_eval(store, "n8", rng.random((10, 8)) < 0.5)
    code, out, err = _run(capsys, "--eval", "n4", "--eval", "n8", "--db",
                          str(tmp_path / "n.duckdb"), "--format", "json", *RESAMPLES)  # fmt: skip
    assert code == 0
    assert [r["k"] for r in json.loads(out) if r["metric"] == "pass@k"] == [1, 2, 4]
    assert "n = 8 samples per problem" in err and "pass@k stops at k = 4" in err


def test_a_partial_eval_is_flagged(db, capsys):
    args = ["--eval", "ev-base", "--eval", "ev-running", "--db", str(db), *RESAMPLES]
    code, out, err = _run(capsys, *args)
    assert code == 0
    assert "partial numbers" in err and "ev-running" in err
    assert "(partial)" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--eval", "ev-base"], "at least two different --eval"),
        (["--eval", "ev-base", "--eval", "ev-base"], "at least two different --eval"),
        (["--eval", "ev-base", "--eval", "nope"], "eval 'nope' is not in"),
        (["--eval", "ev-base", "--eval", "ev-same", "--baseline", "x"], "--baseline 'x' is not"),
        (["--eval", "ev-base", "--eval", "ev-same", "--format", "xml"], "--format 'xml'"),
        (["--eval", "ev-base", "--eval", "ev-same", "--resamples", "0"], "--resamples 0"),
    ],
)
def test_bad_input_exits_2_with_one_line(db, capsys, args, message):
    code, out, err = _run(capsys, *args, "--db", str(db))
    assert code == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1


def test_eval_with_several_models_prints_the_same_differences_as_compare(db):
    """What `fipo-bench eval --model A --model B` prints after its metrics table."""
    from rich.console import Console

    from fipo_bench.eval.console import differences_tables
    from fipo_bench.eval.model_ref import ModelRef
    from fipo_bench.eval.plan import PlannedModel
    from fipo_bench.eval.runner import ModelResult
    from fipo_bench.eval.stored import stored_eval_metrics

    store = Store(db, read_only=True)
    results = [
        ModelResult(
            model=PlannedModel(ModelRef(e, "dir", f"/m/{e}", "f"), e),
            engine="hf",
            metrics=stored_eval_metrics(store, e),
            generated_samples=240,
            reused_samples=0,
            wall_s=1.0,
        )
        for e in ("ev-base", "ev-better")
    ]
    (table,) = differences_tables(db, results, resamples=1000)
    console = Console(record=True, width=160)
    console.print(table)
    text = console.export_text()
    records = compare_evals(store, ["ev-base", "ev-better"], resamples=1000).records()
    for record in records:
        shown = f"{100 * record['delta']:+.1f}" + ("*" if record["excludes_zero"] else "")
        assert shown in text
    assert "Differences against tiny-fipo@0" in text
    assert differences_tables(db, results[:1]) == []
