"""`fipo-bench dashboard --db FILE [--port P]`: serve the Streamlit app in app/ on that file."""

from __future__ import annotations

import errno
import os
import socket
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from fipo_bench.commands.options import DbOption
from fipo_bench.errors import ConfigError, StoreError
from fipo_bench.store import DB_ENV_VAR, Store, default_db_path

PACKAGE = Path(__file__).resolve().parents[1]  # the fipo_bench folder this code runs from
SOURCE_APP = PACKAGE.parent / "app"  # a source checkout keeps the app beside the package


def app_entry() -> Path:
    """Home.py of the dashboard that belongs to the fipo_bench code running.

    The wheel ships the app as the fipo_bench.app package inside fipo_bench/; a source checkout
    keeps it in app/ beside the package. The checkout's copy wins over a fipo_bench.app found
    elsewhere: an editable install maps fipo_bench.app to the checkout it was installed from,
    which is another tree when this code runs from a second worktree."""
    try:
        installed = Path(str(resources.files("fipo_bench.app") / "Home.py"))
    except ModuleNotFoundError:
        installed = None
    if installed is not None and installed.is_relative_to(PACKAGE) and installed.is_file():
        return installed
    if (SOURCE_APP / "Home.py").is_file() or installed is None:
        return SOURCE_APP / "Home.py"
    return installed


def check_port_free(address: str, port: int) -> None:
    """ConfigError unless `port` can be bound on every address `address` resolves to (what
    the server will do), so a port in use is one line before anything is printed."""
    try:
        infos = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(
            f"--address {address} cannot be resolved ({exc.strerror}); give a host name or IP"
            " of this machine, e.g. localhost or 0.0.0.0"
        ) from None
    for family, kind, proto, _, where in infos:
        with socket.socket(family, kind, proto) as probe:
            # As the server binds: SO_REUSEADDR, so a socket in TIME_WAIT is not "in use".
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(where)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise ConfigError(
                        f"--port {port} is already in use on {address}; stop the program"
                        " serving it or choose another --port"
                    ) from None
                if exc.errno == errno.EADDRNOTAVAIL and family == socket.AF_INET6:
                    continue  # no IPv6 on this host: the server skips it too
                raise ConfigError(
                    f"cannot serve on {address}:{port} ({exc.strerror}); choose another"
                    " --address or --port"
                ) from None


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
        sys.executable, "-m", "streamlit", "run", str(app_entry()),
        "--server.port", str(cfg.port),
        "--server.address", cfg.address,
        "--server.headless", "true",
        "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",
        "--theme.base", "light",
        # Streamlit's default accent is red: chosen evals would look like errors.
        "--theme.primaryColor", "#1f4e79",
    ]  # fmt: skip


def dashboard(
    db: DbOption = None,
    port: Annotated[int, typer.Option("--port", help="Port to serve on.")] = 8501,
    address: Annotated[str, typer.Option("--address", help="Interface to bind.")] = "localhost",
) -> None:
    """Open the dashboard (runs, compare, trajectories, training, export) on a database."""
    cfg = DashboardConfig(db=default_db_path(db).resolve(), port=port, address=address)
    # Not DuckDB / not fipo-bench / a newer schema, or an older one the pages cannot read until
    # it is migrated: one line, exit 2, before anything is served.
    with Store(cfg.db, read_only=True).reading():
        pass
    entry = app_entry()
    if not entry.is_file():
        raise ConfigError(f"dashboard app {entry} is missing; reinstall fipo-bench")
    check_port_free(address, port)
    env = {**os.environ, DB_ENV_VAR: str(cfg.db)}
    typer.echo(f"fipo-bench dashboard on http://{address}:{port} (database {cfg.db})")
    sys.stdout.flush()
    # Become the Streamlit server (no child process): SIGTERM / Ctrl-C reach it directly, so
    # stopping `fipo-bench dashboard` never leaves a server running behind it.
    command = streamlit_command(cfg)
    os.execve(command[0], command, env)


def register(app: typer.Typer) -> None:
    app.command("dashboard")(dashboard)
