"""future_kl is exact, O(B·L), dtype- and length-robust; influence weights follow DESIGN.md."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fipo_bench.algos.future_kl import (
    decay_gamma,
    future_kl,
    future_kl_chunked_reference,
    influence_weights,
)

REL_TOL = 1e-6


def direct_sum_float64(delta: torch.Tensor, mask: torch.Tensor, half_life: float):
    """Float64 reference by the exact recurrence F_t = x_t + gamma F_{t+1}, plus the scale
    A_t = sum_k gamma^(k-t) |x_k| that relative errors are measured against."""
    x = (delta.double() * mask.double()).numpy()
    gamma = decay_gamma(half_life)
    out = np.zeros_like(x)
    scale = np.zeros_like(x)
    acc = np.zeros(x.shape[0])
    acc_abs = np.zeros(x.shape[0])
    for t in range(x.shape[1] - 1, -1, -1):
        acc = x[:, t] + gamma * acc
        acc_abs = np.abs(x[:, t]) + gamma * acc_abs
        out[:, t] = acc
        scale[:, t] = acc_abs
    return torch.from_numpy(out), torch.from_numpy(scale)


def ragged_mask(batch: int, length: int, gen: torch.Generator) -> torch.Tensor:
    """Right-padded responses of random lengths (one empty), with a few holes inside."""
    lengths = torch.randint(0, length + 1, (batch,), generator=gen)
    lengths[0] = length
    if batch > 1:
        lengths[1] = 0
    mask = torch.arange(length)[None, :] < lengths[:, None]
    holes = torch.rand(batch, length, generator=gen) < 0.05
    return mask & ~holes


def relative_error(got: torch.Tensor, ref: torch.Tensor, scale: torch.Tensor) -> float:
    # Float32 cannot hold values below ~1e-38, so that is the absolute floor of "exact".
    return float(((got.double() - ref).abs() / (scale + 1e-30)).max())


@pytest.mark.parametrize("length", [1, 2, 127, 128, 129, 5000])
@pytest.mark.parametrize("half_life", [1, 8, 32, 256])
def test_future_kl_equals_float64_direct_sum_and_listing1(length, half_life):
    """future_kl equals the float64 direct sum to 1e-6 (relative to sum gamma^(k-t)|x_k|) and
    the paper's Listing 1, on random ragged masks."""
    gen = torch.Generator().manual_seed(length * 1000 + half_life)
    delta = torch.randn(4, length, generator=gen)
    mask = ragged_mask(4, length, gen)
    got = future_kl(delta, mask, half_life)
    ref, scale = direct_sum_float64(delta, mask, half_life)
    assert got.dtype == torch.float32 and got.shape == delta.shape
    assert relative_error(got, ref, scale) <= REL_TOL
    if length > 1000 and half_life != 32:
        return  # Listing 1 is O(L^2): at L=5000 check it once, at the paper's half-life
    listing1 = future_kl_chunked_reference(delta.double(), mask, half_life, chunk=128)
    assert relative_error(listing1, ref, scale) <= 1e-12
    assert relative_error(got, listing1, scale) <= REL_TOL


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_future_kl_accumulates_at_least_in_float32_for_every_input_dtype(dtype):
    """bfloat16 in gives float32 out with the same 1e-6 accuracy on the bf16 values; float64
    in stays float64 and is exact to ~1e-12."""
    gen = torch.Generator().manual_seed(7)
    delta = torch.randn(3, 3000, generator=gen).to(dtype)
    mask = ragged_mask(3, 3000, gen)
    got = future_kl(delta, mask, 32.0)
    ref, scale = direct_sum_float64(delta.float(), mask, 32.0)
    expected_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    assert got.dtype == expected_dtype
    tol = 1e-12 if dtype == torch.float64 else REL_TOL
    assert relative_error(got, ref, scale) <= tol


def test_future_kl_long_rows_and_extreme_half_lives_neither_overflow_nor_underflow():
    """L = 33000 (not a block multiple, 3 scan levels) with half-life 1 (gamma^-L would overflow)
    and 4096 (almost no decay) stays finite and exact."""
    gen = torch.Generator().manual_seed(3)
    delta = torch.randn(2, 33_001, generator=gen)
    mask = torch.ones(2, 33_001, dtype=torch.bool)
    for half_life in (1.0, 4096.0):
        got = future_kl(delta, mask, half_life)
        ref, scale = direct_sum_float64(delta, mask, half_life)
        assert torch.isfinite(got).all()
        assert relative_error(got, ref, scale) <= REL_TOL


def test_future_kl_is_zero_on_fully_masked_rows_and_ignores_masked_garbage():
    """An all-masked row gives 0, and masked positions never leak in, even when they hold inf."""
    delta = torch.randn(3, 200)
    delta[1] = float("inf")
    mask = torch.ones(3, 200, dtype=torch.bool)
    mask[1] = False
    got = future_kl(delta, mask, 16.0)
    assert torch.equal(got[1], torch.zeros(200))
    assert torch.isfinite(got).all()


def test_future_kl_includes_the_current_token_and_halves_after_one_half_life():
    """Single impulse at position 40 with half-life 8: F_40 = x, F_32 = x/2, after it 0."""
    delta = torch.zeros(1, 64)
    delta[0, 40] = 3.0
    got = future_kl(delta, torch.ones(1, 64), 8.0)
    assert got[0, 40].item() == pytest.approx(3.0, rel=1e-7)
    assert got[0, 32].item() == pytest.approx(1.5, rel=1e-7)
    assert torch.equal(got[0, 41:], torch.zeros(23))


def test_future_kl_accepts_bool_float_int_masks_and_strided_inputs():
    """The mask's dtype does not change the result, and a non-contiguous slice of a wider
    tensor gives the same contiguous result as a copy of it."""
    gen = torch.Generator().manual_seed(11)
    wide = torch.randn(5, 700, generator=gen)
    delta = wide[:, 50:350]
    mask = ragged_mask(5, 300, gen)
    expected = future_kl(delta.contiguous(), mask, 32.0)
    assert expected.is_contiguous()
    for variant in (mask, mask.float(), mask.long()):
        assert torch.equal(future_kl(delta, variant, 32.0), expected)


def test_future_kl_carries_no_gradient():
    delta = torch.randn(2, 50, requires_grad=True)
    got = future_kl(delta, torch.ones(2, 50), 32.0)
    assert not got.requires_grad


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), float("nan")])
def test_future_kl_rejects_half_life_outside_positive_finite(bad):
    with pytest.raises(ValueError, match="half_life"):
        future_kl(torch.zeros(1, 4), torch.ones(1, 4), bad)


@settings(max_examples=40, deadline=None)
@given(
    batch=st.integers(0, 5),
    length=st.integers(0, 300),
    half_life=st.floats(0.5, 500.0),
    seed=st.integers(0, 2**16),
)
def test_future_kl_shape_dtype_and_accuracy_hold_for_any_shape(batch, length, half_life, seed):
    """Property: any [B, L] (including empty) gives a [B, L] result within 1e-6 of the direct
    sum."""
    gen = torch.Generator().manual_seed(seed)
    delta = torch.randn(batch, length, generator=gen) * 5
    mask = torch.rand(batch, length, generator=gen) < 0.8
    got = future_kl(delta, mask, half_life)
    assert got.shape == (batch, length)
    if batch and length:
        ref, scale = direct_sum_float64(delta, mask, half_life)
        assert relative_error(got, ref, scale) <= REL_TOL


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_future_kl_on_cuda_matches_cpu():
    gen = torch.Generator().manual_seed(5)
    delta = torch.randn(4, 4097, generator=gen)
    mask = ragged_mask(4, 4097, gen)
    ref, scale = direct_sum_float64(delta, mask, 32.0)
    got = future_kl(delta.cuda(), mask.cuda(), 32.0).cpu()
    assert relative_error(got, ref, scale) <= REL_TOL


def test_influence_weights_are_exp_future_kl_clipped_into_the_band():
    fkl = torch.tensor([-1.0, 0.0, 0.1, 5.0])
    adv = torch.ones(4)
    ratio = torch.ones(4)
    raw, clipped = influence_weights(fkl, adv, ratio, 0.8, 1.2, 10.0, "clamp")
    assert torch.allclose(raw, torch.exp(fkl))
    assert torch.allclose(clipped, torch.tensor([0.8, 1.0, float(np.exp(0.1)), 1.2]))


def test_safety_rule_clamps_or_resets_only_negative_advantage_high_ratio_tokens():
    """Token 0 (A<0, r>threshold) is guarded: clamp mode -> into [0.8, 1.0], reset mode -> 1.
    Tokens 1 (A>0, r high) and 2 (A<0, r low) keep their clipped weight."""
    fkl = torch.tensor([0.15, 0.15, 0.15, -0.5])
    adv = torch.tensor([-1.0, 1.0, -1.0, -1.0])
    ratio = torch.tensor([12.0, 12.0, 1.0, 12.0])
    _, clamp = influence_weights(fkl, adv, ratio, 0.5, 1.2, 10.0, "clamp")
    _, reset = influence_weights(fkl, adv, ratio, 0.5, 1.2, 10.0, "reset")
    w = float(np.exp(0.15))
    assert clamp.tolist() == pytest.approx([1.0, w, w, 0.8])
    assert reset.tolist() == pytest.approx([1.0, w, w, 1.0])
    _, unguarded = influence_weights(fkl, adv, ratio, 0.5, 1.2, 100.0, "clamp")
    assert unguarded[0].item() == pytest.approx(w)


def test_influence_weights_reject_unknown_safety_mode_and_inverted_band():
    x = torch.zeros(2)
    with pytest.raises(ValueError, match="safety_mode"):
        influence_weights(x, x, x, 1.0, 1.2, 10.0, "ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="low"):
        influence_weights(x, x, x, 1.3, 1.2, 10.0, "clamp")
