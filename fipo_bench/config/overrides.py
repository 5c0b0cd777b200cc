"""The ways into and out of a TrainConfig: `--set` overrides, stored JSON, and its error messages.

An override is `group.field=value` (`loss.half_life=16`, `optimiser.betas=[0.9,0.95]`). The value
is read as JSON when it parses as JSON (numbers, true/false, null, lists) and as text otherwise
(`loss.mode=fipo`), then the whole tree is validated by pydantic in JSON mode, so a stored config
(run.json, the store) and the command line go through exactly the same checks.
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from fipo_bench.algos.losses import LossConfig
from fipo_bench.config.base import describe_error
from fipo_bench.config.tree import TrainConfig
from fipo_bench.errors import ConfigError

_NONE_WORDS = ("none", "null")


def config_to_dict(cfg: TrainConfig) -> dict[str, Any]:
    """Plain JSON-ready nested dict (tuples become lists)."""
    return cfg.model_dump(mode="json")


def config_from_dict(data: Mapping[str, Any], *, what: str = "config") -> TrainConfig:
    """A stored config back into a validated TrainConfig (ConfigError naming the bad key)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"a stored {what} must be a JSON object; got {type(data).__name__}")
    return validate(TrainConfig, data, what=what)


def apply_overrides(cfg: TrainConfig, overrides: Sequence[str]) -> TrainConfig:
    """`["loss.half_life=16", "optimiser.lr=1e-5"]` applied to `cfg`, validated as a whole (so
    `loss.mode=fipo update.mini_batch_prompts=4` works in one go)."""
    return validate(TrainConfig, merge_overrides(config_to_dict(cfg), overrides, TrainConfig))


class _LossOnly(BaseModel):
    """The `loss` branch of the tree alone: what `fipo-bench credit --set loss.KEY=VALUE` sets."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    loss: LossConfig


def loss_with_overrides(loss: LossConfig, overrides: Sequence[str]) -> LossConfig:
    """`["loss.half_life=16"]` applied to a loss config alone, validated like the whole tree."""
    values = merge_overrides({"loss": loss.model_dump(mode="json")}, overrides, _LossOnly)
    return validate(_LossOnly, values, what="loss config").loss


def merge_overrides(
    values: dict[str, Any], overrides: Sequence[str], model: type[BaseModel]
) -> dict[str, Any]:
    """`values` (a nested dict of `model`) with each `a.b=value` set; unknown keys refused."""
    merged = json.loads(json.dumps(values))  # a deep copy that stays JSON
    known = _leaf_keys(model)
    text_keys = set(_text_keys(model))
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(
                f"override {item!r} must look like key=value (e.g. optimiser.lr=1e-5)"
            )
        if key not in known:
            raise ConfigError(_unknown_key_message(key, known))
        *parents, leaf = key.split(".")
        node = merged
        for part in parents:
            node = node.setdefault(part, {})
        value = text.strip()
        node[leaf] = _parse_text(value) if key in text_keys else _parse_value(value)
    return merged


def validate(model: type[BaseModel], data: Mapping[str, Any], *, what: str = "config") -> Any:
    """`model` validated from JSON-like data; the first problem as a one-line ConfigError."""
    try:
        return model.model_validate_json(json.dumps(data))
    except ValidationError as err:
        unknown = functools.partial(_unknown_key_message, known=_leaf_keys(model))
        raise ConfigError(describe_error(err, unknown_key=unknown, what=what)) from None
    except (TypeError, ValueError) as err:  # not JSON-serialisable input
        raise ConfigError(f"{what} is not valid: {err}") from None


def leaf_keys(model: type[BaseModel] = TrainConfig) -> list[str]:
    """Every settable dotted key of `model`, in declaration order."""
    return _leaf_keys(model)


def _leaves(model: type[BaseModel], prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted key, annotation) of every leaf field, nested groups walked in order."""
    leaves: list[tuple[str, Any]] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            leaves.extend(_leaves(annotation, f"{prefix}{name}."))
        else:
            leaves.append((f"{prefix}{name}", annotation))
    return leaves


def _leaf_keys(model: type[BaseModel]) -> list[str]:
    return [key for key, _ in _leaves(model)]


def _text_keys(model: type[BaseModel]) -> list[str]:
    """Keys whose field holds text: `--set rollout.data=2024` is the file name "2024"."""
    return [key for key, kind in _leaves(model) if kind is str or kind == (str | None)]


def _parse_text(text: str) -> str | None:
    return None if text.lower() in _NONE_WORDS else text


def _parse_value(text: str) -> Any:
    if text.lower() in _NONE_WORDS:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text  # plain text: a mode, a template, a file name


def _unknown_key_message(key: str, known: list[str]) -> str:
    leaf = key.rsplit(".", 1)[-1]
    # A flat name from an older version (`lr`) most likely means the one leaf of that name.
    same_leaf = [k for k in known if k.rsplit(".", 1)[-1] == leaf]
    close = same_leaf or difflib.get_close_matches(key, known, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    groups = sorted({k.split(".", 1)[0] for k in known})
    return f"unknown setting {key!r}{hint} (keys are group.field; groups: {', '.join(groups)})"
