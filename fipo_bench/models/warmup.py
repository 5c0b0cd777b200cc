"""Supervised warm-up of the tiny model on synthetic gold traces.

Loss on the response only (the prompt is given, not predicted), a fixed number of steps (so a
seed fixes the weights), AdamW with linear warm-up then cosine decay.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from fipo_bench.errors import ConfigError
from fipo_bench.tasks import synthetic
from fipo_bench.tasks.problem import Problem
from fipo_bench.tasks.prompts import render_prompt

IGNORE_INDEX = -100  # label value torch's cross-entropy skips


@dataclass(frozen=True)
class WarmupConfig:
    steps: int = 400
    batch_size: int = 32  # sequences per step
    lr: float = 3e-3
    warmup_steps: int = 30
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    wait_fraction: float = synthetic.DEFAULT_WAIT_FRACTION
    levels: tuple[int, ...] = synthetic.DEFAULT_LEVELS

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ConfigError(f"warm-up steps={self.steps} is invalid; allowed: >= 0")
        if self.batch_size < 1:
            raise ConfigError(f"warm-up batch_size={self.batch_size} is invalid; allowed: >= 1")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"warm-up lr={self.lr} is invalid; allowed: a finite value > 0")
        if not 0.0 <= self.wait_fraction <= 1.0:
            raise ConfigError(
                f"warm-up wait_fraction={self.wait_fraction} is invalid; allowed: 0.0..1.0"
            )
        synthetic.resolve_levels(self.levels)


def raw_prompt(problem: Problem) -> str:
    """The `raw` template (the problem text and a newline), as eval and training render it."""
    return render_prompt(problem, "raw")


def encode_example(tokenizer, problem: Problem, wait_fraction: float) -> tuple[list[int], int]:
    """Token ids of prompt + gold trace + EOS, and the prompt length (positions not trained)."""
    prompt_ids = tokenizer.encode(raw_prompt(problem), add_special_tokens=False)
    response = synthetic.gold_trace(problem, wait_fraction=wait_fraction)
    response_ids = tokenizer.encode(response, add_special_tokens=False)
    return prompt_ids + response_ids + [tokenizer.eos_token_id], len(prompt_ids)


def collate(examples: list[tuple[list[int], int]], pad_id: int):
    """Right-padded input_ids, attention_mask and labels (IGNORE_INDEX on prompt and padding)."""
    import torch

    width = max(len(ids) for ids, _ in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, (ids, prompt_len) in enumerate(examples):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        attention_mask[row, : len(ids)] = 1
        labels[row, prompt_len : len(ids)] = torch.tensor(ids[prompt_len:])
    return input_ids, attention_mask, labels


def lr_at(step: int, cfg: WarmupConfig) -> float:
    """Linear warm-up to cfg.lr, then cosine decay to 10% of it at the last step."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def warmup(
    model,
    tokenizer,
    cfg: WarmupConfig,
    *,
    seed: int,
    on_step: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Train `model` in place for cfg.steps steps; returns the loss of each step.

    The data stream and the optimiser depend only on `seed`, so the same seed on the same
    machine gives identical weights.
    """
    import torch

    torch.manual_seed(seed)
    stream = synthetic.iter_problems("train", seed=seed, levels=cfg.levels)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": cfg.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=cfg.lr,
        betas=(0.9, 0.98),
    )
    model.train()
    losses = []
    for step in range(cfg.steps):
        batch = [
            encode_example(tokenizer, next(stream), cfg.wait_fraction)
            for _ in range(cfg.batch_size)
        ]
        input_ids, attention_mask, labels = collate(batch, tokenizer.pad_token_id)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, cfg)
        loss = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        losses.append(loss.item())
        if on_step is not None:
            on_step(step, losses[-1])
    model.eval()
    return losses
