"""Per-step metrics: rollout statistics and the mean of per-update loss metrics.

Names follow DESIGN.md ("Metrics"), which follows verl/TRL.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import torch

from fipo_bench.algos import lengths
from fipo_bench.reflection import has_reflection


def length_stats(lengths_tokens: Sequence[int]) -> dict[str, float]:
    """response_length/{min,q25,mean,median,q75,max} over the rollout batch (algos.lengths)."""
    return {f"response_length/{k}": v for k, v in lengths.length_stats(lengths_tokens).items()}


LENGTH_WEIGHTED_ADVANTAGE = "advantage/length_weighted_mean"


def length_weighted_advantage_mean(advantages: torch.Tensor, response_mask: torch.Tensor) -> float:
    """sum_i sum_t A_i,t / sum_i L_i over the responses an update used (paper section 5.2,
    footnote 2; Figures 4(c) and 6): the token-level group-relative advantage summed over every
    response token of the step, divided by the total response length.

    advantages: [N] (one advantage per response, broadcast to its tokens as GRPO/DAPO/FIPO do)
    or [N, T] per token; response_mask: [N, T], 1 on response tokens. Pass the rows kept after
    dynamic sampling. A long response with A > 0 pulls the value up more than a short one, so
    the number rises when longer responses earn the positive advantages. NaN for no tokens."""
    mask = response_mask.to(torch.float64)
    adv = advantages.to(torch.float64)
    if adv.dim() == 1:
        adv = adv[:, None]
    if mask.dim() != 2 or adv.shape[0] != mask.shape[0] or adv.shape[1] not in (1, mask.shape[1]):
        raise ValueError(
            f"advantages {tuple(advantages.shape)} do not match response_mask"
            f" {tuple(response_mask.shape)}; expected [N] or [N, T] with the mask [N, T]"
        )
    total_tokens = float(mask.sum())
    if total_tokens == 0:
        return math.nan
    return float((adv * mask).sum()) / total_tokens


def rollout_stats(
    rewards: Sequence[float], correct: Sequence[bool], texts: Sequence[str], lengths: Sequence[int]
) -> dict[str, float]:
    n = len(rewards)
    if n == 0:
        return {}
    stats = {
        "reward/mean": sum(rewards) / n,
        "acc/mean": sum(1.0 for c in correct if c) / n,
        "reflection_rate": sum(1.0 for t in texts if has_reflection(t)) / n,
    }
    stats.update(length_stats(lengths))
    return stats


def combine_update_metrics(per_update: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """One value per name across a step's mini-batch updates: min of */min, max of */max,
    mean of everything else (verl averages its per-update lists the same way)."""
    values: dict[str, list[float]] = {}
    for metrics in per_update:
        for name, value in metrics.items():
            values.setdefault(name, []).append(float(value))
    combined = {}
    for name, vals in values.items():
        if name.endswith("/min"):
            combined[name] = min(vals)
        elif name.endswith("/max"):
            combined[name] = max(vals)
        else:
            combined[name] = sum(vals) / len(vals)
    return combined
