"""One typed config tree for training (tree.py), its presets (presets*.py) and the ways in and
out: `--set group.field=value` overrides and stored JSON (overrides.py)."""

from fipo_bench.algos.losses import LossConfig
from fipo_bench.config.overrides import (
    apply_overrides,
    config_from_dict,
    config_to_dict,
    leaf_keys,
    loss_with_overrides,
    merge_overrides,
    validate,
)
from fipo_bench.config.presets import describe, get_preset, preset_names, preset_sources
from fipo_bench.config.tree import (
    OptimiserConfig,
    RewardsConfig,
    RolloutConfig,
    RunConfig,
    TrainConfig,
    UpdateConfig,
    ValidationConfig,
)

__all__ = [
    "LossConfig",
    "OptimiserConfig",
    "RewardsConfig",
    "RolloutConfig",
    "RunConfig",
    "TrainConfig",
    "UpdateConfig",
    "ValidationConfig",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "describe",
    "get_preset",
    "leaf_keys",
    "loss_with_overrides",
    "merge_overrides",
    "preset_names",
    "preset_sources",
    "validate",
]
