"""Sampling a rollout batch: generate, verify, reward, group-relative advantages, and DAPO's
dynamic sampling (drop groups without signal, generate more until the batch is full, bounded).

Dynamic sampling as verl's DAPO trainer does it: each generation round samples
`gen_batch_multiplier x prompts_per_step` prompts, keeps the groups whose `filter_metric` varies,
and stops once `prompts_per_step` groups are kept (the surplus of the last round is dropped).
When `max_gen_batches` rounds are spent first, `on_exhausted` decides: "error" stops the run
(verl raises), "train_on_kept" trains on the groups found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from fipo_bench.algos.advantages import group_advantages
from fipo_bench.algos.rewards import groups_with_signal, outcome_rewards, overlong_penalty
from fipo_bench.config.tree import RewardsConfig, RolloutConfig
from fipo_bench.engines.base import Engine
from fipo_bench.engines.record import SamplingSettings
from fipo_bench.errors import DataError
from fipo_bench.tasks.problem import Problem
from fipo_bench.tasks.prompts import render_prompt
from fipo_bench.train.data_order import DataOrderState, draw
from fipo_bench.train.metrics import rollout_stats
from fipo_bench.train.reward_fn import RewardFn, call_reward_fn
from fipo_bench.train.rollout_batch import Rollout
from fipo_bench.verify import check_many

VERIFY_TIMEOUT_S = 5.0  # per answer; a hanging math-verify parse costs at most this


class DynamicSamplingExhausted(DataError):
    """`rollout.max_gen_batches` rounds found fewer than prompts_per_step groups with signal."""


@dataclass(frozen=True)
class StepRollouts:
    rollouts: list[Rollout]  # the training batch: at most P groups, rows grouped by prompt
    order_state: DataOrderState  # after every prompt this step drew
    metrics: dict[str, float]  # reward/acc/length/reflection over all generated samples + sampling


@dataclass(frozen=True)
class PluginReward:
    """A loaded `rewards.reward_fn` and its spec (for error messages)."""

    fn: RewardFn
    spec: str


def generation_seed(base_seed: int, step: int, gen_batch: int) -> int:
    """A fixed seed per (step, generation round): a resumed run samples what the original did."""
    return (base_seed * 1_000_003 + step * 1_009 + gen_batch) % (2**31 - 1)


def collect_rollouts(
    engine: Engine,
    problems: Sequence[Problem],
    order_state: DataOrderState,
    rollout: RolloutConfig,
    rewards: RewardsConfig,
    *,
    step: int,
    seed: int,
    plugin: PluginReward | None = None,
) -> StepRollouts:
    """Sample the step's training batch (one round, or DAPO's dynamic sampling)."""
    target = rollout.prompts_per_step
    kept: list[Rollout] = []
    generated: list[Rollout] = []
    n_kept_groups = 0
    gen_batches = 0
    rounds = rollout.max_gen_batches if rollout.dynamic_sampling else 1
    per_round = target * (rollout.gen_batch_multiplier if rollout.dynamic_sampling else 1)
    while gen_batches < rounds and n_kept_groups < target:
        indices, order_state = draw(order_state, len(problems), per_round, seed=seed)
        batch = _sample_round(
            engine,
            [problems[i] for i in indices],
            rollout,
            rewards,
            plugin,
            seed=generation_seed(seed, step, gen_batches),
            first_group=gen_batches * per_round,
        )
        gen_batches += 1
        generated.extend(batch)
        if rollout.dynamic_sampling:
            batch = _groups_with_signal(batch, rollout.filter_metric)
        for group in _group_order(batch):
            if n_kept_groups == target:
                break  # verl truncates the surplus of the last round the same way
            kept.extend(r for r in batch if r.group == group)
            n_kept_groups += 1
    if n_kept_groups < target and rollout.on_exhausted == "error":
        raise DynamicSamplingExhausted(
            f"step {step}: dynamic sampling kept {n_kept_groups} of rollout.prompts_per_step="
            f"{target} groups with varying {rollout.filter_metric} in rollout.max_gen_batches="
            f"{rounds} rounds (verl stops here too); raise rollout.max_gen_batches, set "
            "rollout.on_exhausted=train_on_kept, or use data the model solves sometimes"
        )
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
    stats["dynamic_sampling/bound_hit"] = float(n_kept_groups < target)
    return StepRollouts(rollouts=kept, order_state=order_state, metrics=stats)


def _sample_round(
    engine: Engine,
    problems: Sequence[Problem],
    rollout: RolloutConfig,
    rewards: RewardsConfig,
    plugin: PluginReward | None,
    *,
    seed: int,
    first_group: int,
) -> list[Rollout]:
    prompts = [render_prompt(p, rollout.prompt_template) for p in problems]
    sampling = SamplingSettings(
        n=rollout.samples_per_prompt,
        temperature=rollout.temperature,
        top_p=rollout.top_p,
        max_tokens=rollout.max_response_tokens,
        seed=seed,
    )
    records = engine.generate(prompts, sampling)
    results = check_many(
        [(problems[r.prompt_index].answer, r.text) for r in records], timeout_s=VERIFY_TIMEOUT_S
    )
    correct = torch.tensor([res.correct for res in results], dtype=torch.bool)
    lengths = torch.tensor([r.n_tokens for r in records], dtype=torch.long)
    groups = torch.tensor([first_group + r.prompt_index for r in records], dtype=torch.long)
    reward = rewards.correctness_weight * outcome_rewards(
        correct, reward_correct=rewards.reward_correct, reward_wrong=rewards.reward_wrong
    ) + overlong_penalty(
        lengths,
        max_response_tokens=rollout.max_response_tokens,
        overlong_buffer=rewards.overlong_buffer,
        penalty_factor=rewards.overlong_penalty,
    )
    if plugin is not None:
        row_problems = [problems[r.prompt_index] for r in records]
        extra = call_reward_fn(
            plugin.fn,
            plugin.spec,
            [prompts[r.prompt_index] for r in records],
            [r.text for r in records],
            {
                "answer": [p.answer for p in row_problems],
                "problem": [p.problem for p in row_problems],
                "problem_id": [p.problem_id for p in row_problems],
                "dataset": [p.dataset for p in row_problems],
                "correct": correct.tolist(),
            },
        )
        reward = reward + rewards.reward_fn_weight * torch.tensor(extra, dtype=torch.float32)
    advantages = group_advantages(
        reward, groups, norm_std=rewards.adv_norm_std, eps=rewards.adv_eps
    )
    return [
        Rollout(
            problem=problems[record.prompt_index],
            group=int(groups[i]),
            record=record,
            correct=bool(res.correct),
            extracted=res.extracted,
            verify_status=res.status,
            reward=float(reward[i]),
            advantage=float(advantages[i]),
        )
        for i, (record, res) in enumerate(zip(records, results, strict=True))
    ]


def _groups_with_signal(batch: list[Rollout], metric: str) -> list[Rollout]:
    """DAPO filters on accuracy (verl's filter_groups.metric=acc) or on the shaped reward."""
    if not batch:
        return batch
    values = [float(r.correct) if metric == "acc" else r.reward for r in batch]
    keep = groups_with_signal(torch.tensor(values), torch.tensor([r.group for r in batch]))
    return [r for r, k in zip(batch, keep.tolist(), strict=True) if k]


def _group_order(batch: Sequence[Rollout]) -> list[int]:
    seen: dict[int, None] = {}
    for r in batch:
        seen.setdefault(r.group, None)
    return list(seen)
