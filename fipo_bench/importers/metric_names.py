"""verl's and TRL's metric names -> fipo-bench's (DESIGN.md, "Metrics"). Importers store both:
the source's name as logged, and fipo-bench's name where one means the same quantity, so the
Training page overlays imported and native runs while nothing of the source is lost."""

from __future__ import annotations

from collections.abc import Mapping

# verl: verl/trainer/ppo/metric_utils.py compute_data_metrics / compute_timing_metrics and the
# actor's update metrics (verl/workers/actor/dp_actor.py, core_algos.compute_policy_loss).
VERL_NAMES = {
    "critic/score/mean": "reward/mean",  # sequence score before any KL penalty
    "critic/score/min": "reward/min",
    "critic/score/max": "reward/max",
    # pg_clipfrac: tokens where the clipped surrogate is the one taken, either side.
    "actor/pg_clipfrac": "clip_ratio/region",
    "actor/pg_clipfrac_lower": "clip_ratio/dual",  # negative advantages capped by dual clip
    "actor/ppo_kl": "policy_kl",  # mean(old_logp - logp), as policy_kl
    "actor/entropy": "entropy",
    "actor/grad_norm": "grad_norm",
    "actor/lr": "lr",
    "actor/kl_loss": "kl/ref",
    "timing_s/step": "step_time_s",
    # The official FIPO fork (recipe/dapo, verl/trainer/ppo/core_algos.py).
    "actor/influence_weights_mean": "influence_weight/mean",
    "actor/influence_weights_min": "influence_weight/min",
    "actor/influence_weights_max": "influence_weight/max",
    "actor/influence_weights_mean_raw": "influence_weight/raw_mean",
}
# fipo-bench's own names that a plug-in logs under actor/ (fipo_bench.integrations.verl).
_ACTOR_PASSTHROUGH = ("future_kl/", "influence_weight/")

# TRL: GRPOTrainer._generate_and_score_completions / compute_loss metric names.
TRL_NAMES = {
    "reward": "reward/mean",
    "completions/mean_length": "response_length/mean",
    "completions/min_length": "response_length/min",
    "completions/max_length": "response_length/max",
    "clip_ratio/low_mean": "clip_ratio/low",
    "clip_ratio/high_mean": "clip_ratio/high",
    "clip_ratio/region_mean": "clip_ratio/region",
    "entropy": "entropy",
    "grad_norm": "grad_norm",
    "learning_rate": "lr",
    "kl": "kl/ref",
    "step_time": "step_time_s",
}


def verl_to_fipo(metrics: Mapping[str, float]) -> dict[str, float]:
    """The source's metrics plus fipo-bench's names for those that have one."""
    out = dict(metrics)
    for name, value in metrics.items():
        ours = VERL_NAMES.get(name)
        if ours is None and name.startswith("actor/"):
            rest = name.removeprefix("actor/")
            ours = rest if rest.startswith(_ACTOR_PASSTHROUGH) else None
        if ours is not None:
            out.setdefault(ours, value)
    return out


def trl_to_fipo(metrics: Mapping[str, float]) -> dict[str, float]:
    out = dict(metrics)
    for name, value in metrics.items():
        ours = TRL_NAMES.get(name)
        if ours is not None:
            out.setdefault(ours, value)
    return out
