"""The rollout batch: sampled responses as padded tensors, split into optimiser mini-batches.

Layout: each row is prompt tokens followed by response tokens, right-padded. Right padding keeps
every sequence at positions 0..len-1, exactly as it was generated, so teacher-forced scores of
the sampled tokens match the engine's. Per-token tensors are [N, L-1]: column j holds the
log-prob of token j+1 given tokens 0..j, and `response_mask` is 1 where token j+1 is a response
token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from fipo_bench.engines.record import GenerationRecord
from fipo_bench.tasks.problem import Problem


@dataclass(frozen=True)
class Rollout:
    """One sampled response with its reward (GRPO-Zero's `Episode`)."""

    problem: Problem
    group: int  # index of the prompt group within the rollout batch
    record: GenerationRecord
    correct: bool
    extracted: str | None
    verify_status: str
    reward: float  # +1/-1 plus overlong shaping where the preset asks for it
    advantage: float  # group-relative


@dataclass(frozen=True)
class RolloutBatch:
    input_ids: torch.Tensor  # [N, L] long, right-padded
    attention_mask: torch.Tensor  # [N, L] long
    response_mask: torch.Tensor  # [N, L-1] float, 1 on response-token log-prob columns
    # [N, L-1] float, the engine's log-probs (0 off the mask); None when the engine did not
    # score (the live hf engine: the trainer's own scoring is the rollout policy's log-prob)
    rollout_logp: torch.Tensor | None
    advantages: torch.Tensor  # [N] float
    seq_lens: torch.Tensor  # [N] long, prompt + response tokens

    @property
    def size(self) -> int:
        return int(self.input_ids.shape[0])

    def rows(self, index: Sequence[int]) -> RolloutBatch:
        """A sub-batch trimmed to its own longest row (shorter micro-batches cost less)."""
        idx = torch.as_tensor(list(index), dtype=torch.long)
        length = max(int(self.seq_lens[idx].max()), 2)
        return RolloutBatch(
            input_ids=self.input_ids[idx, :length],
            attention_mask=self.attention_mask[idx, :length],
            response_mask=self.response_mask[idx, : length - 1],
            rollout_logp=None
            if self.rollout_logp is None
            else self.rollout_logp[idx, : length - 1],
            advantages=self.advantages[idx],
            seq_lens=self.seq_lens[idx],
        )


def build_batch(rollouts: Sequence[Rollout], pad_token_id: int) -> RolloutBatch:
    """Pack rollouts into padded tensors (row i is rollouts[i])."""
    if not rollouts:
        raise ValueError("cannot build a rollout batch from zero rollouts")
    seqs = [list(r.record.prompt_token_ids) + list(r.record.token_ids) for r in rollouts]
    length = max(max(len(s) for s in seqs), 2)
    n = len(seqs)
    input_ids = torch.full((n, length), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((n, length), dtype=torch.long)
    response_mask = torch.zeros((n, length - 1), dtype=torch.float32)
    scored = all(r.record.logprobs is not None for r in rollouts)
    rollout_logp = torch.zeros((n, length - 1), dtype=torch.float32) if scored else None
    for i, (seq, r) in enumerate(zip(seqs, rollouts, strict=True)):
        input_ids[i, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
        attention_mask[i, : len(seq)] = 1
        start = len(r.record.prompt_token_ids) - 1  # column predicting the first response token
        n_resp = len(r.record.token_ids)
        response_mask[i, start : start + n_resp] = 1.0
        if rollout_logp is not None:
            rollout_logp[i, start : start + n_resp] = torch.as_tensor(
                r.record.logprobs, dtype=torch.float32
            )
    return RolloutBatch(
        input_ids=input_ids,
        attention_mask=attention_mask,
        response_mask=response_mask,
        rollout_logp=rollout_logp,
        advantages=torch.as_tensor([r.advantage for r in rollouts], dtype=torch.float32),
        seq_lens=torch.as_tensor([len(s) for s in seqs], dtype=torch.long),
    )


def minibatch_rows(groups: Sequence[int], prompts_per_minibatch: int) -> list[list[int]]:
    """Row indices of each optimiser mini-batch; a group's samples never straddle two updates.

    `groups[i]` is row i's prompt group; groups are taken in order of first appearance, so the
    split is deterministic (needed for resume equivalence).
    """
    if prompts_per_minibatch < 1:
        raise ValueError(f"prompts_per_minibatch must be >= 1, got {prompts_per_minibatch}")
    order: list[int] = []
    rows_of: dict[int, list[int]] = {}
    for row, group in enumerate(groups):
        if group not in rows_of:
            order.append(group)
            rows_of[group] = []
        rows_of[group].append(row)
    return [
        [row for group in order[i : i + prompts_per_minibatch] for row in rows_of[group]]
        for i in range(0, len(order), prompts_per_minibatch)
    ]


def microbatch_rows(rows: Sequence[int], samples_per_microbatch: int) -> list[list[int]]:
    """Split one mini-batch's rows into gradient-accumulation micro-batches."""
    if samples_per_microbatch < 1:
        raise ValueError(f"samples_per_microbatch must be >= 1, got {samples_per_microbatch}")
    rows = list(rows)
    return [
        rows[i : i + samples_per_microbatch] for i in range(0, len(rows), samples_per_microbatch)
    ]
