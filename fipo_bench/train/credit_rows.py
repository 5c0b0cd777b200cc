"""Per-token credit of logged rollouts as the store's Arrow batches (samples + tokens)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import torch

from fipo_bench.store.ids import rollout_owner, sample_id
from fipo_bench.train.rollout_batch import Rollout


@dataclass(frozen=True)
class LoggedCredit:
    """Per-token values of a few rollouts, [K, L-1] in the rollout batch's column layout."""

    logp: torch.Tensor  # the rollout policy's log-prob of each sampled token (rollout temperature)
    delta: torch.Tensor  # updated policy logp - rollout policy logp (clamped as in the loss)
    future_kl: torch.Tensor
    influence_weight: torch.Tensor
    entropy: torch.Tensor  # of the updated policy
    response_mask: torch.Tensor


def pick_logged_rows(groups: Sequence[int], count: int) -> list[int]:
    """`count` rows taken round-robin over prompt groups (first sample of each group, then the
    second, ...), so the logged rollouts cover several prompts, not one group's siblings."""
    by_group: dict[int, list[int]] = {}
    for row, group in enumerate(groups):
        by_group.setdefault(group, []).append(row)
    picked: list[int] = []
    depth = 0
    while len(picked) < count and any(depth < len(rows) for rows in by_group.values()):
        for rows in by_group.values():
            if depth < len(rows) and len(picked) < count:
                picked.append(rows[depth])
        depth += 1
    return picked


def credit_tables(
    run_id: str, step: int, rollouts: Sequence[Rollout], credit: LoggedCredit
) -> tuple[pa.Table, pa.Table]:
    """(samples, tokens) for Store.write_samples; token pos counts response tokens from 0."""
    owner = rollout_owner(run_id, step)
    sample_rows: dict[str, list] = {
        k: []
        for k in (
            "sample_id",
            "run_id",
            "step",
            "dataset",
            "problem_id",
            "sample_idx",
            "text",
            "n_tokens",
            "finish_reason",
            "extracted",
            "correct",
            "verify_status",
            "reward",
            "advantage",
        )
    }
    token_cols: dict[str, list] = {
        k: []
        for k in (
            "sample_id",
            "pos",
            "token_id",
            "token",
            "logp",
            "delta",
            "future_kl",
            "influence_weight",
            "entropy",
        )
    }
    seen: set[int] = set()
    for i, rollout in enumerate(rollouts):
        record = rollout.record
        sid = sample_id(owner, rollout.problem.problem_id, record.sample_idx)
        if sid in seen:  # the same problem drawn twice in one step: keep its first sample
            continue
        seen.add(sid)
        values = [sample_rows[k] for k in sample_rows]
        for column, value in zip(
            values,
            (
                sid,
                run_id,
                step,
                rollout.problem.dataset,
                rollout.problem.problem_id,
                record.sample_idx,
                record.text,
                record.n_tokens,
                record.finish_reason,
                rollout.extracted,
                rollout.correct,
                rollout.verify_status,
                rollout.reward,
                rollout.advantage,
            ),
            strict=True,
        ):
            column.append(value)
        cols = credit.response_mask[i].nonzero().flatten()
        n = min(len(cols), record.n_tokens)
        cols = cols[:n]
        token_cols["sample_id"].extend([sid] * n)
        token_cols["pos"].extend(range(n))
        token_cols["token_id"].extend(record.token_ids[:n])
        token_cols["token"].extend(record.token_texts[:n])
        for name in ("logp", "delta", "future_kl", "influence_weight", "entropy"):
            token_cols[name].extend(getattr(credit, name)[i, cols].float().tolist())
    samples = pa.table(
        {
            **{k: v for k, v in sample_rows.items() if k not in ("step", "sample_idx", "n_tokens")},
            "step": pa.array(sample_rows["step"], pa.int32()),
            "sample_idx": pa.array(sample_rows["sample_idx"], pa.int32()),
            "n_tokens": pa.array(sample_rows["n_tokens"], pa.int32()),
            "sample_id": pa.array(sample_rows["sample_id"], pa.int64()),
        }
    )
    tokens = pa.table(
        {
            "sample_id": pa.array(token_cols["sample_id"], pa.int64()),
            "pos": pa.array(token_cols["pos"], pa.int32()),
            "token_id": pa.array(token_cols["token_id"], pa.int32()),
            "token": pa.array(token_cols["token"], pa.string()),
            **{
                name: pa.array(token_cols[name], pa.float32())
                for name in ("logp", "delta", "future_kl", "influence_weight", "entropy")
            },
        }
    )
    return samples, tokens
