"""Options several commands share, declared once so their flag and help read alike."""

from __future__ import annotations

from typing import Annotated

import typer

from fipo_bench.store.paths import DB_ENV_VAR

DbOption = Annotated[
    str | None,
    typer.Option("--db", help=f"DuckDB file (default: ${DB_ENV_VAR}, else fipo_bench.duckdb)."),
]
