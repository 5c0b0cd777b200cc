"""FIPO in TRL: `FIPOConfig` (a GRPOConfig with the FIPO keys) and `FIPOTrainer` (a GRPOTrainer
whose loss is `fipo_bench.algos.policy_loss`).

    from fipo_bench.integrations.trl import FIPOConfig, FIPOTrainer
    args = FIPOConfig(output_dir="out", num_iterations=2, half_life=32.0, ...)
    FIPOTrainer(model=..., reward_funcs=..., args=args, train_dataset=...).train()

The trainer overrides TRL's private `_compute_loss` (it accepts [B] or [B, T] advantages), so
it is pinned to the TRL version it was written against (TRL_PIN); another version is refused.
TRL keys map onto fipo-bench's LossConfig: epsilon -> clip_low, epsilon_high -> clip_high,
beta -> kl_coef (k3 to the reference model); the FIPO keys keep their fipo-bench names.

FIPO needs old log-probs from a policy that has since moved. TRL computes them only when a
generation batch outlives one optimiser step, i.e. when gradient_accumulation_steps is not a
multiple of steps_per_generation x num_iterations (num_iterations >= 2, or steps_per_generation
> gradient_accumulation_steps); any other setting would make every influence weight 1 and
FIPO silently DAPO, so FIPOConfig refuses it.

Aggregation follows TRL's own normalisers: token-mean is TRL's `dapo` (tokens of the whole
accumulation window), seq-mean-token-mean its `grpo`, seq-mean-token-sum-norm its `dr_grpo`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from fipo_bench.algos.losses import LossConfig, LossResult, policy_loss
from fipo_bench.config import validate
from fipo_bench.errors import ConfigError
from fipo_bench.integrations import check_version, import_extra

TRL_PIN = "trl==1.16.*"
_trl = import_extra("trl", extra="trl", pin=TRL_PIN)
check_version("trl", _trl.__version__, TRL_PIN)

from trl import GRPOConfig, GRPOTrainer  # noqa: E402

_DEFAULTS = LossConfig(mode="fipo")
# Inputs TRL's forward pass takes besides the token ids (multimodal models); passed through.
_FORWARD_KEYS = (
    "pixel_values",
    "image_grid_thw",
    "num_images",
    "pixel_attention_mask",
    "spatial_shapes",
    "num_tiles",
    "image_sizes",
    "token_type_ids",
    "mm_token_type_ids",
    "image_position_ids",
)


def _help(text: str) -> dict[str, Any]:
    return {"metadata": {"help": text}}


@dataclass
class FIPOConfig(GRPOConfig):
    """GRPOConfig plus FIPO's keys (defaults: fipo-bench's LossConfig, the paper's 32B run)."""

    loss_type: str = field(default="fipo", **_help("Always 'fipo' (the FIPO objective)."))
    epsilon_high: float | None = field(
        default=_DEFAULTS.clip_high, **_help("Upper clip range (DAPO clip-higher).")
    )
    dual_clip_c: float | None = field(
        default=_DEFAULTS.dual_clip_c,
        **_help("Dual-clip c, also Future-KL's outlier mask; None disables both."),
    )
    half_life: float = field(default=_DEFAULTS.half_life, **_help("Future-KL half-life, tokens."))
    influence_low: float = field(default=_DEFAULTS.influence_low, **_help("Weight clip, low."))
    influence_high: float = field(default=_DEFAULTS.influence_high, **_help("Weight clip, high."))
    safety_threshold: float = field(
        default=_DEFAULTS.safety_threshold,
        **_help("Negative-advantage tokens with a ratio above this get weights in [0.8, 1]."),
    )
    safety_mode: str = field(default=_DEFAULTS.safety_mode, **_help("clamp (code) or reset."))
    drop_dual_clipped_seqs: bool = field(
        default=_DEFAULTS.drop_dual_clipped_seqs,
        **_help("Drop a response with more than one dual-clipped token."),
    )
    agg: str = field(
        default=_DEFAULTS.agg,
        **_help("token-mean (TRL dapo), seq-mean-token-mean (grpo), seq-mean-token-sum-norm."),
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.loss_type != "fipo":
            raise ConfigError(
                f"FIPOConfig.loss_type={self.loss_type!r} must be 'fipo' (use GRPOConfig for "
                "TRL's own losses)"
            )
        _refuse_unsupported(self)
        generate_every = self.steps_per_generation * self.num_iterations
        if self.gradient_accumulation_steps % generate_every == 0:
            raise ConfigError(
                f"FIPO needs old log-probs from a moved policy, but gradient_accumulation_steps="
                f"{self.gradient_accumulation_steps} is a multiple of steps_per_generation x "
                f"num_iterations = {self.steps_per_generation} x {self.num_iterations}, so every "
                "completion is trained on by the policy that sampled it (every influence weight "
                "1: FIPO would be DAPO); set num_iterations >= 2 or steps_per_generation > "
                "gradient_accumulation_steps"
            )
        self.loss_config()  # validate the FIPO keys now

    def loss_config(self) -> LossConfig:
        """The fipo-bench LossConfig these arguments describe."""
        high = self.epsilon_high if self.epsilon_high is not None else self.epsilon
        values = {
            "mode": "fipo",
            "clip_low": float(self.epsilon),
            "clip_high": float(high),
            "dual_clip_c": self.dual_clip_c,
            "agg": self.agg,
            "half_life": self.half_life,
            "influence_low": self.influence_low,
            "influence_high": self.influence_high,
            "safety_threshold": self.safety_threshold,
            "safety_mode": self.safety_mode,
            "drop_dual_clipped_seqs": self.drop_dual_clipped_seqs,
            "kl_coef": float(self.beta),
        }
        return validate(LossConfig, values, what="FIPOConfig")


def _refuse_unsupported(args: FIPOConfig) -> None:
    """GRPOTrainer options that reshape its own loss and have no FIPO counterpart."""
    unsupported = {
        "importance_sampling_level": (args.importance_sampling_level, "token"),
        "top_entropy_quantile": (args.top_entropy_quantile, 1.0),
        "off_policy_mask_threshold": (args.off_policy_mask_threshold, None),
        "delta": (args.delta, None),
        "entropy_coef": (args.entropy_coef, 0.0),
        "use_adaptive_entropy": (args.use_adaptive_entropy, False),
    }
    if args.use_vllm:
        unsupported["vllm_importance_sampling_correction"] = (
            args.vllm_importance_sampling_correction,
            False,
        )
    for name, (value, allowed) in unsupported.items():
        if value != allowed:
            raise ConfigError(
                f"FIPOConfig.{name}={value!r} is not supported by the FIPO loss (allowed: "
                f"{allowed!r})"
            )


class FIPOTrainer(GRPOTrainer):
    """GRPOTrainer with FIPO's objective; everything else (generation, rewards, advantages,
    logging, vLLM) is TRL's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        config = kwargs.get("args", args[2] if len(args) > 2 else None)
        if not isinstance(config, FIPOConfig):
            raise ConfigError(
                f"FIPOTrainer needs args=FIPOConfig(...); got {type(config).__name__}"
            )
        super().__init__(*args, **kwargs)
        self.fipo_loss = config.loss_config()

    def _compute_loss(self, model: Any, inputs: dict[str, Any]) -> torch.Tensor:
        prompt_ids, prompt_mask = inputs["prompt_ids"], inputs["prompt_mask"]
        completion_ids, completion_mask = inputs["completion_ids"], inputs["completion_mask"]
        mask = (
            completion_mask if "tool_mask" not in inputs else completion_mask * inputs["tool_mask"]
        )
        logp, entropies, aux_loss = self._get_per_token_logps_and_entropies(
            model,
            torch.cat([prompt_ids, completion_ids], dim=1),
            torch.cat([prompt_mask, completion_mask], dim=1),
            completion_ids.size(1),
            compute_entropy=True,
            compute_aux_loss=self.aux_loss_enabled,
            **{key: inputs.get(key) for key in _FORWARD_KEYS},
        )
        # Present whenever FIPOConfig's rule holds; TRL skips it for an unmoved policy (eval).
        old_logp = inputs.get("old_per_token_logps")
        old_logp = logp.detach() if old_logp is None else old_logp
        mode = "train" if self.model.training else "eval"
        accumulation = self.current_gradient_accumulation_steps if mode == "train" else 1
        result = policy_loss(
            logp,
            old_logp,
            inputs["advantages"],
            mask,
            self.fipo_loss,
            ref_logp=inputs.get("ref_per_token_logps") if self.beta != 0.0 else None,
            token_normalizer=self._normalizer(inputs, mask, mode, accumulation),
        )
        loss = result.loss
        if self.aux_loss_enabled:  # as TRL scales it: once per accumulation window
            loss = loss + self.router_aux_loss_coef * aux_loss / accumulation
        self._log_fipo(result, entropies, mask, mode)
        return loss

    def _normalizer(
        self, inputs: dict[str, Any], mask: torch.Tensor, mode: str, accumulation: int
    ) -> float:
        """The divisor TRL's own loss of the same aggregation uses (so f = 1 gives TRL's loss)."""
        agg = self.fipo_loss.agg
        if agg == "token-mean":  # TRL's dapo: tokens of the generation batch, per window
            tokens = float(inputs["num_items_in_batch"].clamp(min=1.0))
            tokens /= self.accelerator.num_processes
            if mode == "train":
                tokens = tokens * accumulation / self.args.steps_per_generation
            return tokens
        rows = float(mask.shape[0])
        if agg == "seq-mean-token-mean":  # TRL's grpo: mean over this batch's responses
            return rows * accumulation
        return rows * self.max_completion_length * accumulation  # TRL's dr_grpo

    def _log_fipo(
        self, result: LossResult, entropies: torch.Tensor, mask: torch.Tensor, mode: str
    ) -> None:
        """fipo-bench's metrics in TRL's style: a value per step, reduced over processes."""
        m = result.metrics
        named = {
            "clip_ratio/low_mean": m["clip_ratio/low"],
            "clip_ratio/high_mean": m["clip_ratio/high"],
            "clip_ratio/region_mean": m["clip_ratio/low"] + m["clip_ratio/high"],
            "clip_ratio/dual_mean": m["clip_ratio/dual"],
            **{k: v for k, v in m.items() if k.startswith(("future_kl/", "influence_weight/"))},
            "seq_dropped_frac": m["seq_dropped_frac"],
        }
        if "kl/ref" in m:
            named["kl"] = m["kl/ref"]
        values = torch.tensor(list(named.values()), dtype=torch.float64, device=mask.device)
        gathered = self.accelerator.gather(values[None]).reshape(-1, len(named))
        for index, name in enumerate(named):
            column = gathered[:, index]
            if name.endswith("/min"):
                value = column.min()
            elif name.endswith("/max"):
                value = column.max()
            else:
                value = column.mean()
            self._metrics[mode][name].append(value.item())
        # TRL's entropy: token-weighted over every process's completions.
        totals = torch.stack([(entropies * mask).sum(), mask.sum().to(entropies.dtype)])
        totals = self.accelerator.reduce(totals.detach(), reduction="sum")
        self._metrics[mode]["entropy"].append((totals[0] / totals[1].clamp(min=1.0)).item())
