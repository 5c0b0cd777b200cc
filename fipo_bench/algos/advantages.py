"""Group-relative outcome advantages (GRPO; DAPO and FIPO use the same estimator).

A_i = (R_i - mean_group(R)) / (std_group(R) + eps), or R_i - mean_group(R) without the std
normalisation (Dr. GRPO). The std is the unbiased one (torch.std, as verl). A group of one has
no spread to compare against, and a group whose rewards are all equal carries no signal: both
get advantage 0 (never NaN).
"""

from __future__ import annotations

import torch
from torch import Tensor


def group_advantages(
    rewards: Tensor, group_ids: Tensor, *, norm_std: bool = True, eps: float = 1e-6
) -> Tensor:
    """Per-response advantages [N] (float32) for rewards [N] and group ids [N] (any ints).

    Groups may have different sizes and need not be contiguous.
    """
    if rewards.dim() != 1 or group_ids.shape != rewards.shape:
        raise ValueError(
            f"rewards and group_ids must both be [N]; got {tuple(rewards.shape)} and "
            f"{tuple(group_ids.shape)}"
        )
    if not eps > 0:
        raise ValueError(f"eps must be > 0; got {eps}")
    if rewards.numel() == 0:
        return torch.zeros(0, dtype=torch.float32, device=rewards.device)
    values = rewards.detach().to(torch.float64)
    _, group = torch.unique(group_ids, return_inverse=True)
    n_groups = int(group.max().item()) + 1
    count = torch.zeros(n_groups, dtype=torch.float64, device=values.device)
    count.index_add_(0, group, torch.ones_like(values))
    total = torch.zeros_like(count).index_add_(0, group, values)
    centred = values - (total / count)[group]
    if not norm_std:
        return centred.float()
    # Two-pass variance (sum of squared deviations) so equal rewards give exactly 0.
    sq_dev = torch.zeros_like(count).index_add_(0, group, centred * centred)
    std = torch.sqrt(sq_dev / (count - 1).clamp(min=1))
    return (centred / (std[group] + eps)).float()


def group_advantages_2d(rewards: Tensor, *, norm_std: bool = True, eps: float = 1e-6) -> Tensor:
    """Same as `group_advantages` for rewards laid out [num_prompts, samples_per_prompt]."""
    if rewards.dim() != 2:
        raise ValueError(f"rewards must be [G, n]; got {tuple(rewards.shape)}")
    groups = torch.arange(rewards.shape[0], device=rewards.device).repeat_interleave(
        rewards.shape[1]
    )
    flat = group_advantages(rewards.reshape(-1), groups, norm_std=norm_std, eps=eps)
    return flat.view_as(rewards)
