"""Credit reaches the row and the tokens it belongs to: rewards, advantages, old log-probs and
token positions of a real rollout batch line up, and one update moves a sample's log-prob in the
direction of its advantage."""

from __future__ import annotations

import copy
import statistics
from dataclasses import replace

import pytest
import torch

from fipo_bench.config import apply_overrides, get_preset
from fipo_bench.engines.hf import HFEngine
from fipo_bench.tasks import synthetic
from fipo_bench.train.data_order import DataOrderState
from fipo_bench.train.rollout import collect_rollouts
from fipo_bench.train.rollout_batch import build_batch
from fipo_bench.train.update import score_rows, update_policy
from fipo_bench.verify import check_many

GROUP_SIZE = 8
# One step of 4 prompts x 8 samples, plain outcome rewards (no overlong shaping, no filter).
CONFIG = apply_overrides(
    get_preset("tiny-grpo"),
    ["rollout.prompts_per_step=4", f"rollout.samples_per_prompt={GROUP_SIZE}",
     "update.mini_batch_prompts=4", "update.micro_batch_seqs=8"],
)  # fmt: skip


@pytest.fixture(scope="module")
def policy_and_rollouts(tiny_model_dir):
    """A real step's rollouts from the warmed-up tiny model (4 prompts x 8 samples)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    problems = synthetic.load_problems("train", n=40, seed=2)
    engine = HFEngine.from_model(model, tokenizer, max_batch_sequences=64)
    rollouts = collect_rollouts(
        engine, problems, DataOrderState(), CONFIG.rollout, CONFIG.rewards, step=1, seed=0
    ).rollouts
    yield model, tokenizer, rollouts
    torch.set_num_threads(threads)


def test_each_reward_and_advantage_belongs_to_its_own_row(policy_and_rollouts):
    """Re-verifying each row's own text against its own problem gives its stored outcome and
    reward, and each advantage is (R - group mean) / (group std + eps) over its own group (float64
    reference); the rows of a group share one problem."""
    _, _, rollouts = policy_and_rollouts
    verdicts = check_many([(r.problem.answer, r.record.text) for r in rollouts])
    assert [v.correct for v in verdicts] == [r.correct for r in rollouts]
    assert [r.reward for r in rollouts] == [1.0 if r.correct else -1.0 for r in rollouts]
    groups = {r.group for r in rollouts}
    assert len(groups) == 4 and any(
        len({r.correct for r in rollouts if r.group == g}) == 2 for g in groups
    )
    for group in groups:
        rows = [r for r in rollouts if r.group == group]
        assert len(rows) == GROUP_SIZE and len({r.problem.problem for r in rows}) == 1
        mean = statistics.fmean(r.reward for r in rows)
        std = statistics.stdev(r.reward for r in rows)
        for r in rows:
            expected = 0.0 if std == 0 else (r.reward - mean) / (std + 1e-6)
            assert r.advantage == pytest.approx(expected, abs=1e-5)


def test_batch_rows_hold_their_own_tokens_advantage_and_old_logprobs(policy_and_rollouts):
    """In the padded batch, the response mask of row i covers exactly rollout i's sampled
    tokens, its advantage is rollout i's, and the policy's teacher-forced log-probs under the
    mask equal the engine's log-probs of those tokens (the ratio is 1 before any update)."""
    model, tokenizer, rollouts = policy_and_rollouts
    batch = build_batch(rollouts, tokenizer.pad_token_id)
    old_logp, _ = score_rows(model, batch, range(batch.size), CONFIG)
    mask = batch.response_mask.bool()
    for i, rollout in enumerate(rollouts):
        columns = mask[i].nonzero().squeeze(1)
        assert batch.input_ids[i, columns + 1].tolist() == rollout.record.token_ids
        assert float(batch.advantages[i]) == pytest.approx(rollout.advantage)
        engine_logp = torch.tensor(rollout.record.logprobs, dtype=torch.float64)
        assert torch.allclose(old_logp[i, columns].double(), engine_logp, atol=1e-4)


@pytest.mark.parametrize("mode", ["grpo", "dapo", "fipo"])
def test_one_update_moves_a_samples_logprob_the_way_its_advantage_points(policy_and_rollouts, mode):
    """One SGD update on a single sample raises its summed log-prob when its advantage is +1 and
    lowers it when -1 (first order: the change is lr * |grad|^2 > 0 up to O(lr^2), checked
    with a margin far above float32 noise)."""
    model, tokenizer, rollouts = policy_and_rollouts
    cfg = apply_overrides(
        get_preset(f"tiny-{mode}"),
        ["rollout.prompts_per_step=2", "update.mini_batch_prompts=1", "optimiser.grad_clip=0"],
    )
    changes = {}
    for sign in (1.0, -1.0):
        policy = copy.deepcopy(model)
        batch = build_batch([replace(rollouts[0], group=0, advantage=sign)], tokenizer.pad_token_id)
        old_logp, _ = score_rows(policy, batch, [0], cfg)
        optimizer = torch.optim.SGD(policy.parameters(), lr=1e-3)
        update_policy(policy, optimizer, batch, [0], old_logp, cfg)
        new_logp, _ = score_rows(policy, batch, [0], cfg)
        changes[sign] = float((new_logp - old_logp)[batch.response_mask.bool()].double().sum())
    assert changes[1.0] > 0.01 and changes[-1.0] < -0.01
