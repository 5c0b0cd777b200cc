"""Future-KL and the FIPO influence weight (paper Eq. for FutureKL_t and f_t; DESIGN.md).

FutureKL_t = sum_{k>=t} gamma^(k-t) * mask_k * delta_k,  gamma = 2^(-1/half_life).

`future_kl` computes it exactly in O(B·L) time and memory with a blocked, hierarchical
discounted reverse scan:

1. Cut the row into blocks of `_BLOCK` tokens. Inside a block the scan is one small matmul
   with the upper-triangular decay matrix D[t, k] = gamma^(k-t) (k >= t). Only non-negative
   powers of gamma appear anywhere, so nothing overflows; powers that underflow become 0,
   which is what they are worth.
2. The value at each block start ("head") satisfies head_j + gamma^K * F(start_{j+1}) =
   F(start_j): the same discounted reverse scan over the heads with gamma^K. It is solved by
   the same function, recursively (log_K(L) levels: 3 for L = 32k).
3. Each token then adds gamma^(start_{j+1} - t) * F(start_{j+1}) from the blocks after it.

The scan accumulates in float64, so the result is within float32 rounding of the exact sum
(error <= ~4 ulp of sum_k gamma^(k-t) |mask_k delta_k|, see tests/test_future_kl.py), for
any L and any half-life. It works tile by tile so that the float64 temporaries stay small.
`future_kl_chunked_reference` is the paper's Listing 1 (O(B·L^2)), kept for tests/benchmarks.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

SafetyMode = Literal["clamp", "reset"]

# Block length of the in-block matmul scan: 32 keeps the matmul at ~64 flops per token,
# which measured fastest on CPU (benchmarks/future_kl.py); any value >= 2 is exact.
_BLOCK = 32
# Elements per float64 tile: the tile's temporaries (~3 x 8 bytes per element) stay in cache
# and far below the 4·B·L·4-byte budget for the whole call.
_TILE_ELEMS = 1 << 16
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
    out_dtype = torch.float64 if delta.dtype == torch.float64 else torch.float32
    with torch.no_grad():
        return _reverse_discounted_scan(delta.detach(), mask.detach(), 1.0 / half_life, out_dtype)


def _reverse_discounted_scan(
    x: Tensor, mask: Tensor | None, neg_log2_gamma: float, out_dtype: torch.dtype
) -> Tensor:
    """y_t = sum_{k>=t} 2^(-(k-t)·neg_log2_gamma) · mask_k · x_k along dim 1, in float64."""
    rows, length = x.shape
    out = torch.empty(rows, length, dtype=out_dtype, device=x.device)
    if length == 0 or rows == 0:
        return out
    block = min(_BLOCK, length)
    n_full = length // block
    tail = length - n_full * block
    n_heads = n_full + (1 if tail else 0)
    heads = torch.empty(rows, n_heads, dtype=torch.float64, device=x.device)

    # Pass 1: in-block scans, written straight into `out`; each block's first value is its head.
    decay = _decay_matrix(block, neg_log2_gamma, x.device)
    full_cols = n_full * block
    rows_per_tile = max(1, _TILE_ELEMS // max(full_cols, 1))
    cols_per_tile = full_cols if rows_per_tile > 1 else max(block, _TILE_ELEMS // block * block)
    for r0 in range(0, rows, rows_per_tile):
        r1 = min(rows, r0 + rows_per_tile)
        for c0 in range(0, full_cols, cols_per_tile):
            c1 = min(full_cols, c0 + cols_per_tile)
            tile = _masked_f64(x[r0:r1, c0:c1], None if mask is None else mask[r0:r1, c0:c1])
            local = tile.view(r1 - r0, (c1 - c0) // block, block) @ decay
            heads[r0:r1, c0 // block : c1 // block] = local[:, :, 0]
            out[r0:r1, c0:c1] = local.view(r1 - r0, c1 - c0).to(out_dtype)
    if tail:
        tile = _masked_f64(x[:, full_cols:], None if mask is None else mask[:, full_cols:])
        local = tile @ _decay_matrix(tail, neg_log2_gamma, x.device)
        heads[:, n_full] = local[:, 0]
        out[:, full_cols:] = local.to(out_dtype)

    if n_heads == 1:
        return out
    # Pass 2: F at every block start, by the same scan over heads with gamma^block.
    starts = _reverse_discounted_scan(heads, None, neg_log2_gamma * block, torch.float64)
    # Pass 3: block j gets gamma^(block - pos) * F(start_{j+1}); the last block gets nothing.
    carry = starts[:, 1:].to(out_dtype)
    steps_to_next = torch.arange(block, 0, -1, dtype=torch.float64, device=x.device)
    carry_decay = torch.exp2(-neg_log2_gamma * steps_to_next).to(out_dtype)
    n_carried = n_heads - 1  # every block but the last one; all of them are full blocks
    out[:, : n_carried * block].view(rows, n_carried, block).addcmul_(
        carry[:, :, None], carry_decay[None, None, :]
    )
    return out


def _masked_f64(x: Tensor, mask: Tensor | None) -> Tensor:
    """A fresh float64 copy of x * mask (x itself is never written).

    The product is taken in x's dtype and converted once: mixed-dtype elementwise ops (f64 by
    f32) take a slow path on CPU that costs ~10x a same-dtype op. A 0/1 mask makes it exact.
    """
    if mask is None:
        return x.to(torch.float64, copy=True)
    # where() for bool masks: a bool-mask multiply is slower still.
    masked = torch.where(mask, x, 0.0) if mask.dtype == torch.bool else x * mask.to(x.dtype)
    return masked.to(torch.float64)


def _decay_matrix(size: int, neg_log2_gamma: float, device: torch.device) -> Tensor:
    """M[k, t] = gamma^(k-t) for k >= t else 0, so that (x @ M)[t] = sum_{k>=t} gamma^(k-t) x_k."""
    idx = torch.arange(size, dtype=torch.float64, device=device)
    dist = idx[:, None] - idx[None, :]
    return torch.where(dist >= 0, torch.exp2(-neg_log2_gamma * dist.clamp(min=0)), 0.0)


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
