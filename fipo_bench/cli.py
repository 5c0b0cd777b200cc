"""`fipo-bench <command>`: one Typer app assembled from fipo_bench/commands/*.

Each command module exposes `register(app: typer.Typer) -> None`. Errors of the
`FipoBenchError` family are printed as one line and exit with status 2.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import typer
from rich.console import Console

from fipo_bench.errors import FipoBenchError

# Order is the order of `fipo-bench --help`.
COMMAND_MODULES = (
    "demo",
    "train",
    "eval",
    "credit",
    "compare",
    "report",
    "verify",
    "imports",
    "dashboard",
    "presets",
    "model",
    "db",
)

app = typer.Typer(
    name="fipo-bench",
    help="Train (GRPO/DAPO/FIPO), evaluate and inspect RL-for-reasoning runs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        module_name = f"fipo_bench.commands.{name}"
        if importlib.util.find_spec(module_name) is None:
            continue
        importlib.import_module(module_name).register(app)


_register_commands()


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point. Returns the process exit status."""
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        result = app(args=argv, standalone_mode=False)
    except FipoBenchError as exc:
        err.print(f"[bold red]error:[/] {exc}", markup=True)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        err.print("aborted")
        return 130
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    except Exception as exc:  # click usage errors arrive as click.exceptions.UsageError
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return 2
        raise
    # click returns an int exit code for typer.Exit in non-standalone mode, else the command's value
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
