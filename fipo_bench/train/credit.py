"""Per-token credit of the real update, for the few rollouts a step logs.

After the step's updates, the logged rollouts are re-scored by the updated policy; delta,
Future-KL and the influence weight come from `algos.losses.fipo_token_credit`, the function the
FIPO loss itself calls, so the stored numbers are the loss's numbers, not a re-implementation.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from fipo_bench.algos.losses import LossConfig, fipo_token_credit
from fipo_bench.train.credit_rows import LoggedCredit
from fipo_bench.train.rollout_batch import RolloutBatch
from fipo_bench.train.update import UpdateSettings, score_rows


def token_credit(
    policy: torch.nn.Module,
    batch: RolloutBatch,
    rows: Sequence[int],
    old_logp: torch.Tensor,
    loss_config: LossConfig,
    update: UpdateSettings,
) -> LoggedCredit:
    """delta = updated - rollout policy log-prob, FutureKL, influence weight, entropy for `rows`."""
    new_logp, entropy = score_rows(
        policy,
        batch,
        rows,
        samples_per_microbatch=update.samples_per_microbatch,
        chunk_tokens=update.chunk_tokens,
        temperature=update.temperature,
    )
    mask = batch.response_mask[list(rows)]
    credit = fipo_token_credit(
        new_logp, old_logp[list(rows)], batch.advantages[list(rows)], mask, loss_config
    )
    # GRPO/DAPO losses weigh every token by 1; store what the loss used, while Future-KL (a
    # property of how the policy moved) is informative for every algorithm.
    weight = credit.weight if loss_config.mode == "fipo" else torch.ones_like(credit.weight)
    return LoggedCredit(
        delta=credit.delta * mask,
        future_kl=credit.future_kl * mask,
        influence_weight=weight * mask,
        entropy=entropy,
        response_mask=mask,
    )
