"""Sampling a rollout batch: generate, verify, reward, group-relative advantages, and DAPO's
dynamic sampling (drop groups without signal, generate more until the batch is full, bounded).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from fipo_bench.algos.advantages import group_advantages
from fipo_bench.algos.rewards import groups_with_signal, outcome_rewards, overlong_penalty
from fipo_bench.engines.base import Engine
from fipo_bench.engines.record import SamplingSettings
from fipo_bench.tasks.problem import Problem
from fipo_bench.tasks.prompts import render_prompt
from fipo_bench.train.data_order import DataOrderState, draw
from fipo_bench.train.metrics import rollout_stats
from fipo_bench.train.rollout_batch import Rollout
from fipo_bench.verify import check_many


@dataclass(frozen=True)
class RolloutSettings:
    prompts_per_step: int  # P: prompt groups trained on per step
    samples_per_prompt: int  # G
    temperature: float
    top_p: float
    max_response_tokens: int
    seed: int
    prompt_template: str = "raw"
    dynamic_sampling: bool = False  # DAPO/FIPO: keep only groups whose accuracy varies
    max_gen_batches: int = 1  # bound on generation rounds per step with dynamic sampling
    overlong_buffer: int = 0  # DAPO overlong shaping (0: off)
    overlong_penalty: float = 1.0
    reward_correct: float = 1.0
    reward_wrong: float = -1.0
    norm_adv_by_std: bool = True
    adv_eps: float = 1e-6
    verify_timeout_s: float = 5.0
    verify_workers: int | None = None


@dataclass(frozen=True)
class StepRollouts:
    rollouts: list[Rollout]  # the training batch: at most P groups, rows grouped by prompt
    order_state: DataOrderState  # after every prompt this step drew
    metrics: dict[str, float]  # reward/acc/length/reflection over all generated samples + sampling


def generation_seed(base_seed: int, step: int, gen_batch: int) -> int:
    """A fixed seed per (step, generation round): a resumed run samples what the original did."""
    return (base_seed * 1_000_003 + step * 1_009 + gen_batch) % (2**31 - 1)


def collect_rollouts(
    engine: Engine,
    problems: Sequence[Problem],
    order_state: DataOrderState,
    settings: RolloutSettings,
    step: int,
) -> StepRollouts:
    """Sample the step's training batch (GRPO: one round; DAPO/FIPO: dynamic sampling)."""
    kept: list[Rollout] = []
    generated: list[Rollout] = []
    n_kept_groups = 0
    gen_batches = 0
    rounds = settings.max_gen_batches if settings.dynamic_sampling else 1
    while gen_batches < rounds and n_kept_groups < settings.prompts_per_step:
        indices, order_state = draw(
            order_state, len(problems), settings.prompts_per_step, seed=settings.seed
        )
        batch = _sample_round(
            engine,
            [problems[i] for i in indices],
            settings,
            seed=generation_seed(settings.seed, step, gen_batches),
            first_group=gen_batches * settings.prompts_per_step,
        )
        gen_batches += 1
        generated.extend(batch)
        if settings.dynamic_sampling:
            batch = _groups_with_signal(batch)
        for group in _group_order(batch):
            if n_kept_groups == settings.prompts_per_step:
                break  # verl truncates the surplus of the last round the same way
            kept.extend(r for r in batch if r.group == group)
            n_kept_groups += 1
    stats = rollout_stats(
        [r.reward for r in generated],
        [r.correct for r in generated],
        [r.record.text for r in generated],
        [r.record.n_tokens for r in generated],
    )
    stats["num_gen_batches"] = float(gen_batches)
    stats["kept_groups"] = float(n_kept_groups)
    # 1.0 when max_gen_batches ran out before P groups with signal were found: this step
    # trains on fewer prompts than configured (possibly none).
    stats["dynamic_sampling/bound_hit"] = float(n_kept_groups < settings.prompts_per_step)
    return StepRollouts(rollouts=kept, order_state=order_state, metrics=stats)


def _sample_round(
    engine: Engine,
    problems: Sequence[Problem],
    settings: RolloutSettings,
    *,
    seed: int,
    first_group: int,
) -> list[Rollout]:
    prompts = [render_prompt(p, settings.prompt_template) for p in problems]
    sampling = SamplingSettings(
        n=settings.samples_per_prompt,
        temperature=settings.temperature,
        top_p=settings.top_p,
        max_tokens=settings.max_response_tokens,
        seed=seed,
    )
    records = engine.generate(prompts, sampling)
    results = check_many(
        [(problems[r.prompt_index].answer, r.text) for r in records],
        timeout_s=settings.verify_timeout_s,
        workers=settings.verify_workers,
    )
    correct = torch.tensor([res.correct for res in results], dtype=torch.bool)
    lengths = torch.tensor([r.n_tokens for r in records], dtype=torch.long)
    groups = torch.tensor([first_group + r.prompt_index for r in records], dtype=torch.long)
    rewards = outcome_rewards(
        correct, reward_correct=settings.reward_correct, reward_wrong=settings.reward_wrong
    ) + overlong_penalty(
        lengths,
        max_response_tokens=settings.max_response_tokens,
        overlong_buffer=settings.overlong_buffer,
        penalty_factor=settings.overlong_penalty,
    )
    advantages = group_advantages(
        rewards, groups, norm_std=settings.norm_adv_by_std, eps=settings.adv_eps
    )
    return [
        Rollout(
            problem=problems[record.prompt_index],
            group=int(groups[i]),
            record=record,
            correct=bool(res.correct),
            extracted=res.extracted,
            verify_status=res.status,
            reward=float(rewards[i]),
            advantage=float(advantages[i]),
        )
        for i, (record, res) in enumerate(zip(records, results, strict=True))
    ]


def _groups_with_signal(batch: list[Rollout]) -> list[Rollout]:
    """DAPO filters on accuracy (verl's filter_groups.metric=acc), not the shaped reward."""
    if not batch:
        return batch
    keep = groups_with_signal(
        torch.tensor([float(r.correct) for r in batch]),
        torch.tensor([r.group for r in batch]),
    )
    return [r for r, k in zip(batch, keep.tolist(), strict=True) if k]


def _group_order(batch: Sequence[Rollout]) -> list[int]:
    seen: dict[int, None] = {}
    for r in batch:
        seen.setdefault(r.group, None)
    return list(seen)
