"""`fipo-bench <command>`: one Typer app assembled from fipo_bench/commands/*.

Each command module exposes `register(app: typer.Typer) -> None`. `main` turns every way a
command can end into an exit status and at most one message line (plus the usage line for a
usage error) on stderr; no traceback reaches the user:

- `FipoBenchError` (bad value, corrupt file, lock, ...): its one line, exit 2;
- a usage error (unknown command or option, missing option, wrongly typed value): usage line +
  one line, exit 2; bare `fipo-bench` (or a bare group) prints the help to stderr, exit 2;
- an OS error the commands did not translate (disk full, read-only or missing path): one line
  naming the file, exit 2;
- Ctrl-C: "interrupted", exit 130;
- anything else is a bug: one line with the exception and the path of a file holding the
  traceback, exit 1.
"""

from __future__ import annotations

import errno
import importlib
import importlib.util
import os
import sys
import tempfile
import traceback
from types import ModuleType

import typer
from rich.console import Console
from rich.text import Text

from fipo_bench.errors import FipoBenchError

PROG_NAME = "fipo-bench"

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

EXIT_BAD_INPUT = 2
EXIT_BUG = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C

app = typer.Typer(
    name=PROG_NAME,
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


# ------------------------------------------------------------------ click's exception families


def _exception_modules() -> list[ModuleType]:
    """typer >= 0.26 raises the exceptions of the click it vendors (`typer._click`), older typer
    those of click itself, and a command may raise click's own: handle whichever are loaded.
    Found through the class typer exports rather than a module name, so a future move of the
    vendored copy changes nothing here."""
    modules = [sys.modules[typer.BadParameter.__module__]]
    click_exceptions = sys.modules.get("click.exceptions")  # only a loaded click can raise
    if click_exceptions is not None and click_exceptions not in modules:
        modules.append(click_exceptions)
    return modules


def _classes(name: str, *extra: type[BaseException]) -> tuple[type[BaseException], ...]:
    """Every loaded click family's exception class called `name` (absent ones skipped:
    NoArgsIsHelpError is click >= 8.2 only; typer >= 0.26 keeps Exit and Abort in typer)."""
    found = (getattr(module, name, None) for module in _exception_modules())
    return (*extra, *(cls for cls in found if isinstance(cls, type)))


# ------------------------------------------------------------------ rendering


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _bad_input(exc: BaseException) -> object | None:
    """The value a typed option rejected. typer >= 0.26 validates option types with pydantic and
    its message omits the value ("Input should be a valid integer"); click's own names it."""
    pydantic_core = sys.modules.get("pydantic_core")
    if pydantic_core is None or not isinstance(exc.__cause__, pydantic_core.ValidationError):
        return None
    return next((error["input"] for error in exc.__cause__.errors() if "input" in error), None)


def _usage_message(exc: BaseException) -> str:
    message = _one_line(exc.format_message())  # type: ignore[attr-defined]
    value = _bad_input(exc)
    if value is not None and repr(value) not in message:
        message = f"{message}, got {value!r}"
    ctx = getattr(exc, "ctx", None)
    command_path = ctx.command_path if ctx is not None else PROG_NAME
    return f"{message.rstrip('.')} (see '{command_path} --help')"


def _missing_command_message(exc: BaseException) -> str:
    ctx = exc.ctx  # type: ignore[attr-defined]
    list_commands = getattr(ctx.command, "list_commands", None)
    if list_commands is None:  # a command (not a group) that asks for its help when bare
        return f"'{ctx.command_path}' needs arguments (see '{ctx.command_path} --help')"
    return f"'{ctx.command_path}' needs a command, one of: {', '.join(list_commands(ctx))}"


def _os_error_message(exc: OSError) -> str | None:
    """One line for an OS error that names a file or says the disk is full; None otherwise."""
    where = " ".join(repr(str(name)) for name in (exc.filename, exc.filename2) if name)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        target = f" while writing {where}" if where else ""
        return f"disk full{target}: free some space (or point --db/--out elsewhere) and rerun"
    if where and exc.errno is not None:
        return f"cannot use {where}: {exc.strerror or os.strerror(exc.errno)}"
    return None


def _bug_message(exc: BaseException) -> str:
    """Keep the traceback for a bug report without showing it: it goes to a file."""
    text = "".join(traceback.format_exception(exc))
    try:
        fd, path = tempfile.mkstemp(prefix="fipo-bench-traceback-", suffix=".txt")
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        where = f"the traceback is in {path}"
    except OSError:
        where = "the traceback could not be saved"
    summary = _one_line(f"{type(exc).__name__}: {exc}")[:300]
    return f"unexpected {summary}. This is a bug in fipo-bench; {where}"


# ------------------------------------------------------------------ entry point


def _run(argv: list[str] | None) -> object:
    """Parse and invoke without click's own error handling, so every ending reaches `main`
    (typer's standalone handling would turn Ctrl-C into a silent exit 130)."""
    args = sys.argv[1:] if argv is None else list(argv)
    command = typer.main.get_command(app)
    with command.make_context(PROG_NAME, args) as ctx:
        return command.invoke(ctx)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point. Returns the process exit status."""
    try:
        result = _run(argv)
    except (Exception, KeyboardInterrupt) as exc:
        return exit_status(exc, Console(stderr=True, highlight=False, soft_wrap=True))
    # A command's int return value is its exit status; anything else is success.
    return result if isinstance(result, int) else 0


def exit_status(exc: BaseException, err: Console) -> int:
    """Say on `err` how a command ended (at most one `error:` line) and return the exit status."""

    def fail(message: str, code: int) -> int:
        err.print(Text.assemble(("error:", "bold red"), " ", message))
        return code

    if isinstance(exc, FipoBenchError):
        return fail(_one_line(str(exc)), exc.exit_code)
    if isinstance(exc, KeyboardInterrupt):
        err.print("interrupted (Ctrl-C); rerun the same command to resume where it stopped")
        return EXIT_INTERRUPTED
    if isinstance(exc, _classes("Exit", typer.Exit)):  # --help, typer.Exit(code) in a command
        return exc.exit_code  # type: ignore[attr-defined]
    if isinstance(exc, _classes("Abort", typer.Abort)):  # Ctrl-C or EOF at a prompt
        err.print("aborted")
        return EXIT_INTERRUPTED
    if isinstance(exc, _classes("NoArgsIsHelpError")):  # bare `fipo-bench` or `fipo-bench db`
        # typer's rich help has already been printed (to stdout) when the error was built;
        # plain click carries the help text in the message instead
        if help_text := exc.format_message().strip():  # type: ignore[attr-defined]
            err.print(Text(help_text))
        return fail(_missing_command_message(exc), EXIT_BAD_INPUT)
    if isinstance(exc, _classes("UsageError")):
        ctx = getattr(exc, "ctx", None)
        if ctx is not None:
            err.print(Text(ctx.get_usage()))
        return fail(_usage_message(exc), EXIT_BAD_INPUT)
    if isinstance(exc, _classes("ClickException")):  # e.g. a typer.FileText that cannot open
        return fail(_one_line(exc.format_message()), EXIT_BAD_INPUT)  # type: ignore[attr-defined]
    if isinstance(exc, BrokenPipeError):
        # `fipo-bench db info | head`: the reader left; write nothing more to the closed pipe
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BUG
    if isinstance(exc, OSError) and (message := _os_error_message(exc)):
        return fail(message, EXIT_BAD_INPUT)
    if isinstance(exc, MemoryError):
        return fail("out of memory; rerun with smaller sizes (--n, --max-tokens, --limit)", 2)
    return fail(_bug_message(exc), EXIT_BUG)


if __name__ == "__main__":
    sys.exit(main())
