"""Outcome rewards and DAPO's reward-side tricks: overlong shaping and dynamic sampling."""

from __future__ import annotations

import torch
from torch import Tensor

# Two rewards closer than this are the same (rewards come from floats: never compare with ==).
SAME_REWARD_TOL = 1e-6


def outcome_rewards(
    correct: Tensor, *, reward_correct: float = 1.0, reward_wrong: float = -1.0
) -> Tensor:
    """Verifier outcome [N] (bool) -> reward [N] float32 (DAPO: +1 correct, -1 wrong)."""
    ok = correct.bool()
    return torch.where(ok, reward_correct, reward_wrong).to(torch.float32)


def overlong_penalty(
    response_len_tokens: Tensor,
    *,
    max_response_tokens: int,
    overlong_buffer: int,
    penalty_factor: float = 1.0,
) -> Tensor:
    """DAPO soft overlong punishment [N] (<= 0), added to the outcome reward.

    Zero up to max_response_tokens - overlong_buffer, then falling linearly to -penalty_factor
    at max_response_tokens (and beyond). overlong_buffer = 0 turns it off.
    """
    if max_response_tokens < 1:
        raise ValueError(f"max_response_tokens must be >= 1; got {max_response_tokens}")
    if not 0 <= overlong_buffer <= max_response_tokens:
        raise ValueError(
            f"overlong_buffer must be in [0, max_response_tokens={max_response_tokens}]; "
            f"got {overlong_buffer}"
        )
    if penalty_factor < 0:
        raise ValueError(f"penalty_factor must be >= 0; got {penalty_factor}")
    lengths = response_len_tokens.to(torch.float32)
    if overlong_buffer == 0:
        return torch.zeros_like(lengths)
    exceed = lengths - (max_response_tokens - overlong_buffer)
    penalty = -exceed.clamp(min=0) / overlong_buffer * penalty_factor
    return penalty.clamp(min=-penalty_factor)


def groups_with_signal(
    values: Tensor, group_ids: Tensor, *, tol: float = SAME_REWARD_TOL
) -> Tensor:
    """DAPO dynamic sampling: bool [N], True for responses whose group's values vary.

    `values` is the filter metric per response (accuracy or reward). A group whose values are
    all within `tol` of each other (all right, all wrong, or a group of one) has zero advantage
    everywhere and is dropped.
    """
    if values.dim() != 1 or group_ids.shape != values.shape:
        raise ValueError(
            f"values and group_ids must both be [N]; got {tuple(values.shape)} and "
            f"{tuple(group_ids.shape)}"
        )
    if values.numel() == 0:
        return torch.zeros(0, dtype=torch.bool, device=values.device)
    v = values.detach().to(torch.float64)
    _, group = torch.unique(group_ids, return_inverse=True)
    n_groups = int(group.max().item()) + 1
    high = torch.full((n_groups,), -torch.inf, dtype=torch.float64, device=v.device)
    low = torch.full((n_groups,), torch.inf, dtype=torch.float64, device=v.device)
    high = high.scatter_reduce(0, group, v, reduce="amax")
    low = low.scatter_reduce(0, group, v, reduce="amin")
    return ((high - low) > tol)[group]
