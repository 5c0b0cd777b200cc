"""`fipo-bench train` end to end on the embedded tiny model: GRPO/DAPO/FIPO runs, per-token
credit, dynamic sampling bound, checkpoints that load in transformers, resume equivalence."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from fipo_bench.cli import main
from fipo_bench.store import Store
from fipo_bench.store import dashboard_queries as dq
from fipo_bench.store.analysis_queries import TOKEN_COLUMNS, token_columns
from fipo_bench.train.checkpoint import latest_checkpoint
from fipo_bench.train.run_dir import run_id_for

pytestmark = pytest.mark.slow

# Smaller than the tiny presets (16 prompts x 8 samples, 96 tokens, 3 generation rounds) so a
# step takes seconds, but still 2 updates per step so FIPO's weights can leave 1.
SMALL = [
    "rollout.prompts_per_step=2",
    "rollout.samples_per_prompt=4",
    "update.mini_batch_prompts=1",
    "rollout.max_response_tokens=40",
    "rollout.max_gen_batches=2",
    "run.log_rollouts_per_step=3",
]
DESIGN_METRICS = [
    "reward/mean",
    "acc/mean",
    *(f"response_length/{s}" for s in ("min", "q25", "mean", "median", "q75", "max")),
    "clip_ratio/low",
    "clip_ratio/high",
    "clip_ratio/dual",
    "policy_kl",
    "entropy",
    "grad_norm",
    "lr",
    "seq_dropped_frac",
    "num_gen_batches",
    "updates_per_step",
    "advantage/length_weighted_mean",
    "reflection_rate",
    "step_time_s",
]
FIPO_METRICS = [
    "future_kl/mean",
    "future_kl/min",
    "future_kl/max",
    *(f"influence_weight/{s}" for s in ("mean", "min", "max", "raw_mean", "abs_dev_mean")),
    *(f"influence_weight/{s}" for s in ("clip_frac", "clip_frac_upper", "clip_frac_lower")),
    "fipo/single_update_step",
]


@pytest.fixture(scope="module")
def model_dir(request) -> Path:
    return Path(request.getfixturevalue("tiny_model_dir"))


def _is_timing(name: str) -> bool:
    return name == "step_time_s" or name.startswith("timing/")


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: on a shared 2-core CPU two threads spin against each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _train(model: Path, out: Path, db: Path, preset: str, steps: int, *extra: str) -> int:
    sets = [arg for s in SMALL for arg in ("--set", s)]
    argv = ["train", "--preset", preset, "--model", str(model), "--steps", str(steps)]
    argv += ["--out", str(out), "--db", str(db), "--quiet", *sets, *extra]
    return main(argv)


def _metrics(db: Path, out: Path) -> dict[tuple[int, str], float]:
    table = Store(db, read_only=True).train_metrics(run_id_for(out)).to_pylist()
    return {(row["step"], row["name"]): row["value"] for row in table}


@pytest.mark.parametrize("preset", ["tiny-grpo", "tiny-dapo", "tiny-fipo"])
def test_tiny_preset_trains_logs_and_checkpoints(model_dir, tmp_path, preset):
    out, db = tmp_path / "run", tmp_path / "fipo.duckdb"
    trackers = ["--report-to", "tensorboard"] if preset == "tiny-grpo" else []
    assert _train(model_dir, out, db, preset, 2, *trackers) == 0
    if trackers:  # the optional tracker got the same metrics
        assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    metrics = _metrics(db, out)
    expected = DESIGN_METRICS + (FIPO_METRICS if preset == "tiny-fipo" else [])
    for step in (1, 2):
        missing = [name for name in expected if (step, name) not in metrics]
        # a step whose dynamic sampling kept no group has no update metrics: say so
        if metrics[(step, "kept_groups")] == 0:
            missing = [m for m in missing if m in ("reward/mean", "acc/mean", "lr")]
        else:  # two prompt groups, one per mini-batch: two optimiser updates
            assert metrics[(step, "updates_per_step")] == 2.0
        assert not missing, f"step {step} lacks {missing}"
        assert all(math.isfinite(v) for (s, _), v in metrics.items() if s == step)
    store = Store(db, read_only=True)
    run = store.get_run(run_id_for(out))
    assert run["kind"] == "train" and run["preset"] == preset
    ckpts = store.checkpoints(run_id_for(out)).to_pylist()
    assert [c["step"] for c in ckpts] == [2]
    # an ordinary HF checkpoint: transformers loads it unchanged
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(ckpts[0]["path"])
    tokenizer = AutoTokenizer.from_pretrained(ckpts[0]["path"])
    ids = tokenizer("1+2=", return_tensors="pt")["input_ids"]
    assert torch.isfinite(model(ids).logits).all()
    # per-token credit rows of the logged rollouts
    samples = _rollouts(store, run_id_for(out))
    if samples:
        tokens = store.trajectory(samples[0]["sample_id"]).to_pylist()
        assert len(tokens) == samples[0]["n_tokens"]
        for col in ("logp", "delta", "future_kl", "influence_weight", "entropy"):
            assert all(t[col] is not None and math.isfinite(t[col]) for t in tokens), col
    if preset == "tiny-fipo":
        _assert_fipo_weights_moved(store, out, samples, metrics)
    elif samples:  # GRPO/DAPO losses weigh every token by exactly 1
        tokens = _tokens(store, samples)
        assert {t["influence_weight"] for t in tokens} == {1.0}


def _rollouts(store, run_id: str) -> list[dict]:
    """Every logged rollout sample of the run (no text), by step."""
    steps = dq.rollout_steps(store, run_id)["step"].to_pylist()
    return [row for step in steps for row in dq.step_outcomes(store, run_id, step).to_pylist()]


def _tokens(store, samples: list[dict]) -> list[dict]:
    return token_columns(store, [s["sample_id"] for s in samples], TOKEN_COLUMNS).to_pylist()


def _assert_fipo_weights_moved(store, out, samples, metrics) -> None:
    """After a step's mini-batch updates the stored weights differ from 1 (FIPO != DAPO)."""
    assert samples, "no rollout logged: dynamic sampling kept no group in 2 steps"
    tokens = _tokens(store, samples)
    weights = [t["influence_weight"] for t in tokens]
    assert max(abs(w - 1.0) for w in weights) > 1e-3
    assert all(0.8 - 1e-6 <= w <= 1.2 + 1e-6 for w in weights)  # tiny-fipo's band
    assert any(abs(t["delta"]) > 0 for t in tokens)
    moved = [
        metrics[(s, "influence_weight/max")] > 1.0 or metrics[(s, "influence_weight/min")] < 1.0
        for s in (1, 2)
        if (s, "influence_weight/max") in metrics
    ]
    assert any(moved)


def test_dynamic_sampling_regenerates_up_to_its_bound(model_dir, tmp_path):
    """Near-greedy sampling gives identical answers in a group: no group has signal, so every
    step regenerates until max_gen_batches, trains on nothing, and says so in its metrics."""
    out, db = tmp_path / "run", tmp_path / "fipo.duckdb"
    extra = ["--set", "rollout.temperature=0.01", "--set", "rollout.max_gen_batches=3"]
    extra += ["--set", "rollout.top_p=0.01", "--set", "rollout.max_response_tokens=24"]
    assert _train(model_dir, out, db, "tiny-dapo", 1, *extra) == 0
    metrics = _metrics(db, out)
    assert metrics[(1, "num_gen_batches")] == 3
    assert metrics[(1, "kept_groups")] == 0
    assert metrics[(1, "dynamic_sampling/bound_hit")] == 1.0
    assert metrics[(1, "num_updates")] == 0


def test_resume_logs_the_same_metrics_as_an_uninterrupted_run(model_dir, tmp_path):
    """2 steps + --resume to 3 == 3 steps straight: every metric (but wall time) and weights."""
    db = tmp_path / "fipo.duckdb"
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert _train(model_dir, straight, db, "tiny-fipo", 3, "--set", "run.save_every=0") == 0
    assert _train(model_dir, resumed, db, "tiny-fipo", 2, "--set", "run.save_every=0") == 0
    no_saves = ("--set", "run.save_every=0")
    assert _train(model_dir, resumed, db, "tiny-fipo", 3, *no_saves, "--resume") == 0
    a, b = _metrics(db, straight), _metrics(db, resumed)
    a = {k: v for k, v in a.items() if not _is_timing(k[1])}
    b = {k: v for k, v in b.items() if not _is_timing(k[1])}
    assert a.keys() == b.keys() and {s for s, _ in a} == {1, 2, 3}
    assert a == b
    from safetensors.torch import load_file

    wa = load_file(latest_checkpoint(straight).path / "model.safetensors")
    wb = load_file(latest_checkpoint(resumed).path / "model.safetensors")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_killed_run_leaves_its_last_checkpoint_usable(model_dir, tmp_path):
    """SIGKILL mid-run (possibly mid-save): the newest step-N folder is complete, loads in
    transformers, and --resume continues from it."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from transformers import AutoModelForCausalLM

    out, db = tmp_path / "run", tmp_path / "fipo.duckdb"
    sets = [arg for s in [*SMALL, "run.save_every=1"] for arg in ("--set", s)]
    argv = [sys.executable, "-m", "fipo_bench", "train", "--preset", "tiny-grpo"]
    argv += ["--model", str(model_dir), "--steps", "50", "--out", str(out), "--db", str(db)]
    argv += ["--quiet", *sets]
    proc = subprocess.Popen(argv, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 300
        while latest_checkpoint(out) is None or latest_checkpoint(out).step < 2:
            assert proc.poll() is None, "training exited before it was killed"
            assert time.monotonic() < deadline, "no checkpoint within 300 s"
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    last = latest_checkpoint(out)
    AutoModelForCausalLM.from_pretrained(last.path)
    resumed = _train(model_dir, out, db, "tiny-grpo", last.step + 1, "--set", "run.save_every=1",
                     "--resume")  # fmt: skip
    assert resumed == 0
    assert latest_checkpoint(out).step == last.step + 1
    assert (last.step + 1, "reward/mean") in _metrics(db, out)


def test_validation_during_training_is_an_eval_per_step_and_resume_adds_only_new_ones(
    model_dir, tmp_path
):
    """--val-every 1: steps 0 (the base), 1 and 2 each get an eval linked to the run and step,
    with val/* metrics in the step's training metrics; resuming to step 3 evaluates step 3 only
    and duplicates nothing."""
    out, db = tmp_path / "run", tmp_path / "fipo.duckdb"
    val = ["--val-dataset", "synthetic", "--val-every", "1", "--val-n", "2", "--val-limit", "3"]
    assert _train(model_dir, out, db, "tiny-grpo", 2, *val) == 0
    run_id = run_id_for(out)

    def validations() -> dict[int, dict]:
        evals = Store(db, read_only=True).list_evals(run_id=run_id).to_pylist()
        return {e["step"]: e for e in evals}

    first = validations()
    assert sorted(first) == [0, 1, 2]
    assert all(e["status"] == "done" and e["n"] == 2 for e in first.values())
    metrics = _metrics(db, out)
    assert all((step, "val/avg@2") in metrics for step in (0, 1, 2))
    samples_before = Store(db, read_only=True).table_counts()["samples"]
    assert _train(model_dir, out, db, "tiny-grpo", 3, *val, "--resume") == 0
    second = validations()
    assert sorted(second) == [0, 1, 2, 3]
    assert {s: e["eval_id"] for s, e in second.items() if s < 3} == {
        s: e["eval_id"] for s, e in first.items()
    }
    added = Store(db, read_only=True).table_counts()["samples"] - samples_before
    assert added == 3 * 2 + metrics_rollouts_logged_per_step()


def metrics_rollouts_logged_per_step() -> int:
    """Rollouts one training step stores (SMALL's run.log_rollouts_per_step)."""
    return int(next(s for s in SMALL if s.startswith("run.log_rollouts")).split("=")[1])
