"""Per-token credit of the real update, for the few rollouts a step logs.

After the step's updates, the logged rollouts are re-scored by the updated policy; delta,
Future-KL and the influence weight come from `algos.losses.fipo_token_credit`, the function the
FIPO loss itself calls, so the stored numbers are the loss's numbers, not a re-implementation.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from fipo_bench.algos.losses import fipo_token_credit
from fipo_bench.config.tree import TrainConfig
from fipo_bench.train.credit_rows import LoggedCredit
from fipo_bench.train.rollout_batch import RolloutBatch
from fipo_bench.train.update import score_rows


def token_credit(
    policy: torch.nn.Module,
    batch: RolloutBatch,
    rows: Sequence[int],
    old_logp: torch.Tensor,
    cfg: TrainConfig,
) -> LoggedCredit:
    """delta = updated - rollout policy log-prob, FutureKL, influence weight, entropy for `rows`."""
    new_logp, entropy = score_rows(policy, batch, rows, cfg)
    mask = batch.response_mask[list(rows)]
    loss_config = cfg.loss
    credit = fipo_token_credit(
        new_logp, old_logp[list(rows)], batch.advantages[list(rows)], mask, loss_config
    )
    # GRPO/DAPO losses weigh every token by 1; store what the loss used, while Future-KL (a
    # property of how the policy moved) is informative for every algorithm.
    weight = credit.weight if loss_config.mode == "fipo" else torch.ones_like(credit.weight)
    return LoggedCredit(
        logp=old_logp[list(rows)] * mask,
        delta=credit.delta * mask,
        future_kl=credit.future_kl * mask,
        influence_weight=weight * mask,
        entropy=entropy,
        response_mask=mask,
    )
