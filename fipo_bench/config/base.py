"""The base of every validated settings model, and how its errors read.

Pydantic checks types, ranges and cross-field rules. Built in code, a model raises pydantic's
ValidationError (a ValueError); at the boundary (`--set` text, command-line flags, stored JSON)
`fipo_bench.config.validate` turns the first problem into one ConfigError line that names the
key, the value and what is allowed.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError


class ConfigModel(BaseModel):
    # Strict types (a bool is not an int, text is not a number); non-finite numbers refused.
    # (No custom __init__: pydantic would call it for nested models too, losing the key path.)
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


def describe_error(err: ValidationError, *, unknown_key: Any, what: str = "config") -> str:
    """The first problem of a ValidationError as one line. `unknown_key(key) -> str` phrases an
    unknown key (with suggestions); None: a plain 'unknown setting'."""
    first = err.errors(include_url=False)[0]
    key = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        return unknown_key(key) if unknown_key else f"unknown setting {key!r}"
    if first["type"] == "missing":
        return f"{what} lacks {key!r}"
    shown = first.get("input")
    if isinstance(shown, dict):  # a cross-field rule of a group: its message names the fields
        return f"{key}: {message}" if key else message
    value = json.dumps(shown) if isinstance(shown, str | int | float | bool | None) else shown
    return f"{key}={value} is invalid: {message}"
