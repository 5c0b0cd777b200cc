"""FIPO as a verl policy loss: loss mode `fipo`, computed by `fipo_bench.algos.policy_loss`.

Importing this module registers `fipo` in verl's `POLICY_LOSS_REGISTRY`. verl reaches it two
ways: the `verl.plugins` entry point (verl_plugin.py; `import verl` loads it), and hydra, which
imports this module when a launch names the typed config
    actor_rollout_ref.actor.policy_loss.loss_mode=fipo
    actor_rollout_ref.actor.policy_loss._target_=fipo_bench.integrations.verl.FipoPolicyLossConfig
    +actor_rollout_ref.actor.policy_loss.half_life=32.0   (and the other FIPO keys)
Without the `_target_` line verl's own PolicyLossConfig rejects the FIPO keys and the loss runs
with fipo-bench's defaults (`LossConfig(mode="fipo")`, the paper's 32B settings).

What comes from where: clip ratios and the dual-clip c from the actor config (`clip_ratio_low`,
`clip_ratio_high`, `clip_ratio_c`), the FIPO knobs from `policy_loss`, the aggregation from
`loss_agg_mode` with `global_batch_info` (below). verl adds the KL loss (`use_kl_loss`), the
entropy bonus and `actor/pg_loss` itself, so the loss here is the policy term alone.

Aggregation. verl normalises every micro-batch by the global mini-batch (`dp_size`,
`batch_num_tokens`, `global_batch_size`, `loss_scale_factor`) so that the summed, DP-averaged
gradient does not depend on sharding. Each of verl's five `loss_agg_mode`s is one of
fipo-bench's three aggregations with that global divisor passed as `token_normalizer`:
    token-mean               token-mean,              batch_num_tokens / dp_size
    token-sum                token-mean,              1 / dp_size
    seq-mean-token-mean      seq-mean-token-mean,     global_batch_size / dp_size
    seq-mean-token-sum       seq-mean-token-sum-norm, global_batch_size / dp_size
    seq-mean-token-sum-norm  seq-mean-token-sum-norm, global_batch_size / dp_size * scale
Absent global values fall back to this micro-batch's own counts, as verl's `agg_loss` does.
verl counts those divisors before the loss sees the batch, so responses removed by FIPO's
sequence-drop rule stay in them (the official code, on an older verl, divided each
micro-batch by its kept tokens; that cannot be sharding-invariant). Metrics are averaged over
micro-batches by verl, so `future_kl/min` is a mean of micro-batch minima.
"""

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

import torch

from fipo_bench.algos.losses import LossConfig, agg_normalizer, policy_loss
from fipo_bench.config import validate
from fipo_bench.errors import ConfigError
from fipo_bench.integrations import check_version, import_extra
from fipo_bench.integrations.verl_presets import FIPO_CONFIG_TARGET, FIPO_KEYS

VERL_PIN = "verl==0.9.*"
_verl = import_extra("verl", extra="verl", pin=VERL_PIN)
check_version("verl", _verl.__version__, VERL_PIN)

from verl.trainer.ppo.core_algos import register_policy_loss  # noqa: E402
from verl.workers.config import PolicyLossConfig  # noqa: E402

LOSS_MODE = "fipo"
CONFIG_KEY = "actor_rollout_ref.actor.policy_loss"
# Every FIPO knob's default is fipo-bench's own (one definition: LossConfig).
_DEFAULTS = LossConfig(mode="fipo")
# verl's loss_agg_mode -> (fipo-bench agg, what the divisor counts, times the length scale?)
_AGGREGATIONS = {
    "token-mean": ("token-mean", "tokens", False),
    "token-sum": ("token-mean", "one", False),
    "seq-mean-token-mean": ("seq-mean-token-mean", "responses", False),
    "seq-mean-token-sum": ("seq-mean-token-sum-norm", "responses", False),
    "seq-mean-token-sum-norm": ("seq-mean-token-sum-norm", "responses", True),
}


# The official FIPO fork's policy_loss keys -> their name here (its launch lines are common).
_OFFICIAL_NAMES = {
    "decay_rate": "half_life",
    "safety_thresh": "safety_threshold",
    "future_kl_clip_ratio": "influence_low / influence_high (1 -/+ the ratio)",
    "future_kl_clip_high_only": "influence_low=1.0",
    "chunk_size": "nothing (Future-KL is computed exactly in O(L), no chunks)",
}


def _refuse_unknown_keys(cls: type) -> type:
    """A dataclass __init__ that names an unknown key and the allowed ones, instead of
    Python's `unexpected keyword argument` inside hydra's traceback."""
    generated = cls.__init__
    allowed = [f.name for f in dataclasses.fields(cls) if f.init and not f.name.startswith("_")]

    @functools.wraps(generated)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        unknown = sorted(set(kwargs) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            key = unknown[0]
            hint = ""
            if key in _OFFICIAL_NAMES:
                hint = f" (the official fork's {key} is {_OFFICIAL_NAMES[key]} here)"
            raise ConfigError(
                f"unknown key {CONFIG_KEY}.{key} for the fipo loss{hint}; allowed: "
                f"{', '.join(allowed)}"
            )
        generated(self, *args, **kwargs)

    cls.__init__ = __init__
    return cls


@_refuse_unknown_keys
@dataclass
class FipoPolicyLossConfig(PolicyLossConfig):
    """verl's PolicyLossConfig plus the FIPO keys, validated by fipo-bench's LossConfig.

    An unknown key or a bad value is one ConfigError naming it (hydra shows it as the cause).
    """

    loss_mode: str = LOSS_MODE
    half_life: float = _DEFAULTS.half_life
    influence_low: float = _DEFAULTS.influence_low
    influence_high: float = _DEFAULTS.influence_high
    safety_threshold: float = _DEFAULTS.safety_threshold
    safety_mode: str = _DEFAULTS.safety_mode
    drop_dual_clipped_seqs: bool = _DEFAULTS.drop_dual_clipped_seqs

    def __post_init__(self) -> None:
        if self.loss_mode != LOSS_MODE:
            raise ConfigError(
                f"{CONFIG_KEY}.loss_mode={self.loss_mode!r} but _target_ is "
                f"{FIPO_CONFIG_TARGET}: set {CONFIG_KEY}.loss_mode={LOSS_MODE} (or drop the "
                "_target_ to use another loss)"
            )
        # Validated now, at config time; values keep LossConfig's types (hydra passes 16 as int).
        validated = _fipo_loss_config(self.knobs())
        for key in FIPO_KEYS:
            object.__setattr__(self, key, getattr(validated, key))

    def knobs(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in FIPO_KEYS}


@functools.lru_cache(maxsize=64)
def _cached_loss_config(items: tuple[tuple[str, Any], ...]) -> LossConfig:
    return validate(LossConfig, dict(items), what=f"verl {CONFIG_KEY}")


def _fipo_loss_config(values: dict[str, Any]) -> LossConfig:
    """LossConfig(mode="fipo", **values), validated once per distinct setting (cached: verl
    calls the loss once per micro-batch)."""
    try:
        return _cached_loss_config(tuple(sorted({"mode": LOSS_MODE, **values}.items())))
    except ConfigError as err:
        raise ConfigError(f"{CONFIG_KEY}: {err}") from None


def loss_config_from_actor(config: Any, loss_agg_mode: str) -> LossConfig:
    """The fipo-bench LossConfig a verl actor config describes (see the module docstring)."""
    clip = config.clip_ratio
    low = config.clip_ratio_low if config.clip_ratio_low is not None else clip
    high = config.clip_ratio_high if config.clip_ratio_high is not None else clip
    loss_cfg = config.policy_loss
    knobs = loss_cfg.knobs() if isinstance(loss_cfg, FipoPolicyLossConfig) else {}
    agg = _aggregation(loss_agg_mode)[0]
    return _fipo_loss_config(
        {
            "clip_low": float(low),
            "clip_high": float(high),
            "dual_clip_c": float(config.get("clip_ratio_c", 3.0)),
            "agg": agg,
            **knobs,
        }
    )


def _aggregation(loss_agg_mode: str) -> tuple[str, str, bool]:
    if loss_agg_mode not in _AGGREGATIONS:
        raise ConfigError(
            f"actor_rollout_ref.actor.loss_agg_mode={loss_agg_mode!r} is not one of "
            f"{', '.join(_AGGREGATIONS)}"
        )
    return _AGGREGATIONS[loss_agg_mode]


def global_normalizer(loss_agg_mode: str, mask: torch.Tensor, info: dict[str, Any]) -> float:
    """The divisor verl's `agg_loss` uses for this micro-batch, given `global_batch_info`."""
    _agg, counts, scaled = _aggregation(loss_agg_mode)
    dp_size = int(info.get("dp_size") or 1)
    if counts == "one":
        return 1.0 / dp_size
    key = "batch_num_tokens" if counts == "tokens" else "global_batch_size"
    total = info.get(key)
    if total is None:
        if dp_size > 1:
            raise ConfigError(f"global_batch_info[{key!r}] is required when dp_size > 1")
        local_agg = "token-mean" if counts == "tokens" else "seq-mean-token-mean"
        total = agg_normalizer(mask, local_agg)
    divisor = max(float(total), 1.0) / dp_size
    if scaled:
        scale = info.get("loss_scale_factor")
        divisor *= float(scale if scale is not None else mask.shape[-1])
    return divisor


def fipo_policy_loss(
    old_log_prob: torch.Tensor,
    log_prob: torch.Tensor,
    advantages: torch.Tensor,
    response_mask: torch.Tensor,
    loss_agg_mode: str = "token-mean",
    config: Any = None,
    rollout_is_weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """verl's policy-loss signature around `fipo_bench.algos.policy_loss`."""
    if config is None:
        raise ConfigError("verl's fipo loss needs the actor config (verl passes config=...)")
    if rollout_is_weights is not None:
        raise ConfigError(
            "the fipo loss does not take rollout-correction weights: set "
            "algorithm.rollout_correction.rollout_is=null"
        )
    loss_config = loss_config_from_actor(config, loss_agg_mode)
    normalizer = global_normalizer(loss_agg_mode, response_mask, config.global_batch_info)
    result = policy_loss(
        log_prob, old_log_prob, advantages, response_mask, loss_config, token_normalizer=normalizer
    )
    return result.loss, verl_metrics(result.metrics)


def verl_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """fipo-bench's loss metrics under verl's names (actor/pg_clipfrac: eps-clipped tokens,
    actor/pg_clipfrac_lower: dual-clipped ones, actor/ppo_kl), FIPO's own as they are."""
    renamed = {
        "actor/pg_clipfrac": metrics["clip_ratio/low"] + metrics["clip_ratio/high"],
        "actor/pg_clipfrac_lower": metrics["clip_ratio/dual"],
        "actor/ppo_kl": metrics["policy_kl"],
    }
    own = {
        name: value
        for name, value in metrics.items()
        if name.startswith(("future_kl/", "influence_weight/")) or name == "seq_dropped_frac"
    }
    return {**renamed, **own}


register_policy_loss(LOSS_MODE)(fipo_policy_loss)
