"""Real evals on the tiny model with the transformers engine: stored rows, metrics, side by side,
and resume after `kill -9` of the eval process."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pyarrow.compute as pc
import pytest

from fipo_bench.cli import main
from fipo_bench.eval import stored_eval_metrics
from fipo_bench.eval.stored import metrics_json
from fipo_bench.store import Store, sample_id
from fipo_bench.verify import check

pytestmark = pytest.mark.slow


def _eval_args(models, aime24_file, db, *, n=2, limit=3, max_tokens=12, extra=()):
    args = ["eval"]
    for model in models:
        args += ["--model", str(model)]
    args += [
        "--dataset", "aime24", "--data-file", aime24_file, "--n", str(n), "--limit", str(limit),
        "--max-tokens", str(max_tokens), "--engine", "hf", "--db", str(db), *extra,
    ]  # fmt: skip
    return args


@pytest.fixture
def aime24_file(shared_benchmarks):
    return str(shared_benchmarks / "aime24.jsonl")


def _sample_rows(store: Store, eval_id: str) -> list[dict]:
    table = store.eval_samples(eval_id)
    cols = ["sample_id", "problem_id", "sample_idx", "text", "n_tokens", "finish_reason",
            "extracted", "correct", "verify_status", "answer_source"]  # fmt: skip
    return sorted(table.select(cols).to_pylist(), key=lambda r: r["sample_id"])


def test_hf_eval_stores_every_sample_with_tokens_and_metrics(
    tmp_path, capsys, tiny_model_dir, aime24_file
):
    db = tmp_path / "e.duckdb"
    assert main(_eval_args([tiny_model_dir], aime24_file, db)) == 0
    out = capsys.readouterr().out
    assert "engine hf" in out and "avg@2" in out and "pass@2" in out and "cons@2" in out

    store = Store(db, read_only=True)
    evals = store.list_evals().to_pylist()
    assert len(evals) == 1
    ev = evals[0]
    assert ev["status"] == "done" and ev["engine"] == "hf" and ev["dataset"] == "aime24"
    assert (ev["n"], ev["temperature"], ev["top_p"], ev["max_tokens"]) == (2, 1.0, 0.7, 12)
    assert ev["model_path"] == str(tiny_model_dir.resolve())

    problems = store.problems("aime24").to_pylist()
    assert len(problems) == 3
    gold = {p["problem_id"]: p["answer"] for p in problems}

    rows = _sample_rows(store, ev["eval_id"])
    assert sorted((r["problem_id"], r["sample_idx"]) for r in rows) == sorted(
        (pid, k) for pid in gold for k in range(2)
    )
    for row in rows:
        assert row["sample_id"] == sample_id(ev["eval_id"], row["problem_id"], row["sample_idx"])
        assert 1 <= row["n_tokens"] <= 12
        assert row["finish_reason"] in ("stop", "length")
        assert row["finish_reason"] == "stop" or row["n_tokens"] == 12
        # Stored verdicts are what the verifier says about the stored text.
        verdict = check(gold[row["problem_id"]], row["text"])
        assert (row["correct"], row["extracted"], row["verify_status"], row["answer_source"]) == (
            verdict.correct,
            verdict.extracted,
            verdict.status,
            verdict.source,
        )
        tokens = store.trajectory(row["sample_id"])
        assert tokens.num_rows == row["n_tokens"]
        assert tokens["pos"].to_pylist() == list(range(row["n_tokens"]))
        logp = tokens["logp"]
        assert logp.null_count == 0 and pc.max(logp).as_py() <= 0.0

    # The metrics stored with the eval are those the store's samples give.
    recomputed = stored_eval_metrics(store, ev["eval_id"])
    assert store.get_eval(ev["eval_id"])["metrics"] == metrics_json(recomputed)
    assert recomputed.num_samples == 6 and recomputed.n == 2
    assert recomputed.avg_at_n == pytest.approx(sum(r["correct"] for r in rows) / 6)


def test_two_models_side_by_side_share_problems_and_settings(
    tmp_path, capsys, tiny_model_dir, aime24_file
):
    """A base dir and `run_id:step` of a stored run (a copy of the same weights) in one command."""
    ckpt = tmp_path / "run" / "checkpoints" / "step-000003"
    shutil.copytree(tiny_model_dir, ckpt)
    db = tmp_path / "e.duckdb"
    Store(db).add_checkpoint("run-a", 3, ckpt)

    assert main(_eval_args([tiny_model_dir, "run-a:3"], aime24_file, db, limit=2)) == 0
    out = capsys.readouterr().out
    assert "run-a:3" in out and "Differences against" in out  # the second vs the first

    store = Store(db, read_only=True)
    evals = {e["model_path"]: e for e in store.list_evals().to_pylist()}
    assert set(evals) == {str(tiny_model_dir.resolve()), str(ckpt.resolve())}
    by_ckpt = evals[str(ckpt.resolve())]
    assert (by_ckpt["run_id"], by_ckpt["ckpt_id"]) == ("run-a", "run-a@3")
    base = evals[str(tiny_model_dir.resolve())]
    assert base["eval_id"] != by_ckpt["eval_id"]
    for key in ("dataset", "n", "temperature", "top_p", "max_tokens", "seed", "engine"):
        assert base[key] == by_ckpt[key]
    keys = [{(r["problem_id"], r["sample_idx"]) for r in _sample_rows(store, e["eval_id"])}
            for e in (base, by_ckpt)]  # fmt: skip
    assert keys[0] == keys[1] and len(keys[0]) == 4
    # Same weights, same seed and settings: the same responses, whichever way the model was named.
    texts = [sorted(r["text"] for r in _sample_rows(store, e["eval_id"])) for e in (base, by_ckpt)]
    assert texts[0] == texts[1]


def _cli(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "fipo_bench.cli", *args]


def test_resume_after_kill_9_gives_the_uninterrupted_samples_and_metrics(
    tmp_path, tiny_model_dir, aime24_file
):
    """One problem per unit, six units: SIGKILL once some (not all) are stored, rerun, and the
    result equals a run that was never interrupted, sample for sample."""
    args = dict(n=2, limit=6, max_tokens=48, extra=("--unit-samples", "2"))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    clean_db = tmp_path / "clean.duckdb"
    subprocess.run(_cli(_eval_args([tiny_model_dir], aime24_file, clean_db, **args)),
                   check=True, capture_output=True, env=env, timeout=600)  # fmt: skip

    db = tmp_path / "killed.duckdb"
    proc = subprocess.Popen(
        _cli(_eval_args([tiny_model_dir], aime24_file, db, **args)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    stored_before_kill = 0
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            if not db.exists():
                continue
            try:
                stored_before_kill = Store(db, read_only=True, lock_timeout_s=2).table_counts()[
                    "samples"
                ]
            except Exception:  # the writer is mid-migration or holds the file: poll again
                continue
            if stored_before_kill >= 2:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the eval finished before it could be killed"

    store = Store(db, read_only=True)
    (killed_eval,) = store.list_evals().to_pylist()
    assert killed_eval["status"] == "running"
    partial = store.table_counts()["samples"]
    assert 2 <= partial < 12 and partial % 2 == 0  # whole units only

    subprocess.run(_cli(_eval_args([tiny_model_dir], aime24_file, db, **args)),
                   check=True, capture_output=True, env=env, timeout=600)  # fmt: skip

    store = Store(db, read_only=True)
    clean = Store(clean_db, read_only=True)
    (resumed,) = store.list_evals().to_pylist()
    (uninterrupted,) = clean.list_evals().to_pylist()
    assert resumed["eval_id"] == uninterrupted["eval_id"] == killed_eval["eval_id"]
    assert resumed["status"] == "done"
    rows = _sample_rows(store, resumed["eval_id"])
    assert len(rows) == 12 and len({r["sample_id"] for r in rows}) == 12
    assert rows == _sample_rows(clean, uninterrupted["eval_id"])
    assert store.table_counts()["tokens"] == clean.table_counts()["tokens"]
    assert (
        store.get_eval(resumed["eval_id"])["metrics"]
        == clean.get_eval(resumed["eval_id"])["metrics"]
    )


def test_rerunning_a_finished_eval_generates_nothing(tmp_path, capsys, tiny_model_dir, aime24_file):
    db = tmp_path / "e.duckdb"
    args = _eval_args([tiny_model_dir], aime24_file, db, limit=1)
    assert main(args) == 0
    counts = Store(db, read_only=True).table_counts()
    capsys.readouterr()
    assert main(args) == 0
    assert "all 2 samples were stored" in capsys.readouterr().out
    assert Store(db, read_only=True).table_counts() == counts
