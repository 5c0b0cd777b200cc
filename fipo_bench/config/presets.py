"""Named training configurations, each value with where it comes from.

A preset is a table of `group.field -> (value, source)`; `fipo-bench presets NAME` prints both.
Sources (the official FIPO release is the verl fork at commit 4d52d01, "Initial public release"):
- [T2]       FIPO paper, Table 2 (Qwen2.5-32B-Base, DAPO vs FIPO), PDF page 19
- [T3]       FIPO paper, Table 3 (Qwen2.5-7B-Math, DAPO vs FIPO), PDF page 20
- [fipo-32b] recipe/fipo/run_fipo_qwen2.5_32b.sh (the FIPO 32B launcher)
- [dapo-32b] recipe/dapo/run_dapo_qwen2.5_32b.sh (the DAPO 32B launcher FIPO started from)
- [dapo-7b]  recipe/dapo/test_dapo_7b_math.sh (DAPO on Qwen2.5-Math-7B)
- [fipo-code] verl/trainer/ppo/core_algos.py compute_policy_loss_future_kl (the FIPO loss)
- [verl]     a verl default the launchers leave unset (DAPO reward manager: +1 / -1)
- [verl-grpo] volcengine/verl examples/grpo_trainer/run_qwen2_5-7b_math.sh
- [ours]     an engineering choice of this project (not an algorithm setting)
The tiny presets for a 2-core CPU live in presets_tiny.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fipo_bench.config.overrides import validate
from fipo_bench.config.tree import TrainConfig
from fipo_bench.errors import ConfigError

Table = dict[str, tuple[Any, str]]


def build(table: Mapping[str, tuple[Any, str]]) -> TrainConfig:
    """The TrainConfig a preset table describes (validated like any other config)."""
    nested: dict[str, Any] = {}
    for key, (value, _source) in table.items():
        group, field = key.split(".")
        nested.setdefault(group, {})[field] = value
    return validate(TrainConfig, nested, what="preset")


_DAPO_32B: Table = {
    "loss.mode": ("dapo", "[T2] loss function DAPO"),
    "loss.clip_low": (0.2, "[T2] policy clip ratio [0.2, 0.28]"),
    "loss.clip_high": (0.28, "[T2] policy clip ratio [0.2, 0.28]"),
    "loss.dual_clip_c": (10.0, "[T2] dual clip ratio 10.0"),
    "loss.agg": ("token-mean", "[dapo-32b] loss_agg_mode"),
    "loss.kl_coef": (0.0, "[T2] KL penalty coef 0.0"),
    "rollout.data": ("dapo-math-17k.parquet", "[dapo-32b] TRAIN_FILE (a local file)"),
    "rollout.prompt_template": ("dapo", "[dapo-32b] DAPO-Math-17k's own instruction"),
    "rollout.prompts_per_step": (512, "[T2] global batch size 512"),
    "rollout.samples_per_prompt": (16, "[T2] group size 16"),
    "rollout.max_prompt_tokens": (2048, "[T2] max prompt length 2,048"),
    "rollout.max_response_tokens": (20480, "[T2] max response length 20,480"),
    "rollout.temperature": (1.0, "[T2] sampling temp 1.0"),
    "rollout.top_p": (1.0, "[T2] top-p 1.0"),
    "rollout.dynamic_sampling": (True, "[dapo-32b] enable_filter_groups=True"),
    "rollout.filter_metric": ("acc", "[dapo-32b] filter_groups_metric=acc"),
    "rollout.gen_batch_multiplier": (3, "[dapo-32b] gen_prompt_bsz = train_prompt_bsz * 3"),
    "rollout.max_gen_batches": (10, "[dapo-32b] max_num_gen_batches=10"),
    "rollout.on_exhausted": ("error", "[dapo-32b] verl raises when max_num_gen_batches runs out"),
    "rewards.reward_correct": (1.0, "[verl] DAPO reward manager"),
    "rewards.reward_wrong": (-1.0, "[verl] DAPO reward manager"),
    "rewards.overlong_buffer": (4096, "[T2] overlong buffer 4096"),
    "rewards.overlong_penalty": (1.0, "[dapo-32b] overlong_penalty_factor=1.0"),
    "rewards.adv_norm_std": (True, "[dapo-32b] adv_estimator=grpo"),
    "rewards.adv_eps": (1e-6, "[verl] grpo advantage epsilon"),
    "update.mini_batch_prompts": (32, "[T2] mini-batch size 32 (DAPO)"),
    "update.micro_batch_seqs": (4, "[ours] verl packs micro-batches by tokens instead"),
    "update.logprob_chunk_tokens": (4096, "[ours] bounds scoring memory"),
    "update.gradient_checkpointing": (True, "[dapo-32b] enable_gradient_checkpointing=True"),
    "optimiser.lr": (1e-6, "[T2] learning rate 1e-6"),
    "optimiser.warmup_steps": (10, "[T2] constant with 10 warmup steps"),
    "optimiser.weight_decay": (0.1, "[T2] weight decay 0.1"),
    "optimiser.grad_clip": (1.0, "[T2] gradient clipping 1.0"),
    "optimiser.betas": ([0.9, 0.999], "[verl] AdamW default (the launcher sets none)"),
    "run.save_every": (5, "[dapo-32b] save_freq=5"),
    "run.log_rollouts_per_step": (8, "[ours]"),
    "run.seed": (0, "[ours]"),
    "run.dtype": ("bfloat16", "[ours] verl trains in bf16 mixed precision"),
}

_FIPO_32B: Table = {
    **_DAPO_32B,
    "loss.mode": ("fipo", "[T2] loss function Future-KL"),
    "loss.half_life": (32.0, "[T2] Future-KL decay rate 32.0"),
    "loss.influence_low": (1.0, "[T2] Future-KL clip ratio [1.0, 1.2]"),
    "loss.influence_high": (1.2, "[T2] Future-KL clip ratio [1.0, 1.2]"),
    "loss.safety_threshold": (10.0, "[T2] safety threshold 10.0"),
    "loss.safety_mode": ("clamp", "[fipo-code] weights clamped into [0.8, 1.0]"),
    "loss.drop_dual_clipped_seqs": (
        True,
        "[fipo-code] drop responses with > 1 dual-clipped token",
    ),
    "rollout.gen_batch_multiplier": (4, "[fipo-32b] gen_prompt_bsz = train_prompt_bsz * 4"),
    "update.mini_batch_prompts": (64, "[T2] mini-batch size 64 (FIPO): 8 updates per step"),
}


def _recited(table: Table, old: str, new: str) -> Table:
    """The same values citing `new` where they cited `old` (Table 3 repeats Table 2's shared
    settings for the 7B runs)."""
    return {key: (value, source.replace(old, new)) for key, (value, source) in table.items()}


_DAPO_7B_MATH: Table = {
    **_recited(_DAPO_32B, "[T2]", "[T3]"),
    "rollout.max_response_tokens": (8192, "[T3] max response length 8192 (DAPO)"),
    "rewards.overlong_buffer": (4096, "[T3] overlong buffer 4096 (DAPO)"),
    "rollout.samples_per_prompt": (16, "[T3] group size 16 (DAPO)"),
    # Table 3 lists no dynamic sampling; its DAPO launcher runs verl.trainer.main_ppo, which
    # has no group filter.
    "rollout.dynamic_sampling": (False, "[dapo-7b] main_ppo: no filter_groups"),
    "rollout.gen_batch_multiplier": (1, "[dapo-7b] no gen_batch_size"),
    "rollout.max_gen_batches": (1, "[dapo-7b] no filter_groups"),
    "run.save_every": (10, "[dapo-7b] save_freq=10"),
}

_FIPO_7B_MATH: Table = {
    **_DAPO_7B_MATH,
    "rollout.gen_batch_multiplier": (1, "[dapo-7b] no dynamic sampling in the 7B recipe"),
    "loss.mode": ("fipo", "[T3] loss function Future-KL"),
    "loss.half_life": (32.0, "[T3] Future-KL decay rate 32.0"),
    "loss.influence_low": (0.8, "[T3] Future-KL clip ratio [0.8, 1.2]"),
    "loss.influence_high": (1.2, "[T3] Future-KL clip ratio [0.8, 1.2]"),
    "loss.safety_threshold": (3.0, "[T3] safety threshold 3.0"),
    "loss.safety_mode": ("clamp", "[fipo-code] weights clamped into [0.8, 1.0]"),
    "loss.drop_dual_clipped_seqs": (
        True,
        "[fipo-code] drop responses with > 1 dual-clipped token",
    ),
    "rollout.samples_per_prompt": (32, "[T3] group size 32 (FIPO)"),
    "rollout.max_response_tokens": (10240, "[T3] max response length 10240 (FIPO)"),
    "rewards.overlong_buffer": (2048, "[T3] overlong buffer 2048 (FIPO)"),
    "update.mini_batch_prompts": (64, "[T3] mini-batch size 64 (FIPO): 8 updates per step"),
}

_GRPO: Table = {
    "loss.mode": ("grpo", "[verl-grpo] vanilla policy loss"),
    "loss.clip_low": (0.2, "[verl-grpo] clip_ratio 0.2"),
    "loss.clip_high": (0.2, "[verl-grpo] symmetric clip"),
    "loss.dual_clip_c": (3.0, "[verl] clip_ratio_c default"),
    "loss.agg": ("seq-mean-token-mean", "DeepSeekMath GRPO: token mean, then mean over responses"),
    "loss.kl_coef": (0.001, "[verl-grpo] kl_loss_coef=0.001 (low_var_kl = k3)"),
    "rollout.data": (
        "dapo-math-17k.parquet",
        "[ours] the DAPO/FIPO data, so runs compare",
    ),
    "rollout.prompt_template": ("dapo", "[ours] the data's own instruction"),
    "rollout.prompts_per_step": (1024, "[verl-grpo] train_batch_size=1024"),
    "rollout.samples_per_prompt": (5, "[verl-grpo] rollout.n=5"),
    "rollout.max_prompt_tokens": (1024, "[verl-grpo] max_prompt_length=1024"),
    "rollout.max_response_tokens": (1024, "[verl-grpo] max_response_length=1024"),
    "rollout.temperature": (1.0, "[verl] rollout temperature"),
    "rollout.top_p": (1.0, "[verl] rollout top_p"),
    "rollout.dynamic_sampling": (False, "GRPO: no group filtering"),
    "rewards.reward_correct": (1.0, "[verl] DAPO reward manager"),
    "rewards.reward_wrong": (-1.0, "[ours] the DAPO outcome reward, so runs compare"),
    "rewards.overlong_buffer": (0, "GRPO: no length shaping"),
    "rewards.adv_norm_std": (True, "[verl-grpo] adv_estimator=grpo"),
    "rewards.adv_eps": (1e-6, "[verl] grpo advantage epsilon"),
    "update.mini_batch_prompts": (256, "[verl-grpo] ppo_mini_batch_size=256"),
    "update.micro_batch_seqs": (16, "[verl-grpo] ppo_micro_batch_size_per_gpu=16"),
    "update.logprob_chunk_tokens": (4096, "[ours] bounds scoring memory"),
    "update.gradient_checkpointing": (True, "[verl-grpo] enable_gradient_checkpointing=True"),
    "optimiser.lr": (1e-6, "[verl-grpo] optim.lr=1e-6"),
    "optimiser.warmup_steps": (0, "[verl-grpo] no warm-up"),
    "optimiser.weight_decay": (0.01, "[verl] AdamW weight decay default"),
    "optimiser.grad_clip": (1.0, "[verl] grad_clip default"),
    "optimiser.betas": ([0.9, 0.999], "[verl] AdamW default"),
    "run.save_every": (10, "[ours]"),
    "run.log_rollouts_per_step": (8, "[ours]"),
    "run.seed": (0, "[ours]"),
    "run.dtype": ("bfloat16", "[ours] bf16 mixed precision"),
}

PAPER_PRESETS: dict[str, tuple[str, Table]] = {
    "fipo-qwen2.5-32b": ("FIPO on Qwen2.5-32B-Base (paper Table 2)", _FIPO_32B),
    "dapo-qwen2.5-32b": ("DAPO baseline on Qwen2.5-32B-Base (paper Table 2)", _DAPO_32B),
    "fipo-qwen2.5-7b-math": ("FIPO on Qwen2.5-Math-7B (paper Table 3)", _FIPO_7B_MATH),
    "dapo-qwen2.5-7b-math": ("DAPO baseline on Qwen2.5-Math-7B (paper Table 3)", _DAPO_7B_MATH),
    "grpo": ("GRPO baseline (verl's GRPO example: symmetric clip, KL 0.001)", _GRPO),
}


def _all_presets() -> dict[str, tuple[str, Table]]:
    from fipo_bench.config.presets_tiny import TINY_PRESETS

    return {**PAPER_PRESETS, **TINY_PRESETS}


def preset_names() -> list[str]:
    return list(_all_presets())


def describe(name: str) -> str:
    return _table(name)[0]


def get_preset(name: str) -> TrainConfig:
    """The preset called `name`; ConfigError listing the known names otherwise."""
    return build(_table(name)[1])


def preset_sources(name: str) -> dict[str, str]:
    """`group.field -> source` for every value the preset sets (the rest are defaults)."""
    return {key: source for key, (_value, source) in _table(name)[1].items()}


def _table(name: str) -> tuple[str, Table]:
    presets = _all_presets()
    if name not in presets:
        raise ConfigError(f"unknown preset {name!r}; known: {', '.join(presets)}")
    return presets[name]
