"""policy_loss follows DESIGN.md's objective: clip, dual clip, FIPO weights, safety, drops, agg."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fipo_bench.algos.future_kl import decay_gamma
from fipo_bench.algos.losses import (
    LOSS_MODES,
    LossConfig,
    agg_normalizer,
    aggregate,
    fipo_token_credit,
    policy_loss,
)


def loss_of(*args, **kwargs):
    """(loss, metrics) of policy_loss: what most of these properties look at."""
    result = policy_loss(*args, **kwargs)
    return result.loss, result.metrics


AGGS = ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"]


def moved_policy(batch=6, length=40, seed=0, scale=0.3):
    """Old log-probs, a moved current policy (leaf tensor), advantages [B], ragged mask."""
    gen = torch.Generator().manual_seed(seed)
    old = -torch.rand(batch, length, generator=gen) * 3
    logp = (old + scale * torch.randn(batch, length, generator=gen)).requires_grad_(True)
    adv = torch.randn(batch, generator=gen)
    lengths = torch.randint(1, length + 1, (batch,), generator=gen)
    mask = torch.arange(length)[None, :] < lengths[:, None]
    return logp, old, adv, mask


def grad_of(loss: torch.Tensor, leaf: torch.Tensor) -> torch.Tensor:
    (g,) = torch.autograd.grad(loss, leaf)
    return g


def test_fipo_equals_dapo_when_the_policy_has_not_moved():
    """With logp == old_logp, Delta = 0, f = 1: FIPO's loss and gradient are DAPO's."""
    _, old, adv, mask = moved_policy()
    logp = old.clone().requires_grad_(True)
    fipo, fm = loss_of(logp, old, adv, mask, LossConfig(mode="fipo"))
    dapo, _ = loss_of(logp, old, adv, mask, LossConfig(mode="dapo"))
    assert fipo.item() == pytest.approx(dapo.item(), abs=1e-7)
    assert torch.allclose(grad_of(fipo, logp), grad_of(dapo, logp), atol=1e-8)
    assert fm["future_kl/max"] == 0.0 and fm["influence_weight/mean"] == pytest.approx(1.0)


def test_fipo_differs_from_dapo_once_the_policy_has_moved():
    logp, old, adv, mask = moved_policy(scale=0.1)
    fipo, _ = loss_of(logp, old, adv, mask, LossConfig(mode="fipo"))
    dapo, _ = loss_of(logp, old, adv, mask, LossConfig(mode="dapo"))
    assert abs(fipo.item() - dapo.item()) > 1e-4


def test_gradient_matches_hand_derived_clip_cases():
    """Token-mean over 5 tokens, eps 0.2/0.28, c = 3:
    A>0, r=1.1 (inside) -> dL/dlogp = -A r / 5;  A>0, r=1.5 (clipped high) -> 0;
    A<0, r=0.5 (clipped low) -> 0;  A<0, r=2 (inside, below c) -> -A r / 5;
    A<0, r=5 (dual-clipped at c) -> 0, and its loss is -A c."""
    ratios = torch.tensor([[1.1, 1.5, 0.5, 2.0, 5.0]])
    adv = torch.tensor([[1.0, 1.0, -1.0, -1.0, -2.0]])
    old = torch.zeros(1, 5)
    logp = torch.log(ratios).requires_grad_(True)
    cfg = LossConfig(mode="dapo", clip_low=0.2, clip_high=0.28, dual_clip_c=3.0)
    loss, metrics = loss_of(logp, old, adv, torch.ones(1, 5, dtype=torch.bool), cfg)
    per_token = [-1.0 * 1.1, -1.0 * 1.28, 1.0 * 0.8, 1.0 * 2.0, 2.0 * 3.0]
    assert loss.item() == pytest.approx(sum(per_token) / 5, rel=1e-6)
    expected_grad = torch.tensor([[-1.1 / 5, 0.0, 0.0, 2.0 / 5, 0.0]])
    assert torch.allclose(grad_of(loss, logp), expected_grad, atol=1e-6)
    assert metrics["clip_ratio/high"] == pytest.approx(1 / 5)
    assert metrics["clip_ratio/low"] == pytest.approx(1 / 5)
    assert metrics["clip_ratio/dual"] == pytest.approx(1 / 5)


def test_fipo_gradient_matches_hand_derived_influence_weights():
    """Two tokens, deltas d0, d1, half-life 4, band [0.8, 1.2]:
    F_1 = d1, F_0 = d0 + gamma d1; f = clip(exp(F)); dL/dlogp_t = -A f_t r_t / 2."""
    d = torch.tensor([[0.05, -0.1]])
    old = torch.zeros(1, 2)
    logp = d.clone().requires_grad_(True)
    cfg = LossConfig(mode="fipo", half_life=4.0, influence_low=0.8, influence_high=1.2)
    loss, _ = loss_of(logp, old, torch.tensor([1.0]), torch.ones(1, 2), cfg)
    gamma = decay_gamma(4.0)
    f = [min(max(math.exp(0.05 - 0.1 * gamma), 0.8), 1.2), min(max(math.exp(-0.1), 0.8), 1.2)]
    r = [math.exp(0.05), math.exp(-0.1)]
    expected = torch.tensor([[-f[0] * r[0] / 2, -f[1] * r[1] / 2]])
    assert torch.allclose(grad_of(loss, logp), expected, atol=1e-6)


@pytest.mark.parametrize("mode", sorted(LOSS_MODES))
@pytest.mark.parametrize("agg", AGGS)
def test_micro_batches_with_token_normalizer_sum_to_the_full_batch_gradient(mode, agg):
    """Splitting one optimiser mini-batch into micro-batches and passing the mini-batch's
    normaliser gives the full-batch gradient to 1e-6 (not a mean of micro-batch means)."""
    logp, old, adv, mask = moved_policy(batch=8, length=30, seed=4)
    ref = old + 0.1
    normalizer = agg_normalizer(mask, agg)
    cfg = LossConfig(mode=mode, agg=agg, drop_dual_clipped_seqs=False, kl_coef=0.05)
    full, _ = loss_of(logp, old, adv, mask, cfg, ref_logp=ref)
    full_grad = grad_of(full, logp)
    accumulated = torch.zeros_like(logp)
    for rows in (slice(0, 3), slice(3, 4), slice(4, 8)):
        part, _ = loss_of(
            logp[rows], old[rows], adv[rows], mask[rows], cfg,
            ref_logp=ref[rows], token_normalizer=normalizer,
        )  # fmt: skip
        accumulated += grad_of(part, logp)
    assert torch.allclose(accumulated, full_grad, atol=1e-6, rtol=0)


def test_safety_rule_changes_the_loss_when_a_negative_token_has_a_high_ratio():
    """A<0 response whose future moved up (f would be 1.2) with one token at r = 5 > threshold 4:
    clamp mode caps its weight at 1.0, reset mode sets 1.0, and a threshold above 5 leaves 1.2."""
    old = torch.zeros(1, 4)
    logp = torch.tensor([[0.3, math.log(5.0), 0.3, 0.3]], requires_grad=True)
    mask = torch.ones(1, 4)
    adv = torch.tensor([-1.0])

    def run(**kw):
        cfg = LossConfig(mode="fipo", drop_dual_clipped_seqs=False, **kw)
        loss, m = loss_of(logp, old, adv, mask, cfg)
        return loss.item(), m

    guarded, m_guarded = run(safety_threshold=4.0, safety_mode="clamp")
    reset, _ = run(safety_threshold=4.0, safety_mode="reset")
    free, m_free = run(safety_threshold=6.0)
    assert guarded != pytest.approx(free)
    assert reset == pytest.approx(guarded)  # both give weight 1.0 here (band [0.8, 1.0] vs 1)
    assert m_free["influence_weight/max"] == pytest.approx(1.2)
    assert m_guarded["influence_weight/min"] == pytest.approx(1.0)


def test_safety_clamp_and_reset_differ_when_the_weight_is_below_the_band():
    """With influence band [0.5, 1.2] and FutureKL << 0, clamp lifts the guarded weight to
    0.8 while reset sets it to 1.0."""
    old = torch.zeros(1, 3)
    logp = torch.tensor([[-1.0, math.log(5.0), -2.0]], requires_grad=True)
    base = {"mode": "fipo", "influence_low": 0.5, "safety_threshold": 4.0}
    base["drop_dual_clipped_seqs"] = False
    clamp = fipo_token_credit(logp, old, torch.tensor([-1.0]), torch.ones(1, 3), LossConfig(**base))
    reset_cfg = LossConfig(**base, safety_mode="reset")
    reset = fipo_token_credit(logp, old, torch.tensor([-1.0]), torch.ones(1, 3), reset_cfg)
    assert clamp.raw_weight[0, 1].item() < 0.8
    assert clamp.weight[0, 1].item() == pytest.approx(0.8)
    assert reset.weight[0, 1].item() == pytest.approx(1.0)


def test_sequence_with_two_dual_clipped_negative_tokens_is_dropped():
    """Response 0 (A<0) has two tokens with r > c: the rule drops it (zero gradient, out of the
    token count); response 1 has one such token and stays. With the rule off both count."""
    old = torch.zeros(2, 4)
    far = math.log(20.0)
    logp = torch.tensor([[far, far, 0.1, 0.1], [far, 0.1, 0.1, 0.1]], requires_grad=True)
    adv = torch.tensor([-1.0, -1.0])
    mask = torch.ones(2, 4)
    on, m_on = loss_of(logp, old, adv, mask, LossConfig(mode="fipo"))
    g_on = grad_of(on, logp)
    off, m_off = loss_of(
        logp, old, adv, mask, LossConfig(mode="fipo", drop_dual_clipped_seqs=False)
    )
    assert m_on["seq_dropped_frac"] == pytest.approx(0.5)
    assert m_off["seq_dropped_frac"] == 0.0
    assert torch.equal(g_on[0], torch.zeros(4))
    assert g_on[1].abs().sum() > 0
    assert on.item() != pytest.approx(off.item())


def test_outlier_tokens_do_not_feed_future_kl():
    """M_t: a token with r > c adds nothing to FutureKL; with the dual clip off it does."""
    old = torch.zeros(1, 3)
    logp = torch.tensor([[0.0, math.log(50.0), 0.0]])
    adv = torch.tensor([1.0])
    with_c = fipo_token_credit(logp, old, adv, torch.ones(1, 3), LossConfig(mode="fipo"))
    no_c = fipo_token_credit(
        logp, old, adv, torch.ones(1, 3), LossConfig(mode="fipo", dual_clip_c=None)
    )
    assert with_c.future_kl[0, 0].item() == 0.0
    assert not with_c.participates[0, 1]
    assert no_c.future_kl[0, 0].item() > 1.0


def test_fipo_loss_is_dapo_loss_on_credit_weighted_advantages():
    """One implementation: FIPO's gradient equals DAPO's with A * fipo_token_credit(...).weight."""
    logp, old, adv, mask = moved_policy(seed=9)
    cfg = LossConfig(mode="fipo", drop_dual_clipped_seqs=False)
    fipo, _ = loss_of(logp, old, adv, mask, cfg)
    credit = fipo_token_credit(logp, old, adv, mask, cfg)
    weighted = adv[:, None] * credit.weight
    dapo, _ = loss_of(logp, old, weighted, mask, LossConfig(mode="dapo"))
    assert torch.allclose(grad_of(fipo, logp), grad_of(dapo, logp), atol=1e-7)


def test_advantages_per_response_broadcast_like_per_token():
    logp, old, adv, mask = moved_policy(seed=2)
    for mode in LOSS_MODES:
        a, _ = loss_of(logp, old, adv, mask, LossConfig(mode=mode))
        b, _ = loss_of(logp, old, adv[:, None].expand_as(logp), mask, LossConfig(mode=mode))
        assert a.item() == pytest.approx(b.item(), rel=1e-6)


def test_kl_penalty_adds_k3_to_the_reference_and_needs_ref_logp():
    logp, old, adv, mask = moved_policy(seed=3)
    plain, _ = loss_of(logp, old, adv, mask, LossConfig(mode="grpo"))
    same, m_same = loss_of(
        logp, old, adv, mask, LossConfig(mode="grpo", kl_coef=0.5), ref_logp=logp.detach()
    )
    moved, m_moved = loss_of(
        logp, old, adv, mask, LossConfig(mode="grpo", kl_coef=0.5), ref_logp=old
    )
    assert same.item() == pytest.approx(plain.item(), abs=1e-7)
    assert m_same["kl/ref"] == pytest.approx(0.0, abs=1e-7)
    assert m_moved["kl/ref"] > 0 and moved.item() > plain.item()
    assert "kl/ref" not in loss_of(logp, old, adv, mask, LossConfig(mode="grpo"))[1]
    with pytest.raises(ValueError, match="ref_logp"):
        loss_of(logp, old, adv, mask, LossConfig(mode="grpo", kl_coef=0.5))


def test_aggregation_modes_follow_their_definitions():
    """Two responses of 1 and 3 tokens with token losses 1 and 2,2,2 (A=-1... chosen so the
    per-token loss is constant): token-mean 7/4, seq-mean-token-mean 1.5, sum-norm 7/(2*4)."""
    old = torch.zeros(2, 4)
    logp = torch.zeros(2, 4, requires_grad=True)
    adv = torch.tensor([-1.0, -2.0])  # r = 1, so loss_t = -A
    mask = torch.tensor([[1, 0, 0, 0], [1, 1, 1, 0]])
    expect = {"token-mean": 7 / 4, "seq-mean-token-mean": 1.5, "seq-mean-token-sum-norm": 7 / 8}
    for agg, value in expect.items():
        loss, _ = loss_of(logp, old, adv, mask, LossConfig(mode="dapo", agg=agg))
        assert loss.item() == pytest.approx(value), agg


def test_all_masked_batch_gives_zero_loss_and_finite_metrics():
    logp, old, adv, _ = moved_policy()
    mask = torch.zeros_like(logp, dtype=torch.bool)
    for mode in LOSS_MODES:
        loss, metrics = loss_of(logp, old, adv, mask, LossConfig(mode=mode))
        assert loss.item() == 0.0
        assert all(math.isfinite(v) for v in metrics.values())


def test_metrics_use_design_names():
    logp, old, adv, mask = moved_policy()
    _, m = loss_of(logp, old, adv, mask, LossConfig(mode="fipo"))
    expected = {
        "clip_ratio/low", "clip_ratio/high", "clip_ratio/dual", "policy_kl", "seq_dropped_frac",
        "future_kl/mean", "future_kl/min", "future_kl/max",
        "influence_weight/mean", "influence_weight/min", "influence_weight/max",
        "influence_weight/raw_mean", "influence_weight/clip_frac_upper",
        "influence_weight/clip_frac_lower",
    }  # fmt: skip
    expected |= {"influence_weight/abs_dev_mean", "influence_weight/clip_frac"}
    # every metric is a logged DESIGN.md name (no bookkeeping entries ride along)
    assert set(m) == expected


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("mode", "ppo", "mode"),
        ("agg", "sum", "agg"),
        ("half_life", 0.0, "half_life"),
        ("half_life", -3.0, "half_life"),
        ("clip_low", -0.1, "clip_low"),
        ("clip_high", -0.1, "clip_high"),
        ("dual_clip_c", 1.0, "dual_clip_c"),
        ("influence_low", 1.3, "influence_low"),
        ("safety_mode", "off", "safety_mode"),
        ("kl_coef", -1.0, "kl_coef"),
        ("safety_threshold", float("nan"), "safety_threshold"),
    ],
)
def test_loss_config_rejects_bad_values_naming_the_field(field, value, needle):
    kwargs = {"mode": "fipo", field: value}
    with pytest.raises(ValueError, match=needle):
        LossConfig(**kwargs)


def test_loss_config_defaults_are_the_issue_values():
    cfg = LossConfig(mode="fipo")
    assert (cfg.clip_low, cfg.clip_high, cfg.dual_clip_c, cfg.agg) == (
        0.2,
        0.28,
        10.0,
        "token-mean",
    )
    assert (cfg.half_life, cfg.influence_low, cfg.influence_high) == (32.0, 1.0, 1.2)
    assert (cfg.safety_threshold, cfg.safety_mode, cfg.drop_dual_clipped_seqs) == (
        10.0,
        "clamp",
        True,
    )
    assert cfg.kl_coef == 0.0


@settings(max_examples=30, deadline=None)
@given(
    batch=st.integers(1, 5),
    length=st.integers(1, 60),
    per_token_adv=st.booleans(),
    mode=st.sampled_from(sorted(LOSS_MODES)),
    agg=st.sampled_from(AGGS),
    seed=st.integers(0, 2**16),
)
def test_policy_loss_shapes_property(batch, length, per_token_adv, mode, agg, seed):
    """Any [B, L] with [B] or [B, L] advantages: a finite scalar, finite float metrics, and a
    gradient of logp's shape that is zero on masked tokens."""
    gen = torch.Generator().manual_seed(seed)
    old = -torch.rand(batch, length, generator=gen) * 4
    logp = (old + torch.randn(batch, length, generator=gen)).requires_grad_(True)
    adv = torch.randn((batch, length) if per_token_adv else (batch,), generator=gen)
    mask = torch.rand(batch, length, generator=gen) < 0.7
    loss, metrics = loss_of(logp, old, adv, mask, LossConfig(mode=mode, agg=agg))
    assert loss.shape == () and math.isfinite(loss.item())
    assert all(math.isfinite(v) for v in metrics.values())
    g = grad_of(loss, logp)
    assert g.shape == logp.shape
    assert torch.equal(g[~mask], torch.zeros_like(g[~mask]))


def test_shape_mismatch_is_rejected():
    logp, old, adv, mask = moved_policy()
    with pytest.raises(ValueError, match="advantages"):
        loss_of(logp, old, adv[:-1], mask, LossConfig(mode="dapo"))
    with pytest.raises(ValueError, match="mask"):
        loss_of(logp, old, adv, mask[:, :-1], LossConfig(mode="dapo"))


@pytest.mark.parametrize("agg", ["token-mean", "seq-mean-token-mean"])
def test_micro_batches_rescaled_by_dropped_units_equal_the_full_batch_fipo_gradient(agg):
    """With the drop rule on, the full-batch loss divides by what is kept (official code). Micro-
    batches with the mini-batch's normaliser N, rescaled by N / (N - dropped_agg_units summed),
    give that gradient exactly: the trainer's rule for dropped responses."""
    old = torch.zeros(4, 6)
    mask = torch.ones(4, 6)
    mask[3, 4:] = 0
    # responses 0 and 2: A < 0 and two tokens far above c = 10 -> dropped; 1 and 3 kept
    moved = torch.tensor(
        [
            [0.1, 3.0, 3.0, 0.2, 0.1, 0.0],
            [0.1, -0.2, 0.3, 0.1, 0.0, 0.2],
            [3.0, 0.1, 3.0, 3.0, 0.0, 0.1],
            [0.2, 0.1, -0.1, 0.3, 0.0, 0.0],
        ]
    )
    logp = moved.clone().requires_grad_(True)
    adv = torch.tensor([-1.0, 1.0, -1.0, -0.5])
    cfg = LossConfig(mode="fipo", agg=agg, drop_dual_clipped_seqs=True, half_life=4.0)
    full = policy_loss(logp, old, adv, mask, cfg)
    assert full.metrics["seq_dropped_frac"] == pytest.approx(0.5)
    assert full.dropped.tolist() == [True, False, True, False]
    full_grad = grad_of(full.loss, logp)

    normalizer = agg_normalizer(mask, agg)
    accumulated, dropped = torch.zeros_like(logp), 0.0
    for rows in (slice(0, 1), slice(1, 3), slice(3, 4)):
        part = policy_loss(
            logp[rows], old[rows], adv[rows], mask[rows], cfg, token_normalizer=normalizer
        )
        accumulated += grad_of(part.loss, logp)
        dropped += part.dropped_agg_units
    assert dropped == (12.0 if agg == "token-mean" else 2.0)
    rescaled = accumulated * normalizer / (normalizer - dropped)
    assert torch.allclose(rescaled, full_grad, atol=1e-7, rtol=0)
    assert not torch.allclose(accumulated, full_grad, atol=1e-7, rtol=0)  # the rescale matters


def test_dr_grpo_divides_by_nonempty_responses_times_the_horizon_as_verl():
    """verl's agg_loss for seq-mean-token-sum-norm: sum of per-response token sums / number of
    non-empty responses / loss_scale_factor (the horizon). By hand: responses of 2 and 3
    tokens with loss 1 per token, one empty row, horizon 4 -> (2 + 3) / 2 / 4 = 0.625."""
    old = torch.zeros(3, 4)
    logp = torch.zeros(3, 4, requires_grad=True)
    adv = torch.tensor([-1.0, -1.0, -1.0])  # r = 1: loss_t = -A = 1
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 0], [0, 0, 0, 0]])
    cfg = LossConfig(mode="dapo", agg="seq-mean-token-sum-norm")
    assert loss_of(logp, old, adv, mask, cfg)[0].item() == pytest.approx(0.625)
    assert agg_normalizer(mask, cfg.agg, max_response_tokens=4) == 2 * 4


def test_kl_penalty_averages_over_every_response_token_when_fipo_drops_one():
    """FIPO's drop rule removes a response from the policy-gradient term only; the KL term
    (official code: agg_loss over the whole response mask) keeps it. By hand, token-mean, 2 x 2
    tokens: response 0 dropped (A < 0, both tokens above c), response 1 kept with r = 1.
    pg = mean over response 1's tokens of -A * r = -0.5. k3 = e^x - x - 1 with x = ref - logp:
    x = -2 on response 0 (k3 = e^-2 + 1), x = -1 on response 1 (k3 = e^-1); averaged over all
    4 tokens (not response 1's 2) -> kl_coef * (e^-2 + 1 + e^-1) / 2."""
    far = math.log(20.0)
    old = torch.zeros(2, 2)
    logp = torch.tensor([[far, far], [0.0, 0.0]], requires_grad=True)
    adv = torch.tensor([-1.0, 0.5])
    mask = torch.ones(2, 2)
    ref = logp.detach() - torch.tensor([[2.0], [1.0]])
    cfg = LossConfig(mode="fipo", kl_coef=0.1, influence_low=1.0, influence_high=1.0)
    result = policy_loss(logp, old, adv, mask, cfg, ref_logp=ref)
    expected_kl = 0.1 * (math.exp(-2.0) + 1.0 + math.exp(-1.0)) / 2
    assert result.dropped.tolist() == [True, False]
    assert result.pg_loss.item() == pytest.approx(-0.5)
    assert result.kl_loss.item() == pytest.approx(expected_kl, rel=1e-6)
    assert result.loss.item() == pytest.approx(-0.5 + expected_kl, rel=1e-6)


def test_dr_grpo_divisor_is_a_constant_length_not_the_padded_width():
    """seq-mean-token-sum-norm divides by B * max_response_tokens when the trainer gives it:
    the same responses padded to different widths get the same divisor (and loss)."""
    narrow, wide = torch.ones(3, 5), torch.zeros(3, 9)
    wide[:, :5] = 1
    agg = "seq-mean-token-sum-norm"
    assert agg_normalizer(narrow, agg) != agg_normalizer(wide, agg)  # width-based fallback
    fixed = [agg_normalizer(m, agg, max_response_tokens=64) for m in (narrow, wide)]
    assert fixed == [3 * 64.0, 3 * 64.0]
    with pytest.raises(ValueError, match="max_response_tokens"):
        agg_normalizer(narrow, agg, max_response_tokens=0)


def test_aggregate_averages_any_per_token_value_like_the_loss():
    """Values 1 | 2, 4, 6 on responses of 1 and 3 tokens and one empty row, horizon 4:
    token-mean 13/4, seq-mean-token-mean (1 + 4) / 2, sum-norm 13 / (2 responses x 4)."""
    values = torch.tensor([[1.0, 9, 9, 9], [2, 4, 6, 9], [9, 9, 9, 9]])
    mask = torch.tensor([[1, 0, 0, 0], [1, 1, 1, 0], [0, 0, 0, 0]])
    assert aggregate(values, mask, "token-mean").item() == pytest.approx(13 / 4)
    assert aggregate(values, mask, "seq-mean-token-mean").item() == pytest.approx(2.5)
    assert aggregate(values, mask, "seq-mean-token-sum-norm").item() == pytest.approx(13 / 8)
