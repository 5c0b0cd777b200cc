"""The update step on a real (random, small) Qwen2: mini-batches, FIPO credit, NaN guard."""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from fipo_bench.config import TrainConfig, apply_overrides, get_preset
from fipo_bench.engines.record import GenerationRecord
from fipo_bench.tasks.problem import Problem
from fipo_bench.train.credit import token_credit
from fipo_bench.train.rollout_batch import Rollout, build_batch
from fipo_bench.train.schedule import make_optimizer
from fipo_bench.train.update import score_rows, update_policy


def _policy(seed: int = 0) -> Qwen2ForCausalLM:
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=40,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=128,
        tie_word_embeddings=False,
        initializer_range=0.2,
    )
    return Qwen2ForCausalLM(config).eval()


def _rollouts(n_groups: int = 4, group_size: int = 2, seed: int = 1) -> list[Rollout]:
    gen = torch.Generator().manual_seed(seed)
    out = []
    for g in range(n_groups):
        for s in range(group_size):
            prompt = torch.randint(1, 40, (3 + g,), generator=gen).tolist()
            response = torch.randint(1, 40, (6 + 2 * s + g,), generator=gen).tolist()
            record = GenerationRecord(
                g,
                s,
                prompt,
                response,
                [str(t) for t in response],
                [0.0] * len(response),
                "stop",
                "",
            )
            out.append(
                Rollout(
                    Problem("d", str(g), "p", "1"),
                    g,
                    record,
                    s == 0,
                    None,
                    "ok",
                    1.0 if s == 0 else -1.0,
                    1.0 if s == 0 else -1.0,
                )
            )
    return out


def config(algo: str = "fipo", *overrides: str) -> TrainConfig:
    """The tiny preset with 2 prompt groups per update and 3 rows per micro-batch."""
    geometry = ["update.mini_batch_prompts=2", "update.micro_batch_seqs=3"]
    return apply_overrides(get_preset(f"tiny-{algo}"), [*geometry, *overrides])


def test_fipo_weights_leave_one_after_the_first_minibatch_update():
    """With one update per batch FIPO == DAPO; the second mini-batch sees a moved policy."""
    policy = _policy()
    rollouts = _rollouts()
    batch = build_batch(rollouts, pad_token_id=0)
    groups = [r.group for r in rollouts]
    rows = list(range(batch.size))
    cfg = config("fipo", "loss.influence_low=0.5", "loss.influence_high=2.0")
    old_logp, _ = score_rows(policy, batch, rows, cfg)
    # before any update: delta = 0, FutureKL = 0, every weight exactly 1
    before = token_credit(policy, batch, rows, old_logp, cfg)
    on_mask = before.response_mask.bool()
    assert torch.all(before.influence_weight[on_mask] == 1.0)
    optimizer = make_optimizer(policy, lr=5e-3, weight_decay=0.0, betas=(0.9, 0.999))
    result = update_policy(policy, optimizer, batch, groups, old_logp, cfg)
    assert result.n_updates == 2 and result.n_skipped == 0
    # the combined metric averages update 1 (all weights 1) with update 2 (moved policy)
    assert (
        result.metrics["influence_weight/max"] > 1.0 or result.metrics["influence_weight/min"] < 1.0
    )
    after = token_credit(policy, batch, rows, old_logp, cfg)
    assert (after.influence_weight[on_mask] - 1.0).abs().max() > 1e-4
    assert (after.delta[on_mask]).abs().max() > 1e-4
    assert torch.all(after.influence_weight[~on_mask] == 0)  # nothing outside the response


def test_nan_loss_skips_the_update_and_leaves_weights_and_adam_untouched():
    policy = _policy()
    rollouts = _rollouts()
    batch = build_batch(rollouts, pad_token_id=0)
    groups = [r.group for r in rollouts]
    old_logp, _ = score_rows(policy, batch, range(batch.size), config("dapo"))
    # a NaN advantage in the first mini-batch only (rows of groups 0-1 are rows 0-3)
    poisoned = batch.advantages.clone()
    poisoned[1] = float("nan")
    bad = type(batch)(**{**batch.__dict__, "advantages": poisoned})
    before = copy.deepcopy(policy.state_dict())
    optimizer = make_optimizer(policy, lr=5e-3, weight_decay=0.1, betas=(0.9, 0.999))
    result = update_policy(policy, optimizer, bad, groups, old_logp, config("dapo"))
    assert result.n_skipped == 1 and result.n_updates == 1
    assert all(torch.isfinite(p).all() for p in policy.parameters())
    assert any(not torch.equal(before[k], v) for k, v in policy.state_dict().items())
    # all-NaN: every update skipped, weights bit-identical, no Adam state created
    fresh = _policy()
    fresh_before = copy.deepcopy(fresh.state_dict())
    all_nan = type(batch)(
        **{**batch.__dict__, "advantages": torch.full_like(poisoned, float("nan"))}
    )
    opt2 = make_optimizer(fresh, lr=5e-3, weight_decay=0.1, betas=(0.9, 0.999))
    result = update_policy(fresh, opt2, all_nan, groups, old_logp, config("dapo"))
    assert result.n_skipped == 2 and result.n_updates == 0
    assert all(torch.equal(fresh_before[k], v) for k, v in fresh.state_dict().items())
    assert len(opt2.state) == 0


@pytest.mark.parametrize(
    ("micro", "agg"),
    [(1, "token-mean"), (3, "token-mean"), (8, "token-mean"), (3, "seq-mean-token-mean")],
)
def test_micro_batched_update_equals_one_full_batch_loss(micro: int, agg: str):
    """Whatever the micro-batch size, the trainer's step is the gradient of policy_loss over the
    whole mini-batch with that loss's own aggregation (token-mean over all its tokens, or the
    mean over its responses), not a mean of micro-batch means or a mis-scaled sum."""
    from fipo_bench.algos.losses import policy_loss
    from fipo_bench.engines.scoring import score_tokens

    rollouts = _rollouts()
    batch = build_batch(rollouts, pad_token_id=0)
    groups = [r.group for r in rollouts]
    cfg = apply_overrides(
        get_preset("tiny-fipo"),
        [f"loss.agg={agg}", "update.mini_batch_prompts=4", f"update.micro_batch_seqs={micro}",
         "optimiser.grad_clip=0"],
    )  # fmt: skip
    loss_config = cfg.loss
    # float64: both sides sum the same terms in a different order; in float32 that order alone
    # moves the result by ~1e-6, as much as a real scaling bug would on some parameters.
    base = _policy().double()
    old_logp, _ = score_rows(base, batch, range(batch.size), cfg)
    # perturb old_logp so ratios differ from 1 and the clip is active somewhere
    old_logp = old_logp + 0.3 * batch.response_mask * torch.linspace(-1, 1, old_logp.shape[1])

    reference = copy.deepcopy(base)
    logp, _ = score_tokens(reference, batch.input_ids, batch.attention_mask)
    result = policy_loss(logp, old_logp, batch.advantages, batch.response_mask, loss_config)
    result.loss.backward()
    expected = torch.cat([p.grad.flatten() for p in reference.parameters()])

    policy = copy.deepcopy(base)
    before = torch.cat([p.detach().flatten() for p in policy.parameters()])
    # SGD with lr 1: the parameter change is minus the gradient itself
    optimizer = torch.optim.SGD(policy.parameters(), lr=1.0)
    assert len(set(groups)) == cfg.update.mini_batch_prompts  # one update: the whole batch
    update_policy(policy, optimizer, batch, groups, old_logp, cfg)
    after = torch.cat([p.detach().flatten() for p in policy.parameters()])
    torch.testing.assert_close(before - after, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("micro", [1, 3, 8])
def test_seq_dropped_frac_is_the_fraction_of_the_steps_responses_dropped(micro):
    """Rows 1 and 3 (A = -1) get old log-probs 3 nats lower: every token's ratio is ~e^3 > c,
    so FIPO's drop rule removes both; rows 5 and 7 stay near ratio 1. 2 of 8 responses dropped,
    whatever the micro-batching (a token-weighted mean of micro-batch fractions would vary)."""
    policy = _policy()
    rollouts = _rollouts()
    batch = build_batch(rollouts, pad_token_id=0)
    groups = [r.group for r in rollouts]
    cfg = config("fipo", f"update.micro_batch_seqs={micro}")
    old_logp, _ = score_rows(policy, batch, range(batch.size), cfg)
    old_logp[[1, 3]] -= 3.0 * batch.response_mask[[1, 3]]
    optimizer = torch.optim.SGD(policy.parameters(), lr=1e-6)
    result = update_policy(policy, optimizer, batch, groups, old_logp, cfg)
    assert result.n_updates == 2
    assert result.metrics["seq_dropped_frac"] == pytest.approx(2 / 8)
