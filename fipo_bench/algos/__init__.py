"""Pure math of the GRPO / DAPO / FIPO objective and the length statistics. No I/O, no package
imports. lengths.py is numpy-only; the torch modules load on first use (PEP 562), so reading a
length statistic does not import torch. The function `future_kl` shares its module's name, so it
is imported from its module: `from fipo_bench.algos.future_kl import future_kl`."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "group_advantages": "advantages",
    "group_advantages_2d": "advantages",
    "decay_gamma": "future_kl",
    "future_kl_chunked_reference": "future_kl",
    "influence_weights": "future_kl",
    "DEFAULT_HALF_LIFE": "losses",
    "LOSS_MODES": "losses",
    "LossConfig": "losses",
    "LossResult": "losses",
    "TokenCredit": "losses",
    "agg_normalizer": "losses",
    "aggregate": "losses",
    "fipo_token_credit": "losses",
    "policy_loss": "losses",
    "groups_with_signal": "rewards",
    "outcome_rewards": "rewards",
    "overlong_penalty": "rewards",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module fipo_bench.algos has no attribute {name!r}")
    return getattr(importlib.import_module(f"fipo_bench.algos.{module}"), name)
