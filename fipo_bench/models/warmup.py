"""Supervised warm-up of the tiny model on synthetic gold traces in a mix of reasoning styles.

Loss on the response only (the prompt is given, not predicted), a fixed number of steps (so a
seed fixes the weights), AdamW with linear warm-up then cosine decay. Each example's style (and
slip) is drawn afresh from the seeded stream, so the same problem appears in every style and the
style the model picks is not tied to the problem.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from fipo_bench.errors import ConfigError
from fipo_bench.models.traces import StyleMix, Trace, draw_trace
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
    # A step's examples are sorted by length and cut into micro-batches of at most this many
    # padded positions: a 10-token direct answer then never pads to a 130-token checked trace
    # (about 2x less compute per step for the same gradient).
    micro_batch_tokens: int = 1024
    styles: StyleMix = field(default_factory=StyleMix)
    levels: tuple[int, ...] = synthetic.DEFAULT_LEVELS

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ConfigError(f"warm-up steps={self.steps} is invalid; allowed: >= 0")
        if self.micro_batch_tokens < 1:
            raise ConfigError(
                f"warm-up micro_batch_tokens={self.micro_batch_tokens} is invalid; allowed: >= 1"
            )
        if self.batch_size < 1:
            raise ConfigError(f"warm-up batch_size={self.batch_size} is invalid; allowed: >= 1")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"warm-up lr={self.lr} is invalid; allowed: a finite value > 0")
        synthetic.resolve_levels(self.levels)


def raw_prompt(problem: Problem) -> str:
    """The `raw` template (the problem text and a newline), as eval and training render it."""
    return render_prompt(problem, "raw")


Example = tuple[list[int], list[int]]  # token ids, labels (IGNORE_INDEX: not trained on)


def encode_example(tokenizer, problem: Problem, trace: Trace) -> Example:
    """Prompt + response + EOS as token ids, and labels: the response and EOS, except slipped
    results (the model learns to catch slips, not to make them) and the prompt."""

    def encode(text: str) -> list[int]:
        return tokenizer.encode(text, add_special_tokens=False)

    ids = encode(raw_prompt(problem))
    labels = [IGNORE_INDEX] * len(ids)
    cut = 0
    for start, end in (*trace.untrained, (len(trace.text), len(trace.text))):
        trained, skipped = encode(trace.text[cut:start]), encode(trace.text[start:end])
        ids += trained + skipped
        labels += trained + [IGNORE_INDEX] * len(skipped)
        cut = end
    return [*ids, tokenizer.eos_token_id], [*labels, tokenizer.eos_token_id]


def collate(examples: list[Example], pad_id: int):
    """Right-padded input_ids, attention_mask and labels (IGNORE_INDEX on padding too)."""
    import torch

    width = max(len(ids) for ids, _ in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, (ids, example_labels) in enumerate(examples):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        attention_mask[row, : len(ids)] = 1
        labels[row, : len(ids)] = torch.tensor(example_labels)
    return input_ids, attention_mask, labels


def length_sorted_microbatches(examples: list[Example], max_tokens: int) -> list[list[Example]]:
    """Examples sorted by length, cut greedily so that rows x longest row <= max_tokens (a
    micro-batch holds at least one example)."""
    ordered = sorted(examples, key=lambda example: len(example[0]))
    batches: list[list[Example]] = []
    for example in ordered:
        if batches and len(example[0]) * (len(batches[-1]) + 1) <= max_tokens:
            batches[-1].append(example)
        else:
            batches.append([example])
    return batches


def _response_loss_sum(model, examples: list[Example], pad_id: int):
    """Summed next-token cross-entropy over the trained tokens of `examples`."""
    import torch

    input_ids, attention_mask, labels = collate(examples, pad_id)
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
    return torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]).float(),
        labels[:, 1:].reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="sum",
    )


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
    style_rng = random.Random(f"warmup-styles:{seed}")
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
        problems = [next(stream) for _ in range(cfg.batch_size)]
        batch = [
            encode_example(tokenizer, p, draw_trace(p, cfg.styles, style_rng)) for p in problems
        ]
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, cfg)
        optimizer.zero_grad(set_to_none=True)
        # Mean over every response token of the step, whatever the micro-batch cut.
        n_tokens = sum(label != IGNORE_INDEX for _, labels in batch for label in labels)
        step_loss = 0.0
        for micro in length_sorted_microbatches(batch, cfg.micro_batch_tokens):
            loss = _response_loss_sum(model, micro, tokenizer.pad_token_id) / n_tokens
            loss.backward()
            step_loss += loss.item()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        losses.append(step_loss)
        if on_step is not None:
            on_step(step, losses[-1])
    model.eval()
    return losses
