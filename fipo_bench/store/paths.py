"""Where the database file lives when the user does not say."""

from __future__ import annotations

import os
from pathlib import Path

DB_ENV_VAR = "FIPO_BENCH_DB"
DEFAULT_DB_FILE = "fipo_bench.duckdb"


def default_db_path(cli_value: str | os.PathLike[str] | None = None) -> Path:
    """The database path: the CLI value if given, else $FIPO_BENCH_DB, else ./fipo_bench.duckdb."""
    if cli_value is not None and str(cli_value) != "":
        return Path(cli_value)
    env_value = os.environ.get(DB_ENV_VAR, "")
    return Path(env_value) if env_value else Path(DEFAULT_DB_FILE)
