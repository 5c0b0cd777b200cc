"""The one typed training config: a tree grouped by pipeline stage.

    rollout    what a step samples: data, prompts and samples, lengths, sampling, dynamic sampling
    rewards    how a response is scored: correctness, overlong shaping, a plug-in reward, advantages
    update     how the batch becomes optimiser steps: mini-batches, micro-batches, memory knobs
    optimiser  AdamW and its schedule
    loss       the objective (fipo_bench.algos.LossConfig; loss.mode is the algorithm)
    run        seeds, checkpoints, logging, precision
    validation evaluation of the live policy during training

Every field has one name, from `--set rollout.samples_per_prompt=32` to the line of code that
reads `cfg.rollout.samples_per_prompt`: nothing renames or copies it on the way. Validation is
pydantic's (types, ranges, cross-field rules); `fipo_bench.config.overrides` turns its errors
into one-line ConfigErrors at the command line.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from fipo_bench.algos.losses import LossConfig
from fipo_bench.config.base import ConfigModel

Dtype = Literal["float32", "bfloat16"]
OnExhausted = Literal["error", "train_on_kept"]
FilterMetric = Literal["acc", "reward"]


class RolloutConfig(ConfigModel):
    data: str = Field("synthetic", min_length=1)  # registry name or a jsonl/parquet file
    prompt_template: str = "raw"
    prompts_per_step: int = Field(ge=1)  # P: prompt groups trained on per step
    samples_per_prompt: int = Field(ge=2)  # G: one sample has no group to compare with
    max_prompt_tokens: int = Field(ge=1)  # longer prompts are left out (verl filters them)
    max_response_tokens: int = Field(ge=1)
    temperature: float = Field(1.0, gt=0, le=10)
    top_p: float = Field(1.0, gt=0, le=1)
    # DAPO's dynamic sampling: keep only groups whose `filter_metric` varies, generate again
    # until P groups are kept. A round samples gen_batch_multiplier x P prompts (verl's
    # data.gen_batch_size); at most max_gen_batches rounds per step.
    dynamic_sampling: bool = False
    filter_metric: FilterMetric = "acc"  # verl's filter_groups.metric (acc or the shaped reward)
    gen_batch_multiplier: int = Field(1, ge=1)
    max_gen_batches: int = Field(1, ge=1)
    # After max_gen_batches rounds with fewer than P groups kept: "error" stops the run as verl
    # does; "train_on_kept" trains on the groups it has (a smaller, still valid step).
    on_exhausted: OnExhausted = "error"

    @field_validator("prompt_template")
    @classmethod
    def _known_template(cls, value: str) -> str:
        from fipo_bench.tasks.prompts import TEMPLATES  # the templates live with the tasks

        if value not in TEMPLATES:
            raise ValueError(f"must be one of {', '.join(TEMPLATES)}")
        return value


class RewardsConfig(ConfigModel):
    # outcome reward: reward_correct / reward_wrong by the verifier, times correctness_weight
    reward_correct: float = 1.0
    reward_wrong: float = -1.0
    correctness_weight: float = Field(1.0, ge=0)
    # DAPO's soft overlong punishment: a linear penalty over the last overlong_buffer tokens
    # before max_response_tokens, reaching -overlong_penalty there; 0 turns it off.
    overlong_buffer: int = Field(0, ge=0)
    overlong_penalty: float = Field(1.0, ge=0)
    # A plug-in reward "module:callable" with TRL's signature (prompts, completions, **row
    # fields) -> one float per completion, added with weight reward_fn_weight.
    reward_fn: str | None = None
    reward_fn_weight: float = 1.0
    # group-relative advantage: (R - mean) / (std + adv_eps); adv_norm_std=False is Dr. GRPO
    adv_norm_std: bool = True
    adv_eps: float = Field(1e-6, gt=0)

    @model_validator(mode="after")
    def _rewards_are_ordered(self) -> RewardsConfig:
        if not self.reward_correct > self.reward_wrong:
            raise ValueError(
                f"reward_correct={self.reward_correct} must be greater than reward_wrong="
                f"{self.reward_wrong}"
            )
        if self.reward_fn is not None and ":" not in self.reward_fn:
            raise ValueError(f"reward_fn={self.reward_fn!r} must look like module:callable")
        if self.correctness_weight == 0 and self.reward_fn is None:
            raise ValueError("correctness_weight=0 needs a reward_fn (no reward would be left)")
        return self


class UpdateConfig(ConfigModel):
    mini_batch_prompts: int = Field(ge=1)  # prompt groups per optimiser step
    micro_batch_seqs: int = Field(ge=1)  # rows per forward/backward (gradient accumulation)
    logprob_chunk_tokens: int | None = Field(None, ge=1)  # scoring sequence chunk; None = auto
    gradient_checkpointing: bool = False


class OptimiserConfig(ConfigModel):
    """AdamW with a linear warm-up, then a constant learning rate."""

    lr: float = Field(gt=0, le=0.1)  # above 0.1 AdamW diverges for any model this trains
    weight_decay: float = Field(0.0, ge=0, le=1)
    warmup_steps: int = Field(0, ge=0)
    grad_clip: float = Field(1.0, ge=0, le=1e4)  # max global grad norm; 0 disables clipping
    betas: tuple[float, float] = (0.9, 0.999)

    @field_validator("betas")
    @classmethod
    def _betas_in_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not all(0 <= b < 1 for b in value):
            raise ValueError("must be two numbers in [0, 1)")
        return value


class RunConfig(ConfigModel):
    seed: int = Field(0, ge=0, le=2**31 - 1)
    save_every: int = Field(0, ge=0)  # checkpoint every N steps; 0 = only at the end
    log_rollouts_per_step: int = Field(0, ge=0)  # responses per step whose credit is stored
    dtype: Dtype = "float32"


class ValidationConfig(ConfigModel):
    """Evaluate the live policy every `every` steps (0: never) with the evaluator."""

    dataset: str | None = None  # registry name or file; None: no validation
    every: int = Field(0, ge=0)
    n: int = Field(4, ge=1, le=1024)  # samples per problem
    limit: int | None = Field(None, ge=1)  # first problems only
    temperature: float = Field(1.0, ge=0, le=10)
    top_p: float = Field(0.7, gt=0, le=1)  # the paper's validation top-p
    max_tokens: int | None = Field(None, ge=1)  # None: rollout.max_response_tokens

    @model_validator(mode="after")
    def _dataset_and_every_together(self) -> ValidationConfig:
        if (self.dataset is None) != (self.every == 0):
            raise ValueError("dataset and every must be set together (every >= 1 with a dataset)")
        return self


class TrainConfig(ConfigModel):
    rollout: RolloutConfig
    rewards: RewardsConfig
    update: UpdateConfig
    optimiser: OptimiserConfig
    loss: LossConfig
    run: RunConfig
    validation: ValidationConfig = ValidationConfig()

    @property
    def algo(self) -> str:
        """The algorithm is the loss mode (grpo, dapo, fipo): one field, not two."""
        return self.loss.mode

    @property
    def updates_per_step(self) -> int:
        return self.rollout.prompts_per_step // self.update.mini_batch_prompts

    @model_validator(mode="after")
    def _stages_fit_together(self) -> TrainConfig:
        prompts, per_update = self.rollout.prompts_per_step, self.update.mini_batch_prompts
        if prompts % per_update:
            raise ValueError(
                f"update.mini_batch_prompts={per_update} must divide rollout.prompts_per_step="
                f"{prompts} (each step makes a whole number of updates)"
            )
        if self.loss.mode == "fipo" and prompts // per_update < 2:
            # One on-policy update per rollout batch: Delta = 0, every influence weight is 1
            # and FIPO is DAPO in all but name.
            raise ValueError(
                f"loss.mode=fipo needs >= 2 optimiser updates per step, got "
                f"rollout.prompts_per_step / update.mini_batch_prompts = {prompts} / "
                f"{per_update} = {prompts // per_update} (with one update Delta = 0 and every "
                "influence weight is 1, so FIPO would silently be DAPO); lower "
                "update.mini_batch_prompts"
            )
        if self.rewards.overlong_buffer >= self.rollout.max_response_tokens:
            raise ValueError(
                f"rewards.overlong_buffer={self.rewards.overlong_buffer} must be smaller than "
                f"rollout.max_response_tokens={self.rollout.max_response_tokens} (0 turns it off)"
            )
        return self
