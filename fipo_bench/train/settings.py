"""The trainer's view of a TrainConfig: the typed groups each stage of the loop takes.

TrainConfig (fipo_bench.presets) is validated where it is built; this module only regroups its
fields, so each stage sees the options it uses and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from fipo_bench.presets import TrainConfig
from fipo_bench.train.rollout import RolloutSettings
from fipo_bench.train.update import UpdateSettings

# HF generate sub-batch: the tiny presets' 8 prompts x 8 samples fit in one sub-batch.
GENERATION_BATCH_SEQUENCES = 64


@dataclass(frozen=True)
class TrainerSettings:
    seed: int
    rollout: RolloutSettings
    update: UpdateSettings
    lr: float
    weight_decay: float
    adam_betas: tuple[float, float]
    warmup_steps: int
    save_every: int  # 0: only at the end
    log_rollouts_per_step: int
    max_prompt_tokens: int
    dtype: str  # "float32" | "bfloat16"
    gradient_checkpointing: bool
    generation_batch_sequences: int = GENERATION_BATCH_SEQUENCES


def derive_settings(cfg: TrainConfig) -> TrainerSettings:
    return TrainerSettings(
        seed=cfg.seed,
        rollout=RolloutSettings(
            prompts_per_step=cfg.prompts_per_step,
            samples_per_prompt=cfg.samples_per_prompt,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            max_response_tokens=cfg.max_response_tokens,
            seed=cfg.seed,
            prompt_template=cfg.prompt_template,
            dynamic_sampling=cfg.dynamic_sampling,
            max_gen_batches=cfg.max_gen_batches,
            overlong_buffer=cfg.overlong_buffer,
            overlong_penalty=cfg.overlong_penalty,
            reward_correct=cfg.reward_correct,
            reward_wrong=cfg.reward_wrong,
            norm_adv_by_std=cfg.adv_norm_std,
            adv_eps=cfg.adv_eps,
        ),
        update=UpdateSettings(
            prompts_per_minibatch=cfg.mini_batch_prompts,
            samples_per_microbatch=cfg.micro_batch_seqs,
            max_grad_norm=cfg.grad_clip,
            chunk_tokens=cfg.logprob_chunk_tokens,
            temperature=cfg.temperature,
            max_response_tokens=cfg.max_response_tokens,
        ),
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        adam_betas=cfg.betas,
        warmup_steps=cfg.warmup_steps,
        save_every=cfg.save_every,
        log_rollouts_per_step=cfg.log_rollouts_per_step,
        max_prompt_tokens=cfg.max_prompt_tokens,
        dtype=cfg.dtype,
        gradient_checkpointing=cfg.gradient_checkpointing,
    )
