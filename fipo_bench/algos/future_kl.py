"""Future-KL and the FIPO influence weight (paper Eq. for FutureKL_t and f_t; DESIGN.md).

FutureKL_t = sum_{k>=t} gamma^(k-t) * mask_k * delta_k,  gamma = 2^(-1/half_life).

`future_kl` computes it exactly in O(B·L) time and memory with a blocked, hierarchical
discounted reverse scan:

1. Cut the row into blocks of K tokens. Inside a block the scan is one small matmul with the
   upper-triangular decay matrix D[k, t] = gamma^(k-t) (k >= t). Only non-negative powers of
   gamma appear anywhere, so nothing overflows; powers that underflow become 0, which is what
   they are worth. No gamma^-L rescaling, so any L and any half-life work.
2. The value at each block start ("head") satisfies F(start_j) = head_j + gamma^K F(start_{j+1}):
   the same scan over the heads with gamma^K, solved by the same function (log_K(L) levels).
3. Each token then adds gamma^(start_{j+1} - t) * F(start_{j+1}) from the blocks after it.

Precision: the token level runs in float32 with K = 8, so each in-block sum has at most 8
terms (rounding error <= 7.5 ulp of sum_k gamma^(k-t)|x_k|); the levels above run in float64
and add ~3 ulp when their carry is folded back in. Worst case ~11 ulp = 6.6e-7 relative to
sum_k gamma^(k-t)|mask_k delta_k| (tests/test_future_kl.py checks <= 1e-6 against a float64
direct sum). Float64 input is computed in float64 throughout (K = 32).
`future_kl_chunked_reference` is the paper's Listing 1 (O(B·L^2)), kept for tests/benchmarks.
"""

from __future__ import annotations

import functools
import math
from typing import Literal

import torch
from torch import Tensor

SafetyMode = Literal["clamp", "reset"]

# Block length of the token-level scan in float32: 8 terms per in-block sum keeps the float32
# rounding error within the 1e-6 budget (see the module docstring). Levels above, and float64
# input, use float64 with 32-token blocks (fewer levels; the error there is ~1e-15).
_BLOCK_F32 = 8
_BLOCK_F64 = 32
# The safety rule's band for negative-advantage, high-ratio tokens (official code: [0.8, 1.0]).
SAFETY_CLAMP_LOW = 0.8
SAFETY_CLAMP_HIGH = 1.0


def decay_gamma(half_life: float) -> float:
    """gamma = 2^(-1/half_life): a token `half_life` steps ahead counts half."""
    _check_half_life(half_life)
    return 2.0 ** (-1.0 / half_life)


def future_kl(delta: Tensor, mask: Tensor, half_life: float) -> Tensor:
    """FutureKL_t = sum_{k>=t} gamma^(k-t) mask_k delta_k for every row of `delta` [B, L].

    `mask` (bool, int or float, [B, L]) multiplies delta; callers pass the response mask times
    the outlier mask M_t (losses.py). No gradient flows through the result. Returns float64 for
    float64 input and float32 otherwise (bfloat16/float16 inputs are upcast).
    """
    _check_half_life(half_life)
    if delta.dim() != 2 or mask.shape != delta.shape:
        raise ValueError(
            f"future_kl needs delta and mask of the same shape [B, L]; got "
            f"{tuple(delta.shape)} and {tuple(mask.shape)}"
        )
    dtype = torch.float64 if delta.dtype == torch.float64 else torch.float32
    with torch.no_grad():
        rows, length = delta.shape
        block = _BLOCK_F64 if dtype == torch.float64 else _BLOCK_F32
        padded = -(-length // block) * block
        # x = mask * delta, zero-padded to whole blocks (padding adds nothing to any sum)
        x = torch.empty(rows, padded, dtype=dtype, device=delta.device)
        x[:, length:].zero_()
        values = delta.detach().to(dtype)
        if mask.dtype == torch.bool:
            zero = torch.zeros((), dtype=dtype, device=delta.device)
            torch.where(mask.detach(), values, zero, out=x[:, :length])
        else:
            torch.mul(values, mask.detach().to(dtype), out=x[:, :length])
        if rows == 0 or length == 0:
            return x[:, :length].contiguous()
        out = _reverse_discounted_scan(x, 1.0 / half_life, block)
        return out[:, :length].contiguous() if padded != length else out


def _reverse_discounted_scan(x: Tensor, neg_log2_gamma: float, block: int) -> Tensor:
    """y_t = sum_{k>=t} 2^(-(k-t)·neg_log2_gamma) x_k along dim 1; x's width is a multiple of
    `block`. Returns a new tensor of x's dtype."""
    rows, width = x.shape
    n_blocks = width // block
    decay = _decay_matrix(block, neg_log2_gamma, x.dtype, x.device)
    # Step 1: in-block scans, one (rows * n_blocks, block) @ (block, block) matmul.
    out = torch.matmul(x.view(rows, n_blocks, block), decay).view(rows, width)
    if n_blocks == 1:
        return out
    # Step 2: F at every block start, from the block heads, by the same scan with gamma^block
    # (float64, zero-padded to whole blocks).
    up = _BLOCK_F64
    heads = torch.zeros(rows, -(-n_blocks // up) * up, dtype=torch.float64, device=x.device)
    heads[:, :n_blocks] = out[:, ::block]
    starts = _reverse_discounted_scan(heads, neg_log2_gamma * block, up)
    # Step 3: block j gets gamma^(block - pos) * F(start_{j+1}); the last block gets nothing.
    carry = starts[:, 1:n_blocks].to(out.dtype)
    carry_decay = _carry_decay(block, neg_log2_gamma, out.dtype, x.device)
    out[:, : (n_blocks - 1) * block].view(rows, n_blocks - 1, block).addcmul_(
        carry[:, :, None], carry_decay[None, None, :]
    )
    return out


# Small per-(size, gamma, device) tables; cached because building them costs more Python
# overhead than using them (one call builds ~3 levels' worth).
@functools.lru_cache(maxsize=64)
def _decay_matrix(
    size: int, neg_log2_gamma: float, dtype: torch.dtype, device: torch.device
) -> Tensor:
    """M[k, t] = gamma^(k-t) for k >= t else 0, so that (x @ M)[t] = sum_{k>=t} gamma^(k-t) x_k."""
    idx = torch.arange(size, dtype=torch.float64, device=device)
    dist = idx[:, None] - idx[None, :]
    powers = torch.exp2(-neg_log2_gamma * dist.clamp(min=0))
    return torch.where(dist >= 0, powers, 0.0).to(dtype)


@functools.lru_cache(maxsize=64)
def _carry_decay(
    block: int, neg_log2_gamma: float, dtype: torch.dtype, device: torch.device
) -> Tensor:
    """gamma^(block - pos) for pos in 0..block-1: from each token to the next block's start."""
    steps_to_next = torch.arange(block, 0, -1, dtype=torch.float64, device=device)
    return torch.exp2(-neg_log2_gamma * steps_to_next).to(dtype)


def future_kl_chunked_reference(
    delta: Tensor, mask: Tensor, half_life: float, chunk: int = 128
) -> Tensor:
    """The paper's Listing 1 (official code): O(B·L^2) time, O(B·L + L·chunk) memory.

    Kept as a test and benchmark reference only. Computes in delta's dtype (float32 at least).
    """
    _check_half_life(half_life)
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1; got {chunk}")
    dtype = torch.float64 if delta.dtype == torch.float64 else torch.float32
    kl = delta.detach().to(dtype) * mask.detach().to(dtype)
    batch, length = kl.shape
    gamma = torch.tensor(decay_gamma(half_life), dtype=dtype, device=kl.device)
    result = torch.zeros(batch, length, dtype=dtype, device=kl.device)
    pos_i = torch.arange(length, device=kl.device).unsqueeze(1)
    for j_start in range(0, length, chunk):
        j_end = min(length, j_start + chunk)
        distance = torch.arange(j_start, j_end, device=kl.device).unsqueeze(0) - pos_i
        decay_block = torch.pow(gamma, distance.clamp(min=0)) * (distance >= 0).to(dtype)
        result += kl[:, j_start:j_end] @ decay_block.t()
    return result


def influence_weights(
    future_kl: Tensor,
    advantages: Tensor,
    ratio: Tensor,
    low: float,
    high: float,
    safety_threshold: float,
    safety_mode: SafetyMode = "clamp",
) -> tuple[Tensor, Tensor]:
    """(raw, clipped) FIPO influence weights; raw = exp(FutureKL), clipped = clip(raw, low, high).

    Safety rule (official code): where A_t < 0 and r_t > safety_threshold the weight is clamped
    into [0.8, 1.0] ("clamp"); the paper's text resets it to 1 ("reset"). Both are detached.
    """
    if safety_mode not in ("clamp", "reset"):
        raise ValueError(f"safety_mode must be 'clamp' or 'reset'; got {safety_mode!r}")
    if low > high:
        raise ValueError(f"influence low ({low}) must be <= high ({high})")
    fkl = future_kl.detach()
    raw = torch.exp(fkl)
    clipped = raw.clamp(min=low, max=high)
    unsafe = (advantages.detach() < 0) & (ratio.detach() > safety_threshold)
    if safety_mode == "clamp":
        guarded = clipped.clamp(min=SAFETY_CLAMP_LOW, max=SAFETY_CLAMP_HIGH)
    else:
        guarded = torch.ones_like(clipped)
    return raw, torch.where(unsafe, guarded, clipped)


def _check_half_life(half_life: float) -> None:
    if not (isinstance(half_life, int | float) and math.isfinite(half_life) and half_life > 0):
        raise ValueError(f"half_life must be a finite number > 0 (tokens); got {half_life!r}")
