"""A fipo-bench training config as the hydra overrides that reproduce it in verl 0.9.

`verl_overrides(cfg)` -> ["data.train_batch_size=512", ...] for `python -m
verl.trainer.main_ppo` (verl's own ppo_trainer config; tests compose them against it). It
needs no verl installed: `fipo-bench presets NAME --format verl` prints them anywhere.

What maps to what (verl 0.9.1, its default V1 trainer):
- loss: mode -> policy_loss.loss_mode (grpo and dapo are verl's `vanilla`; fipo is this
  package's plug-in with its typed config), clip_low/high -> clip_ratio_low/high, dual_clip_c ->
  clip_ratio_c, agg -> loss_agg_mode (Dr. GRPO's constant -> loss_scale_factor =
  max_response_tokens), kl_coef -> use_kl_loss + kl_loss_coef (k3 = verl's low_var_kl).
- rollout: prompts_per_step -> data.train_batch_size, samples_per_prompt -> rollout.n, lengths
  -> data.max_prompt_length / max_response_length, temperature, top_p; dynamic sampling ->
  algorithm.filter_groups (enable, metric); gen_batch_multiplier -> data.gen_batch_size and
  filter_groups.max_inflight_gen_batches (V1 refills the batch in train_batch_size units).
- rewards: overlong shaping -> the DAPO reward manager's overlong_buffer_cfg; adv_norm_std ->
  algorithm.norm_adv_by_std_in_grpo.
- update: mini_batch_prompts -> ppo_mini_batch_size (verl counts prompts too); verl packs
  micro-batches by tokens (use_dynamic_bsz, prompt + response tokens per GPU, as the official
  launchers do), so micro_batch_seqs has no counterpart; gradient_checkpointing.
- optimiser: lr, warmup_steps, weight_decay, betas, grad_clip (-> optim.clip_grad).
Not mapped: data files (a verl launch names its own parquet), seeds, dtype, logging, and
max_gen_batches / on_exhausted (verl 0.9's V1 replay buffer ignores max_num_gen_batches and
refills until the batch is full). Settings verl cannot express raise ConfigError.
"""

from __future__ import annotations

from typing import Any

from fipo_bench.config import TrainConfig
from fipo_bench.errors import ConfigError

ACTOR = "actor_rollout_ref.actor"
ROLLOUT = "actor_rollout_ref.rollout"
FIPO_CONFIG_TARGET = "fipo_bench.integrations.verl.FipoPolicyLossConfig"
# The FIPO keys of verl's policy_loss config, named as in fipo-bench's LossConfig.
FIPO_KEYS = (
    "half_life",
    "influence_low",
    "influence_high",
    "safety_threshold",
    "safety_mode",
    "drop_dual_clipped_seqs",
)
# verl's DAPO reward manager scores +1 / -1 and its GRPO advantage adds this epsilon.
_VERL_REWARDS = (1.0, -1.0)
_VERL_ADV_EPS = 1e-6


def verl_overrides(cfg: TrainConfig) -> list[str]:
    """Hydra overrides for verl's ppo_trainer config that reproduce `cfg` (see module doc)."""
    _check_expressible(cfg)
    settings: dict[str, Any] = {"algorithm.adv_estimator": "grpo"}
    settings.update(_loss(cfg))
    settings.update(_rollout(cfg))
    settings.update(_rewards(cfg))
    settings.update(_update_and_optimiser(cfg))
    return [f"{key}={_hydra_value(value)}" for key, value in settings.items()]


def _loss(cfg: TrainConfig) -> dict[str, Any]:
    loss = cfg.loss
    out: dict[str, Any] = {
        f"{ACTOR}.clip_ratio_low": loss.clip_low,
        f"{ACTOR}.clip_ratio_high": loss.clip_high,
        f"{ACTOR}.clip_ratio_c": loss.dual_clip_c,
        f"{ACTOR}.loss_agg_mode": loss.agg,
    }
    if loss.agg == "seq-mean-token-sum-norm":
        out[f"{ACTOR}.loss_scale_factor"] = cfg.rollout.max_response_tokens
    out[f"{ACTOR}.use_kl_loss"] = loss.kl_coef > 0
    out[f"{ACTOR}.kl_loss_coef"] = loss.kl_coef
    if loss.kl_coef > 0:
        out[f"{ACTOR}.kl_loss_type"] = "low_var_kl"
    out["algorithm.use_kl_in_reward"] = False
    if loss.mode != "fipo":
        out[f"{ACTOR}.policy_loss.loss_mode"] = "vanilla"
        return out
    out[f"{ACTOR}.policy_loss.loss_mode"] = "fipo"
    out[f"{ACTOR}.policy_loss._target_"] = FIPO_CONFIG_TARGET
    for key in FIPO_KEYS:
        out[f"+{ACTOR}.policy_loss.{key}"] = getattr(loss, key)
    return out


def _rollout(cfg: TrainConfig) -> dict[str, Any]:
    r = cfg.rollout
    out: dict[str, Any] = {
        "data.train_batch_size": r.prompts_per_step,
        "data.max_prompt_length": r.max_prompt_tokens,
        "data.max_response_length": r.max_response_tokens,
        f"{ROLLOUT}.n": r.samples_per_prompt,
        f"{ROLLOUT}.temperature": r.temperature,
        f"{ROLLOUT}.top_p": r.top_p,
        "algorithm.filter_groups.enable": r.dynamic_sampling,
    }
    if r.gen_batch_multiplier > 1:
        out["data.gen_batch_size"] = r.gen_batch_multiplier * r.prompts_per_step
    if r.dynamic_sampling:
        out["algorithm.filter_groups.metric"] = r.filter_metric
        out["algorithm.filter_groups.max_inflight_gen_batches"] = r.gen_batch_multiplier
    return out


def _rewards(cfg: TrainConfig) -> dict[str, Any]:
    rewards = cfg.rewards
    out: dict[str, Any] = {"algorithm.norm_adv_by_std_in_grpo": rewards.adv_norm_std}
    # The DAPO reward manager reports `acc` (the filter metric) and applies overlong shaping.
    if rewards.overlong_buffer > 0 or cfg.rollout.dynamic_sampling:
        out["reward.reward_manager.name"] = "dapo"
        buffer = "+reward.reward_kwargs.overlong_buffer_cfg"
        out[f"{buffer}.enable"] = rewards.overlong_buffer > 0
        out[f"{buffer}.len"] = max(rewards.overlong_buffer, 1)  # verl asserts len > 0
        out[f"{buffer}.penalty_factor"] = rewards.overlong_penalty
        out[f"{buffer}.log"] = False
        out["+reward.reward_kwargs.max_resp_len"] = cfg.rollout.max_response_tokens
    return out


def _update_and_optimiser(cfg: TrainConfig) -> dict[str, Any]:
    opt = cfg.optimiser
    return {
        f"{ACTOR}.ppo_mini_batch_size": cfg.update.mini_batch_prompts,
        f"{ACTOR}.use_dynamic_bsz": True,
        f"{ACTOR}.ppo_max_token_len_per_gpu": (
            cfg.rollout.max_prompt_tokens + cfg.rollout.max_response_tokens
        ),
        "actor_rollout_ref.model.enable_gradient_checkpointing": (
            cfg.update.gradient_checkpointing
        ),
        f"{ACTOR}.optim.lr": opt.lr,
        f"{ACTOR}.optim.lr_warmup_steps": opt.warmup_steps,
        f"{ACTOR}.optim.weight_decay": opt.weight_decay,
        f"{ACTOR}.optim.betas": list(opt.betas),
        f"{ACTOR}.optim.clip_grad": opt.grad_clip,
    }


def _check_expressible(cfg: TrainConfig) -> None:
    """ConfigError for a setting verl 0.9 has no way to reproduce."""
    rewards = cfg.rewards
    problems = []
    if cfg.loss.dual_clip_c is None:
        problems.append("loss.dual_clip_c=None (verl always applies clip_ratio_c)")
    if (rewards.reward_correct, rewards.reward_wrong) != _VERL_REWARDS:
        problems.append(
            f"rewards.reward_correct/reward_wrong={rewards.reward_correct}/"
            f"{rewards.reward_wrong} (verl's DAPO reward is +1/-1)"
        )
    if rewards.reward_fn is not None or rewards.correctness_weight != 1.0:
        problems.append("rewards.reward_fn / correctness_weight (write a verl reward manager)")
    if rewards.adv_eps != _VERL_ADV_EPS:
        problems.append(f"rewards.adv_eps={rewards.adv_eps} (verl's GRPO epsilon is 1e-6)")
    if problems:
        raise ConfigError(f"no verl equivalent for {'; '.join(problems)}")


def _hydra_value(value: Any) -> str:
    """A value as hydra's override grammar reads it back (true/false, [a,b], plain numbers)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ",".join(_hydra_value(v) for v in value) + "]"
    return str(value)
