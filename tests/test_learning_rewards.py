"""The trainer turns reward into behaviour: from a measured low base rate, the untrained tiny
model learns a trivially learnable plug-in reward (end the response with an even digit) to a
rollout mean >= 0.9 within a bounded number of steps, for GRPO, DAPO and FIPO alike, and the
stored reward curve rises.

Misassigned credit (rewards, advantages or log-probs on the wrong rows or tokens) would leave
the reward near its base rate, whatever the learning rate: the reward depends on one token per
response, so it is learnt only when each response's advantage reaches its own tokens.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch

from fipo_bench.config import apply_overrides, get_preset
from fipo_bench.store import Store
from fipo_bench.train import TrainJob, train

pytestmark = pytest.mark.slow

STEPS = 30  # measured: each algorithm passes 0.9 at steps 26-30 from a ~0.02 base rate
WINDOW = 5  # moving-average window of the monotonicity check
DIP_TOLERANCE = 0.05  # the moving average may dip this much (sampling noise), never more


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two threads crawl on a shared CPU
    yield
    torch.set_num_threads(threads)


def _reward_curve(model: Path, tmp_path: Path, algo: str) -> list[float]:
    overrides = [
        # 8 random tokens per response: the reward reads the last one
        "rollout.max_response_tokens=8",
        "rewards.overlong_buffer=0",
        "rewards.reward_fn=fipo_bench.demo.rewards:ends_with_even_digit",
        "rewards.correctness_weight=0",  # the plug-in is the only reward
        # a random model needs larger steps than the warmed-up one the preset is sized for
        "optimiser.lr=1e-3",
        "update.mini_batch_prompts=8",  # 2 updates per step, as STEPS was measured with
        "run.save_every=0",
        "run.log_rollouts_per_step=0",
    ]
    if algo != "grpo":
        overrides.append("rollout.filter_metric=reward")  # dynamic sampling on the plug-in
    job = TrainJob(
        preset=f"tiny-{algo}",
        config=apply_overrides(get_preset(f"tiny-{algo}"), overrides),
        model_dir=model,
        out_dir=tmp_path / "run",
        db_path=tmp_path / "db.duckdb",
        steps=STEPS,
        show_progress=False,
    )
    result = train(job)
    rows = Store(job.db_path, read_only=True).train_metrics(result.run_id, ["reward/mean"])
    by_step = {row["step"]: row["value"] for row in rows.to_pylist()}
    assert sorted(by_step) == list(range(1, STEPS + 1))
    return [by_step[step] for step in range(1, STEPS + 1)]


@pytest.mark.parametrize("algo", ["grpo", "dapo", "fipo"])
def test_the_tiny_model_learns_a_trivial_reward(tiny_model_quick, tmp_path, algo):
    """Base rate (step 1, measured) <= 0.1; the rollout mean reaches >= 0.9 within STEPS steps;
    the stored curve's moving average never falls by more than sampling noise."""
    curve = _reward_curve(tiny_model_quick, tmp_path, algo)
    assert curve[0] <= 0.1, f"base rate {curve[0]:.2f} is not low"
    assert max(curve[-3:]) >= 0.9, f"reward curve {[round(v, 2) for v in curve]}"
    moving = [sum(curve[i : i + WINDOW]) / WINDOW for i in range(len(curve) - WINDOW + 1)]
    dips = [later - earlier for earlier, later in itertools.pairwise(moving)]
    assert min(dips) >= -DIP_TOLERANCE, f"moving average {[round(v, 2) for v in moving]}"
    assert moving[-1] - moving[0] >= 0.7
