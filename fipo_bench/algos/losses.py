"""The clipped policy objective of GRPO, DAPO and FIPO (DESIGN.md, "The objective").

Per response token t (mask m_t):
    delta_t = clamp(logp_t - old_logp_t, -20, 20),   r_t = exp(delta_t)
    A~_t    = A_t * f_t            (f_t = 1 for GRPO/DAPO; FIPO influence weight otherwise)
    loss_t  = max(-A~ r, -A~ clip(r, 1 - clip_low, 1 + clip_high))   (PPO, DAPO clip-higher)
              and, where A~ < 0, min(that, -A~ * c)                    (dual clip, c = dual_clip_c)
    (+ kl_coef * k3(ref || policy) when kl_coef > 0)
then aggregated over the optimiser mini-batch (`agg`).

`policy_loss` dispatches on `config.mode` through `LOSS_MODES` (one small function per mode) and
returns a `LossResult`; `fipo_token_credit` is the single implementation of FIPO's per-token
credit, reused by the credit analysis. This module imports nothing from the package (algos is
the bottom layer), so invalid values raise ValueError (pydantic's ValidationError is one);
`fipo_bench.config` turns those into ConfigError at the command line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import Tensor

from fipo_bench.algos.future_kl import SafetyMode, future_kl, influence_weights

LossMode = Literal["grpo", "dapo", "fipo"]
AggMode = Literal["token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"]

DELTA_CLAMP = 20.0  # |logp - old_logp| clamp before exp (official code)
_EDGE_TOL = 1e-7  # weights within this of a clip bound count as clipped (official code)


DEFAULT_HALF_LIFE = 32.0  # tau, tokens (paper Table 2: "Future-KL decay rate 32.0")


class LossConfig(BaseModel):
    """Objective settings, validated on construction (pydantic: the error names the field, the
    value and the rule). Strict types: a bool or a string is not a number here."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    mode: LossMode
    clip_low: float = Field(0.2, ge=0, lt=1)
    clip_high: float = Field(0.28, ge=0)
    # Dual-clip threshold c; also the outlier mask M_t of Future-KL. None disables both.
    dual_clip_c: float | None = Field(10.0, gt=1)
    agg: AggMode = "token-mean"
    half_life: float = Field(DEFAULT_HALF_LIFE, gt=0)  # tau, the Future-KL decay half-life
    influence_low: float = Field(1.0, ge=0)
    influence_high: float = Field(1.2, ge=0)
    safety_threshold: float = Field(10.0, gt=0)
    safety_mode: SafetyMode = "clamp"
    drop_dual_clipped_seqs: bool = True  # FIPO only, official-code rule
    kl_coef: float = Field(0.0, ge=0)  # KL penalty to a reference policy (k3 estimator)

    @model_validator(mode="after")
    def _band_is_ordered(self) -> LossConfig:
        if self.influence_low > self.influence_high:
            raise ValueError(
                f"influence_low={self.influence_low} must be <= influence_high="
                f"{self.influence_high}"
            )
        return self


@dataclass(frozen=True)
class TokenCredit:
    """FIPO's per-token credit, all [B, L] and detached.

    delta: clamped logp - old_logp; ratio: exp(delta); participates: m_t * M_t (response token
    whose ratio is within the dual-clip threshold); future_kl: FutureKL_t; raw_weight:
    exp(FutureKL_t); weight: the clipped influence weight after the safety rule.
    """

    delta: Tensor
    ratio: Tensor
    participates: Tensor
    future_kl: Tensor
    raw_weight: Tensor
    weight: Tensor


def fipo_token_credit(
    logp: Tensor, old_logp: Tensor, advantages: Tensor, mask: Tensor, config: LossConfig
) -> TokenCredit:
    """Per-token (delta, FutureKL, raw weight, clipped weight) exactly as the FIPO loss uses them.

    `advantages` is [B] or [B, L]; only its sign matters here (safety rule).
    """
    with torch.no_grad():
        delta = (logp.detach().float() - old_logp.detach().float()).clamp(-DELTA_CLAMP, DELTA_CLAMP)
        return _credit_from_delta(delta, torch.exp(delta), advantages, mask.bool(), config)


def _credit_from_delta(
    delta: Tensor, ratio: Tensor, advantages: Tensor, mask: Tensor, config: LossConfig
) -> TokenCredit:
    """The FIPO credit given the (detached) clamped delta and ratio; policy_loss reuses its own."""
    with torch.no_grad():
        participates = mask
        if config.dual_clip_c is not None:
            # Outlier mask M_t: tokens beyond the dual-clip threshold neither add to FutureKL
            # nor (through the dual clip) drive the gradient (official code).
            participates = mask & (ratio <= config.dual_clip_c)
        fkl = future_kl(delta, participates, config.half_life)
        raw, weight = influence_weights(
            fkl,
            _token_advantages(advantages, delta),
            ratio,
            config.influence_low,
            config.influence_high,
            config.safety_threshold,
            config.safety_mode,
        )
    return TokenCredit(delta, ratio, participates, fkl, raw, weight)


@dataclass(frozen=True)
class LossResult:
    """What `policy_loss` returns.

    loss: the scalar to backpropagate (pg_loss + kl_loss); pg_loss over the kept tokens, kl_loss
    (None when kl_coef = 0) over every response token, as the official code adds its KL term;
    metrics: named floats (DESIGN.md names); dropped: bool [B], the responses FIPO's
    sequence-drop rule removed (all False otherwise); dropped_agg_units: the share of the `agg`
    divisor those responses hold (tokens for token-mean, responses for seq-mean-token-mean; the
    Dr. GRPO divisor is a constant and loses nothing).
    """

    loss: Tensor
    pg_loss: Tensor
    kl_loss: Tensor | None
    metrics: dict[str, float]
    dropped: Tensor
    dropped_agg_units: float


@dataclass(frozen=True)
class _Batch:
    """Inputs shared by every mode: ratio carries the gradient, the rest is detached."""

    advantages: Tensor  # [B, L]
    mask: Tensor  # bool [B, L]
    ratio: Tensor
    delta: Tensor


@dataclass(frozen=True)
class _ModeTerms:
    """What a mode function returns: per-token loss, the responses dropped, its own metrics."""

    token_loss: Tensor
    dropped: Tensor  # bool [B]
    clipped_low: Tensor
    clipped_high: Tensor
    dual_capped: Tensor
    metrics: dict[str, Tensor]


def _clipped_surrogate(
    ratio: Tensor, weighted_adv: Tensor, config: LossConfig
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(loss, clipped_low, clipped_high, dual_capped) per token; eps-clip then dual clip."""
    unclipped = -weighted_adv * ratio
    clipped = -weighted_adv * ratio.clamp(1.0 - config.clip_low, 1.0 + config.clip_high)
    loss = torch.maximum(unclipped, clipped)
    negative = weighted_adv < 0
    clip_active = clipped > unclipped
    clipped_low = clip_active & negative
    clipped_high = clip_active & ~negative
    if config.dual_clip_c is None:
        return loss, clipped_low, clipped_high, torch.zeros_like(negative)
    cap = -weighted_adv * config.dual_clip_c
    dual_capped = negative & (loss > cap)
    return torch.where(dual_capped, cap, loss), clipped_low, clipped_high, dual_capped


def _plain_clipped(batch: _Batch, config: LossConfig) -> _ModeTerms:
    """GRPO and DAPO: the same token loss with A~ = A. They differ in their settings
    (clip_high, agg, kl_coef) and in the data pipeline (dynamic sampling, overlong shaping)."""
    loss, low, high, dual = _clipped_surrogate(batch.ratio, batch.advantages, config)
    none_dropped = torch.zeros(batch.mask.shape[0], dtype=torch.bool, device=batch.mask.device)
    return _ModeTerms(loss, none_dropped, low, high, dual, {})


def _fipo_clipped(batch: _Batch, config: LossConfig) -> _ModeTerms:
    """FIPO: A~ = A * f_t (Future-KL influence weight), then the DAPO token loss; optionally drop
    a response in which more than one negative-advantage token hits the dual-clip cap."""
    credit = _credit_from_delta(
        batch.delta, batch.ratio.detach(), batch.advantages, batch.mask, config
    )
    weighted_adv = batch.advantages * credit.weight
    loss, low, high, dual = _clipped_surrogate(batch.ratio, weighted_adv, config)
    dropped = torch.zeros(batch.mask.shape[0], dtype=torch.bool, device=batch.mask.device)
    if config.drop_dual_clipped_seqs:
        dropped = (dual & batch.mask).sum(dim=1) > 1
    # Statistics over the response tokens only, gathered once (cheaper than masking each stat).
    valid = batch.mask.reshape(-1).nonzero().squeeze(1)
    fkl = credit.future_kl.reshape(-1).index_select(0, valid)
    weight = credit.weight.reshape(-1).index_select(0, valid)
    raw = credit.raw_weight.reshape(-1).index_select(0, valid)
    at_upper = weight >= config.influence_high - _EDGE_TOL
    at_lower = weight <= config.influence_low + _EDGE_TOL
    metrics = {
        **_mean_min_max("future_kl", fkl),
        **_mean_min_max("influence_weight", weight),
        # float64 sum: exp(FutureKL) of a far-moved policy is large (inf beyond e^88)
        "influence_weight/raw_mean": _mean(raw),
        # how far the weights act at all: 0 when FIPO is DAPO (an unmoved policy)
        "influence_weight/abs_dev_mean": _mean((weight.double() - 1.0).abs()),
        "influence_weight/clip_frac_upper": _mean(at_upper),
        "influence_weight/clip_frac_lower": _mean(at_lower),
        "influence_weight/clip_frac": _mean(at_upper | at_lower),
    }
    return _ModeTerms(loss, dropped, low, high, dual, metrics)


def _dropped_agg_units(dropped: Tensor, mask: Tensor, agg: str) -> float:
    """Tokens (token-mean) or responses (seq-mean-token-mean) of dropped responses."""
    if agg == "token-mean":
        return float((mask & dropped[:, None]).sum())
    if agg == "seq-mean-token-mean":
        return float((dropped & mask.any(dim=1)).sum())
    return 0.0


def _mean(values: Tensor) -> Tensor:
    return values.sum(dtype=torch.float64) / max(values.numel(), 1)


def _mean_min_max(name: str, values: Tensor) -> dict[str, Tensor]:
    if values.numel() == 0:
        zero = torch.zeros((), device=values.device)
        return {f"{name}/mean": zero, f"{name}/min": zero, f"{name}/max": zero}
    low, high = torch.aminmax(values)
    return {f"{name}/mean": _mean(values), f"{name}/min": low, f"{name}/max": high}


LOSS_MODES: dict[str, Callable[[_Batch, LossConfig], _ModeTerms]] = {
    "grpo": _plain_clipped,
    "dapo": _plain_clipped,
    "fipo": _fipo_clipped,
}


def policy_loss(
    logp: Tensor,
    old_logp: Tensor,
    advantages: Tensor,
    mask: Tensor,
    config: LossConfig,
    *,
    ref_logp: Tensor | None = None,
    token_normalizer: float | Tensor | None = None,
) -> LossResult:
    """The loss (gradient through `logp` only), its metrics and the responses it dropped.

    logp, old_logp, mask: [B, L]; advantages: [B] or [B, L]; ref_logp: [B, L], required when
    config.kl_coef > 0. `token_normalizer` replaces the aggregation's divisor: pass
    `agg_normalizer(minibatch_mask, config.agg)` (summed over the micro-batches of one optimiser
    mini-batch) and the micro-batch gradients add up to exactly the mini-batch gradient. Without
    it the divisor is this call's own (kept tokens / kept responses / responses x L).
    """
    _check_shapes(logp, old_logp, advantages, mask, ref_logp)
    if config.kl_coef > 0 and ref_logp is None:
        raise ValueError(f"kl_coef={config.kl_coef} > 0 needs ref_logp")
    valid = mask.bool()
    delta = (logp - old_logp.detach()).clamp(-DELTA_CLAMP, DELTA_CLAMP)
    batch = _Batch(
        advantages=_token_advantages(advantages, logp).detach().to(logp.dtype),
        mask=valid,
        ratio=torch.exp(delta),
        delta=delta.detach(),
    )
    terms = LOSS_MODES[config.mode](batch, config)
    responses = valid.any(dim=1)
    metrics: dict[str, Tensor] = {
        "clip_ratio/low": _masked_mean(terms.clipped_low.float(), valid),
        "clip_ratio/high": _masked_mean(terms.clipped_high.float(), valid),
        "clip_ratio/dual": _masked_mean(terms.dual_capped.float(), valid),
        # k1 estimate of KL(old || current) over the response tokens (verl's ppo_kl)
        "policy_kl": _masked_mean(-batch.delta, valid),
        # the fraction of responses dropped (0 outside FIPO's drop rule)
        "seq_dropped_frac": (terms.dropped & responses).sum() / responses.sum().clamp(min=1),
        **terms.metrics,
    }
    keep = valid & ~terms.dropped[:, None]
    pg_loss = aggregate(terms.token_loss, keep, config.agg, normalizer=token_normalizer)
    kl_loss = None
    if config.kl_coef > 0:
        assert ref_logp is not None
        log_ref_ratio = (ref_logp.detach() - logp).clamp(-DELTA_CLAMP, DELTA_CLAMP)
        # Schulman's k3 (>= 0), clamped at 10 as verl's low_var_kl does; averaged over every
        # response token, dropped or not (the official code aggregates its KL term apart)
        k3 = (torch.exp(log_ref_ratio) - log_ref_ratio - 1.0).clamp(max=10.0)
        kl_loss = config.kl_coef * aggregate(k3, valid, config.agg, normalizer=token_normalizer)
        metrics["kl/ref"] = _masked_mean(k3.detach(), valid)
    return LossResult(
        loss=pg_loss if kl_loss is None else pg_loss + kl_loss,
        pg_loss=pg_loss,
        kl_loss=kl_loss,
        metrics=_to_floats(metrics),
        dropped=terms.dropped,
        dropped_agg_units=_dropped_agg_units(terms.dropped, valid, config.agg),
    )


def agg_normalizer(mask: Tensor, agg: AggMode, *, max_response_tokens: int | None = None) -> float:
    """The divisor `agg` uses for a batch with this response mask [B, L].

    token-mean: number of response tokens; seq-mean-token-mean: number of non-empty responses;
    seq-mean-token-sum-norm (Dr. GRPO, as verl's agg_loss): non-empty responses x
    max_response_tokens (the mask's width L when not given, which varies with padding).
    All three add up over micro-batches.
    """
    _check_choice("agg", agg, get_args(AggMode))
    valid = mask.bool()
    if agg == "token-mean":
        return float(valid.sum().item())
    responses = float(valid.any(dim=1).sum().item())
    if agg == "seq-mean-token-mean":
        return responses
    if max_response_tokens is not None and max_response_tokens < 1:
        raise ValueError(f"max_response_tokens must be >= 1; got {max_response_tokens}")
    return responses * float(max_response_tokens or valid.shape[1])


def aggregate(
    token_values: Tensor, mask: Tensor, agg: AggMode, *, normalizer: float | Tensor | None = None
) -> Tensor:
    """Per-token values [B, L] -> one number the way `agg` averages the loss.

    token-mean: sum over masked tokens / their count; seq-mean-token-mean: mean over responses
    of each response's token mean; seq-mean-token-sum-norm: sum / (responses x L). `normalizer`
    replaces the divisor (see `agg_normalizer`). Used for the loss and for metrics that must be
    aggregated like it (the rollout policy's entropy, as verl logs actor/entropy).
    """
    _check_choice("agg", agg, get_args(AggMode))
    mask = mask.bool()
    kept = token_values * mask.to(token_values.dtype)
    if agg == "seq-mean-token-mean":
        tokens_per_seq = mask.sum(dim=1)
        per_seq = kept.sum(dim=1) / tokens_per_seq.clamp(min=1).to(token_values.dtype)
        total = per_seq.sum()
        default = (tokens_per_seq > 0).sum()
    elif agg == "seq-mean-token-sum-norm":
        total = kept.sum()
        default = mask.any(dim=1).sum() * mask.shape[1]
    else:  # token-mean over every kept token of the batch (not a mean of means)
        total = kept.sum()
        default = mask.sum()
    divisor = default if normalizer is None else normalizer
    if isinstance(divisor, Tensor):
        return total / divisor.to(total.dtype).clamp(min=1.0)
    if not divisor > 0:
        raise ValueError(f"token_normalizer must be > 0; got {divisor}")
    return total / divisor


def _token_advantages(advantages: Tensor, like: Tensor) -> Tensor:
    """Broadcast per-response advantages [B] to tokens [B, L]."""
    if advantages.dim() == 1:
        return advantages[:, None].expand_as(like)
    return advantages


def _check_shapes(
    logp: Tensor, old_logp: Tensor, advantages: Tensor, mask: Tensor, ref_logp: Tensor | None
) -> None:
    if logp.dim() != 2:
        raise ValueError(f"logp must be [B, L]; got shape {tuple(logp.shape)}")
    for name, t in (("old_logp", old_logp), ("mask", mask), ("ref_logp", ref_logp)):
        if t is not None and t.shape != logp.shape:
            raise ValueError(
                f"{name} must have logp's shape {tuple(logp.shape)}; got {tuple(t.shape)}"
            )
    if advantages.shape not in (logp.shape, logp.shape[:1]):
        raise ValueError(
            f"advantages must be [B] or [B, L] = {tuple(logp.shape)}; got {tuple(advantages.shape)}"
        )


def _masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    count = mask.sum()
    return torch.where(mask, values, 0).sum() / count.clamp(min=1).to(values.dtype)


def _to_floats(metrics: dict[str, Tensor]) -> dict[str, float]:
    """One device sync for all metrics instead of one per .item()."""
    names = list(metrics)
    values = torch.stack([metrics[n].detach().double().reshape(()) for n in names]).tolist()
    return dict(zip(names, values, strict=True))


def _check_choice(field: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{field}={value!r} is not one of {', '.join(allowed)}")
