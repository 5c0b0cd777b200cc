"""The policy update of one training step: one optimiser step per mini-batch of prompt groups.

Why several mini-batches: with a single on-policy update, logp == old_logp, Delta = 0 and FIPO's
influence weights are exactly 1 (FIPO == DAPO). Splitting the rollout batch lets the policy move
between updates, as in the paper (512 prompts, mini-batch 64 -> 8 updates per step).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from fipo_bench.algos.losses import LossConfig, LossResult, agg_normalizer, policy_loss
from fipo_bench.config.tree import TrainConfig
from fipo_bench.engines.scoring import score_tokens
from fipo_bench.train.metrics import combine_update_metrics
from fipo_bench.train.rollout_batch import RolloutBatch, microbatch_rows, minibatch_rows


@dataclass(frozen=True)
class UpdateResult:
    metrics: dict[str, float]  # loss metrics combined over the applied updates, grad_norm
    n_updates: int  # optimiser steps taken
    n_skipped: int  # updates dropped because the loss or a gradient was NaN/inf


def score_rows(
    model: torch.nn.Module, batch: RolloutBatch, rows: Sequence[int], cfg: TrainConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """Teacher-forced (logp, entropy) of `rows` without gradient, as [len(rows), L-1] tensors
    padded to the batch's width (zeros off the response mask), in micro-batches of
    `update.micro_batch_seqs` rows."""
    width = batch.response_mask.shape[1]
    logp = torch.zeros((len(rows), width), dtype=torch.float32)
    entropy = torch.zeros((len(rows), width), dtype=torch.float32)
    start = 0
    with torch.no_grad():
        for micro in microbatch_rows(rows, cfg.update.micro_batch_seqs):
            part = batch.rows(micro)
            lp, ent = _score(model, part, cfg)
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
    cfg: TrainConfig,
    *,
    ref_logp: torch.Tensor | None = None,
) -> UpdateResult:
    """One optimiser step per mini-batch of `update.mini_batch_prompts` prompt groups, the
    gradient clipped at `optimiser.grad_clip`."""
    loss = cfg.loss
    model.train()
    per_update: list[dict[str, float]] = []
    n_skipped = 0
    dropped_seqs = responses = 0
    for rows in minibatch_rows(groups, cfg.update.mini_batch_prompts):
        optimizer.zero_grad(set_to_none=True)
        mask = batch.response_mask[rows]
        # Every micro-batch divides by the whole mini-batch's divisor (token-mean: its token
        # count), so the accumulated gradient equals the full mini-batch gradient (DESIGN.md,
        # aggregation) and not a mean of micro-batch means.
        normalizer = agg_normalizer(
            mask, loss.agg, max_response_tokens=cfg.rollout.max_response_tokens
        )
        step = _MiniBatch(model, separate_kl=loss.kl_coef > 0 and _can_drop(loss))
        for micro in microbatch_rows(rows, cfg.update.micro_batch_seqs):
            part = batch.rows(micro)
            cols = part.response_mask.shape[1]
            logp, _ = _score(model, part, cfg)
            result = policy_loss(
                logp,
                old_logp[micro, :cols],
                part.advantages,
                part.response_mask,
                loss,
                ref_logp=None if ref_logp is None else ref_logp[micro, :cols],
                token_normalizer=normalizer,
            )
            if not step.add(result, weight=float(part.response_mask.sum())):
                break
        max_norm = cfg.optimiser.grad_clip if cfg.optimiser.grad_clip > 0 else math.inf
        grad_norm = step.finish(normalizer, max_norm) if step.finite else math.nan
        if not (step.finite and math.isfinite(grad_norm) and normalizer > 0):
            # A NaN/inf loss or gradient never reaches the weights or Adam's moments.
            optimizer.zero_grad(set_to_none=True)
            n_skipped += 1
            continue
        optimizer.step()
        dropped_seqs += step.dropped_seqs
        responses += int(mask.bool().any(dim=1).sum())
        per_update.append({**step.metrics(), "pg_loss": step.pg_loss_sum, "grad_norm": grad_norm})
    optimizer.zero_grad(set_to_none=True)
    metrics = combine_update_metrics(per_update)
    if per_update:
        # the fraction of the step's responses the drop rule removed, whatever the micro-batching
        metrics["seq_dropped_frac"] = dropped_seqs / max(responses, 1)
    return UpdateResult(metrics=metrics, n_updates=len(per_update), n_skipped=n_skipped)


class _MiniBatch:
    """Gradient accumulation over one mini-batch's micro-batches.

    FIPO's drop rule removes whole responses from the policy-gradient divisor (the official code
    divides by the kept tokens), which is only known once every micro-batch has been seen: the
    accumulated policy-gradient part is rescaled by N / (N - dropped units) at the end. The KL
    term keeps every response token, so when both are present its gradient is kept apart.
    """

    def __init__(self, model: torch.nn.Module, *, separate_kl: bool) -> None:
        self.model = model
        self.separate_kl = separate_kl
        self.finite = True
        self.pg_loss_sum = 0.0
        self.dropped_units = 0.0
        self.dropped_seqs = 0
        self._pg_grads: dict[torch.nn.Parameter, torch.Tensor] = {}
        self._micro: list[tuple[dict[str, float], float]] = []

    def add(self, result: LossResult, *, weight: float) -> bool:
        """Backpropagate one micro-batch; False (and stop) when its loss is not finite."""
        if not torch.isfinite(result.loss):
            self.finite = False
            return False
        if self.separate_kl and result.kl_loss is not None:
            result.pg_loss.backward(retain_graph=True)
            self._stash_pg_grads()
            result.kl_loss.backward()
        else:
            result.loss.backward()
        self.pg_loss_sum += float(result.pg_loss.detach())
        self.dropped_units += result.dropped_agg_units
        self.dropped_seqs += int(result.dropped.sum())
        self._micro.append((result.metrics, weight))
        return True

    def finish(self, normalizer: float, max_norm: float) -> float:
        """Apply the drop rescale, clip, and return the gradient norm."""
        scale = 1.0
        if 0 < self.dropped_units < normalizer:
            scale = normalizer / (normalizer - self.dropped_units)
        params = [p for p in self.model.parameters() if p.requires_grad]
        if self.separate_kl:
            for param in params:
                pg = self._pg_grads.get(param)
                if pg is not None:
                    param.grad = pg * scale if param.grad is None else param.grad + pg * scale
        elif scale != 1.0:
            for param in params:
                if param.grad is not None:
                    param.grad.mul_(scale)
        self.pg_loss_sum *= scale
        with_grad = [p for p in params if p.grad is not None]
        if not with_grad:
            return 0.0
        return float(torch.nn.utils.clip_grad_norm_(with_grad, max_norm, error_if_nonfinite=False))

    def metrics(self) -> dict[str, float]:
        """Micro-batch loss metrics -> one value per mini-batch (token-weighted mean; min/max)."""
        out: dict[str, float] = {}
        names = {n for m, _ in self._micro for n in m}
        for name in names:
            pairs = [(m[name], w) for m, w in self._micro if name in m]
            if name.endswith("/min"):
                out[name] = min(v for v, _ in pairs)
            elif name.endswith("/max"):
                out[name] = max(v for v, _ in pairs)
            else:
                total = sum(w for _, w in pairs)
                out[name] = sum(v * w for v, w in pairs) / total if total > 0 else 0.0
        return out

    def _stash_pg_grads(self) -> None:
        for param in self.model.parameters():
            if param.grad is not None:
                held = self._pg_grads.get(param)
                self._pg_grads[param] = param.grad if held is None else held + param.grad
                param.grad = None


def _can_drop(loss: LossConfig) -> bool:
    return loss.mode == "fipo" and loss.drop_dual_clipped_seqs


def _score(
    model: torch.nn.Module, part: RolloutBatch, cfg: TrainConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    # The policy that sampled is softmax(logits / T): old and new log-probs are scored at the
    # rollout temperature, as verl does, so the ratio compares the sampling policy.
    chunk = cfg.update.logprob_chunk_tokens
    return score_tokens(
        model,
        part.input_ids,
        part.attention_mask,
        temperature=cfg.rollout.temperature,
        **({} if chunk is None else {"chunk_tokens": chunk}),
    )
