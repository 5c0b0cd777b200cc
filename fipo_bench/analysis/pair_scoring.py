"""Per-token credit of a batch of trajectories under a policy and a reference model.

The evaluated model plays the current policy and the reference the old one, exactly as the
FIPO loss sees them: both are scored teacher-forced by `engines.scoring.score_tokens` (same
code, same numerics, so delta is the policy shift and not an engine difference), then delta,
Future-KL and the influence weight come from `algos.fipo_token_credit`, the function the loss
itself calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from fipo_bench.algos import LossConfig, fipo_token_credit
from fipo_bench.engines.scoring import score_tokens


@dataclass(frozen=True)
class Trajectory:
    """One stored response to score: its prompt's token ids, its own token ids, and the
    sample's group advantage (only its sign matters: the safety rule)."""

    sample_id: int
    prompt_ids: tuple[int, ...]
    token_ids: tuple[int, ...]
    advantage: float


@dataclass(frozen=True)
class TrajectoryCredit:
    """Per response token (float32 arrays of the response's length)."""

    sample_id: int
    logp: np.ndarray  # the policy's teacher-forced log-prob
    ref_logp: np.ndarray
    delta: np.ndarray  # clamp(logp - ref_logp, -20, 20)
    future_kl: np.ndarray
    influence_weight: np.ndarray  # clipped, after the safety rule (what multiplies A_t)
    entropy: np.ndarray  # of the policy's next-token distribution


def _padded(batch: Sequence[Trajectory], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded prompt+response ids and their attention mask, [B, L]."""
    length = max(len(t.prompt_ids) + len(t.token_ids) for t in batch)
    ids = torch.full((len(batch), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), length), dtype=torch.long)
    for row, t in enumerate(batch):
        seq = torch.tensor(t.prompt_ids + t.token_ids, dtype=torch.long)
        ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = 1
    return ids.to(device), mask.to(device)


def _response_slices(batch: Sequence[Trajectory], values: torch.Tensor) -> torch.Tensor:
    """[B, L-1] scores -> [B, R] scores of the response tokens (R = longest response), zero
    beyond each response. Position t of the scores predicts token t+1 of the sequence."""
    width = max(len(t.token_ids) for t in batch)
    out = torch.zeros((len(batch), width), dtype=values.dtype, device=values.device)
    for row, t in enumerate(batch):
        start = len(t.prompt_ids) - 1
        out[row, : len(t.token_ids)] = values[row, start : start + len(t.token_ids)]
    return out


def score_pair(
    policy: torch.nn.Module,
    ref: torch.nn.Module,
    batch: Sequence[Trajectory],
    loss_config: LossConfig,
    *,
    pad_id: int,
    chunk_tokens: int = 1024,
) -> list[TrajectoryCredit]:
    """Credit of every trajectory of `batch` (each needs >= 1 prompt and >= 1 response token)."""
    if not batch:
        return []
    for t in batch:
        if not t.prompt_ids or not t.token_ids:
            raise ValueError(f"sample {t.sample_id}: needs a prompt and a response token")
    device = next(policy.parameters()).device
    ids, attention = _padded(batch, pad_id, device)
    with torch.no_grad():
        logp, entropy = score_tokens(policy, ids, attention, chunk_tokens=chunk_tokens)
        ref_logp, _ = score_tokens(
            ref, ids.to(next(ref.parameters()).device), attention, chunk_tokens=chunk_tokens,
            compute_entropy=False,
        )  # fmt: skip
        logp, entropy = _response_slices(batch, logp), _response_slices(batch, entropy)
        ref_logp = _response_slices(batch, ref_logp.to(device))
        lengths = torch.tensor([len(t.token_ids) for t in batch], device=device)
        mask = torch.arange(logp.shape[1], device=device)[None, :] < lengths[:, None]
        advantages = torch.tensor([t.advantage for t in batch], dtype=torch.float32, device=device)
        credit = fipo_token_credit(logp, ref_logp, advantages, mask, loss_config)
    out = []
    for row, t in enumerate(batch):
        n = len(t.token_ids)

        def take(x: torch.Tensor, row: int = row, n: int = n) -> np.ndarray:
            return x[row, :n].detach().float().cpu().numpy()

        out.append(
            TrajectoryCredit(
                sample_id=t.sample_id,
                logp=take(logp),
                ref_logp=take(ref_logp),
                delta=take(credit.delta),
                future_kl=take(credit.future_kl),
                influence_weight=take(credit.weight),
                entropy=take(entropy),
            )
        )
    return out
