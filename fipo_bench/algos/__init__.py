"""Pure tensor math of the GRPO / DAPO / FIPO objective. No I/O, no package imports."""

from fipo_bench.algos.advantages import group_advantages, group_advantages_2d
from fipo_bench.algos.future_kl import (
    decay_gamma,
    future_kl,
    future_kl_chunked_reference,
    influence_weights,
)
from fipo_bench.algos.losses import (
    LOSS_MODES,
    LossConfig,
    TokenCredit,
    agg_normalizer,
    fipo_token_credit,
    policy_loss,
)
from fipo_bench.algos.rewards import groups_with_signal, outcome_rewards, overlong_penalty

__all__ = [
    "LOSS_MODES",
    "LossConfig",
    "TokenCredit",
    "agg_normalizer",
    "decay_gamma",
    "fipo_token_credit",
    "future_kl",
    "future_kl_chunked_reference",
    "group_advantages",
    "group_advantages_2d",
    "groups_with_signal",
    "influence_weights",
    "outcome_rewards",
    "overlong_penalty",
    "policy_loss",
]
