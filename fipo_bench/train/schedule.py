"""Optimiser and learning-rate schedule: AdamW, linear warm-up, then constant (DAPO/FIPO recipe).

The schedule depends only on the number of updates done, never on the total step count, so a
run stopped at step 2 and resumed to step 3 follows the same learning rates as a 3-step run.
"""

from __future__ import annotations

import torch


def warmup_factor(step_index: int, warmup_steps: int) -> float:
    """LR multiplier for the 0-based training step `step_index`.

    verl's constant-with-warm-up schedule starts at 0 (the first update does nothing); we count
    the step being taken, so step 0 of a 10-step warm-up already trains at lr/10.
    """
    if warmup_steps <= 0:
        return 1.0
    return min(1.0, (step_index + 1) / warmup_steps)


def make_optimizer(
    model: torch.nn.Module, *, lr: float, weight_decay: float, betas: tuple[float, float]
) -> torch.optim.AdamW:
    # foreach=False: the single-tensor path is deterministic and cheap at the tiny model's size.
    return torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad],
        lr=lr,
        weight_decay=weight_decay,
        betas=betas,
        foreach=False,
    )


def make_scheduler(
    optimizer: torch.optim.Optimizer, *, warmup_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Stepped once per training step (after all of that step's mini-batch updates)."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step_index: warmup_factor(step_index, warmup_steps)
    )
