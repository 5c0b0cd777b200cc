"""The policy update of one training step: old log-probs, then one optimiser step per mini-batch.

Why several mini-batches: with a single on-policy update, logp == old_logp, Delta = 0 and FIPO's
influence weights are exactly 1 (FIPO == DAPO). Splitting the rollout batch lets the policy move
between updates, as in the paper (512 prompts, mini-batch 64 -> 8 updates per step).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from fipo_bench.algos.losses import DROPPED_AGG_UNITS, LossConfig, agg_normalizer, policy_loss
from fipo_bench.engines.scoring import score_tokens
from fipo_bench.train.metrics import combine_update_metrics
from fipo_bench.train.rollout_batch import RolloutBatch, microbatch_rows, minibatch_rows


@dataclass(frozen=True)
class UpdateSettings:
    prompts_per_minibatch: int  # prompt groups per optimiser step
    samples_per_microbatch: int  # rows per forward/backward (gradient accumulation)
    max_grad_norm: float  # clip threshold; <= 0 disables clipping
    chunk_tokens: int | None = None  # passed to score_tokens (None: its default)
    # The policy that sampled is softmax(logits / T): old and new log-probs are scored at the
    # rollout temperature, as verl does, so the ratio compares the sampling policy.
    temperature: float = 1.0
    # Dr. GRPO's constant per-response length (agg seq-mean-token-sum-norm); None: batch width
    max_response_tokens: int | None = None


@dataclass(frozen=True)
class UpdateResult:
    metrics: dict[str, float]  # loss metrics combined over the applied updates, grad_norm, entropy
    n_updates: int  # optimiser steps taken
    n_skipped: int  # updates dropped because the loss or a gradient was NaN/inf


def score_rows(
    model: torch.nn.Module,
    batch: RolloutBatch,
    rows: Sequence[int],
    *,
    samples_per_microbatch: int,
    chunk_tokens: int | None = None,
    temperature: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Teacher-forced (logp, entropy) of `rows` without gradient, as [len(rows), L-1] tensors
    padded to the batch's width (zeros off the response mask)."""
    width = batch.response_mask.shape[1]
    logp = torch.zeros((len(rows), width), dtype=torch.float32)
    entropy = torch.zeros((len(rows), width), dtype=torch.float32)
    start = 0
    with torch.no_grad():
        for micro in microbatch_rows(rows, samples_per_microbatch):
            part = batch.rows(micro)
            lp, ent = _score(model, part, chunk_tokens, temperature)
            cols = lp.shape[1]
            logp[start : start + len(micro), :cols] = lp.float() * part.response_mask
            entropy[start : start + len(micro), :cols] = ent.float() * part.response_mask
            start += len(micro)
    return logp, entropy


def update_policy(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: RolloutBatch,
    groups: Sequence[int],
    old_logp: torch.Tensor,
    loss_config: LossConfig,
    settings: UpdateSettings,
    *,
    ref_logp: torch.Tensor | None = None,
) -> UpdateResult:
    """One optimiser step per mini-batch of prompt groups; returns the step's metrics."""
    model.train()
    per_update: list[dict[str, float]] = []
    n_skipped = 0
    for rows in minibatch_rows(groups, settings.prompts_per_minibatch):
        optimizer.zero_grad(set_to_none=True)
        # Every micro-batch divides by the whole mini-batch's divisor (token-mean: its token
        # count), so the accumulated gradient equals the full mini-batch gradient (DESIGN.md,
        # aggregation) and not a mean of micro-batch means.
        normalizer = agg_normalizer(
            batch.response_mask[rows],
            loss_config.agg,
            max_response_tokens=settings.max_response_tokens,
        )
        n_tokens = float(batch.response_mask[rows].sum())
        finite = n_tokens > 0 and normalizer > 0
        loss_sum = 0.0
        dropped_units = 0.0  # FIPO: divisor share of responses the drop rule removed
        entropy_sum = 0.0
        micro_metrics: list[dict[str, float]] = []
        for micro in microbatch_rows(rows, settings.samples_per_microbatch):
            part = batch.rows(micro)
            cols = part.response_mask.shape[1]
            logp, entropy = _score(model, part, settings.chunk_tokens, settings.temperature)
            loss, metrics = policy_loss(
                logp,
                old_logp[micro, :cols],
                part.advantages,
                part.response_mask,
                loss_config,
                ref_logp=None if ref_logp is None else ref_logp[micro, :cols],
                token_normalizer=normalizer,
            )
            if not torch.isfinite(loss):
                finite = False
                break
            loss.backward()
            loss_sum += float(loss.detach())
            dropped_units += metrics.pop(DROPPED_AGG_UNITS, 0.0)
            entropy_sum += float((entropy.detach().float() * part.response_mask).sum())
            micro_metrics.append(
                {**metrics, "_weight": float(part.response_mask.sum()) / max(n_tokens, 1.0)}
            )
        if finite and 0 < dropped_units < normalizer:
            # Dropped responses leave the divisor too (official FIPO code divides by the kept
            # tokens): the accumulated sum over kept tokens / N becomes / (N - dropped).
            scale = normalizer / (normalizer - dropped_units)
            for param in model.parameters():
                if param.grad is not None:
                    param.grad.mul_(scale)
            loss_sum *= scale
        grad_norm = _clip_grad_norm(model, settings.max_grad_norm) if finite else math.nan
        if not (finite and math.isfinite(grad_norm)):
            # A NaN/inf loss or gradient never reaches the weights or Adam's moments.
            optimizer.zero_grad(set_to_none=True)
            n_skipped += 1
            continue
        optimizer.step()
        per_update.append(
            {
                **_weighted(micro_metrics),
                "pg_loss": loss_sum,
                "grad_norm": grad_norm,
                "entropy": entropy_sum / n_tokens,
            }
        )
    optimizer.zero_grad(set_to_none=True)
    return UpdateResult(
        metrics=combine_update_metrics(per_update),
        n_updates=len(per_update),
        n_skipped=n_skipped,
    )


def _score(
    model: torch.nn.Module, part: RolloutBatch, chunk_tokens: int | None, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    kwargs = {} if chunk_tokens is None else {"chunk_tokens": chunk_tokens}
    return score_tokens(
        model, part.input_ids, part.attention_mask, temperature=temperature, **kwargs
    )


def _clip_grad_norm(model: torch.nn.Module, max_norm: float) -> float:
    params = [p for p in model.parameters() if p.grad is not None]
    if not params:
        return 0.0
    limit = max_norm if max_norm > 0 else math.inf
    return float(torch.nn.utils.clip_grad_norm_(params, limit, error_if_nonfinite=False))


def _weighted(micro_metrics: list[dict[str, float]]) -> dict[str, float]:
    """Micro-batch loss metrics -> one value per mini-batch (token-weighted mean; min/max kept)."""
    out: dict[str, float] = {}
    names = {n for m in micro_metrics for n in m if n != "_weight"}
    for name in names:
        pairs = [(m[name], m["_weight"]) for m in micro_metrics if name in m]
        if name.endswith("/min"):
            out[name] = min(v for v, _ in pairs)
        elif name.endswith("/max"):
            out[name] = max(v for v, _ in pairs)
        else:
            total = sum(w for _, w in pairs)
            out[name] = sum(v * w for v, w in pairs) / total if total > 0 else 0.0
    return out
