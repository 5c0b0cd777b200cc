"""`fipo-bench presets [NAME]`: list the named training configurations, or show one in full
with the source of every value."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table


def presets(
    name: Annotated[
        str | None, typer.Argument(help="Show every value of this preset (omit to list them).")
    ] = None,
    output_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="table, or verl: the hydra overrides that reproduce the preset in verl 0.9,"
            " one per line.",
        ),
    ] = "table",
) -> None:
    """List the presets, or print every value of one and where it comes from (use them with
    `train --preset NAME` and change any value with `--set group.field=value`)."""
    from fipo_bench.errors import ConfigError

    if output_format not in ("table", "verl"):
        raise ConfigError(f"--format {output_format!r} is unknown; allowed: table, verl")
    if output_format == "verl":
        if name is None:
            raise ConfigError("--format verl needs a preset NAME (`fipo-bench presets` lists them)")
        from fipo_bench.config import get_preset
        from fipo_bench.integrations.verl_presets import verl_overrides

        typer.echo("\n".join(verl_overrides(get_preset(name))))
        return
    from rich.markup import escape

    from fipo_bench.config import config_to_dict, describe, get_preset, preset_names
    from fipo_bench.config import preset_sources as sources_of

    console = Console(highlight=False)
    if not console.is_terminal:  # piped or captured: no wrapping inside keys and sources
        console = Console(highlight=False, width=160)
    if name is None:
        table = Table("preset", "algo", "updates/step", "description", title="presets")
        for preset_name in preset_names():
            cfg = get_preset(preset_name)
            table.add_row(preset_name, cfg.algo, str(cfg.updates_per_step), describe(preset_name))
        console.print(table)
        return
    cfg = get_preset(name)  # ConfigError (exit 2) for an unknown name
    sources = sources_of(name)
    table = Table("setting (--set key)", "value", "source", title=f"{name}: {describe(name)}")
    for key, value in flatten(config_to_dict(cfg)):
        table.add_row(key, escape(show(value)), escape(sources.get(key, "(default)")))
    table.add_row("(updates per step)", str(cfg.updates_per_step), "prompts / mini-batch")
    console.print(table)


def flatten(values: dict, prefix: str = "") -> list[tuple[str, object]]:
    """Nested config dict -> (dotted key, value) rows, in declaration order."""
    rows: list[tuple[str, object]] = []
    for key, value in values.items():
        if isinstance(value, dict):
            rows.extend(flatten(value, f"{prefix}{key}."))
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


def show(value: object) -> str:
    """A value in the form `--set` accepts."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, list):
        return "[" + ",".join(str(v) for v in value) + "]"
    return str(value)


def register(app: typer.Typer) -> None:
    app.command("presets")(presets)
