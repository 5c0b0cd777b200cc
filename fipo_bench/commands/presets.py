"""`fipo-bench presets [NAME]`: list the named training configurations, or show one in full."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table


def presets(
    name: Annotated[
        str | None, typer.Argument(help="Show every value of this preset (omit to list them).")
    ] = None,
) -> None:
    """List the presets, or print every value of one (use them with `train --preset`)."""
    from fipo_bench.presets import PRESET_DESCRIPTIONS, PRESETS, config_to_dict, get_preset

    console = Console(highlight=False)
    if name is None:
        table = Table("preset", "algo", "description", title="presets")
        for preset_name, cfg in PRESETS.items():
            table.add_row(preset_name, cfg.algo, PRESET_DESCRIPTIONS.get(preset_name, ""))
        console.print(table)
        return
    cfg = get_preset(name)  # ConfigError (exit 2) for an unknown name
    table = Table("setting", "value", title=f"{name}: {PRESET_DESCRIPTIONS.get(name, '')}")
    for key, value in _flatten(config_to_dict(cfg)):
        table.add_row(key, _show(value))
    table.add_row("(updates per step)", str(cfg.updates_per_step))
    console.print(table)


def _flatten(values: dict, prefix: str = "") -> list[tuple[str, object]]:
    rows: list[tuple[str, object]] = []
    for key, value in values.items():
        if isinstance(value, dict):
            rows.extend(_flatten(value, f"{prefix}{key}."))
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)  # the form --set accepts
    return str(value)


def register(app: typer.Typer) -> None:
    app.command("presets")(presets)
