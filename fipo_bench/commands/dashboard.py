"""`fipo-bench dashboard --db FILE [--port P]`: serve the Streamlit app in app/ on that file."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from fipo_bench.errors import ConfigError, StoreError
from fipo_bench.store import DB_ENV_VAR, Store, default_db_path

APP_ENTRY = Path(__file__).resolve().parents[2] / "app" / "Home.py"


@dataclass(frozen=True)
class DashboardConfig:
    db: Path
    port: int = 8501
    address: str = "localhost"

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"--port {self.port} is invalid; allowed: 1..65535")
        if not self.db.exists():
            raise StoreError(
                f"database {self.db} does not exist; give an existing fipo-bench .duckdb file"
                " (`fipo-bench eval` or `fipo-bench train` create one)"
            )
        if self.db.is_dir():
            raise StoreError(f"--db {self.db} is a folder; give a fipo-bench .duckdb file")


def streamlit_command(cfg: DashboardConfig) -> list[str]:
    """The `streamlit run` command line (the db path travels in the environment)."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP_ENTRY),
        "--server.port", str(cfg.port),
        "--server.address", cfg.address,
        "--server.headless", "true",
        "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",
        "--theme.base", "light",
    ]  # fmt: skip


def dashboard(
    db: Annotated[
        str | None,
        typer.Option("--db", help=f"DuckDB file (default: ${DB_ENV_VAR}, else fipo_bench.duckdb)."),
    ] = None,
    port: Annotated[int, typer.Option("--port", help="Port to serve on.")] = 8501,
    address: Annotated[str, typer.Option("--address", help="Interface to bind.")] = "localhost",
) -> None:
    """Open the dashboard (runs, compare, trajectories, training, export) on a database."""
    cfg = DashboardConfig(db=default_db_path(db).resolve(), port=port, address=address)
    Store(cfg.db, read_only=True)  # not DuckDB / not fipo-bench / newer schema: one line, exit 2
    if not APP_ENTRY.is_file():
        raise ConfigError(f"dashboard app {APP_ENTRY} is missing; run from a source checkout")
    env = {**os.environ, DB_ENV_VAR: str(cfg.db)}
    typer.echo(f"fipo-bench dashboard on http://{address}:{port} (database {cfg.db})")
    sys.stdout.flush()
    # Become the Streamlit server (no child process): SIGTERM / Ctrl-C reach it directly, so
    # stopping `fipo-bench dashboard` never leaves a server running behind it.
    command = streamlit_command(cfg)
    os.execve(command[0], command, env)


def register(app: typer.Typer) -> None:
    app.command("dashboard")(dashboard)
