"""Per-step metrics: rollout statistics and the mean of per-update loss metrics.

Names follow DESIGN.md ("Metrics"), which follows verl/TRL.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import torch

# A response "reflects" when it revisits its own work; the synthetic traces use "Wait,".
REFLECTION_PATTERN = re.compile(
    r"\b(wait|let me re-?check|let me double[- ]check|re-?check|on second thought)\b",
    re.IGNORECASE,
)


def has_reflection(text: str) -> bool:
    return REFLECTION_PATTERN.search(text) is not None


def length_stats(lengths_tokens: Sequence[int]) -> dict[str, float]:
    """response_length/{min,q25,mean,median,q75,max} over the rollout batch."""
    if not lengths_tokens:
        return {}
    x = torch.as_tensor(list(lengths_tokens), dtype=torch.float64)
    q = torch.quantile(x, torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64))
    return {
        "response_length/min": float(x.min()),
        "response_length/q25": float(q[0]),
        "response_length/mean": float(x.mean()),
        "response_length/median": float(q[1]),
        "response_length/q75": float(q[2]),
        "response_length/max": float(x.max()),
    }


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
