"""How `fipo-bench` ends: exit statuses and the one line it prints, for every kind of ending.

The usage errors and Ctrl-C as a user meets them (real console-script subprocesses) are rows of
docs/reliability.md, run by tests/test_faults.py; these tests cover what a subprocess cannot pick:
both click exception families, OS errors and the bug handler.
"""

from __future__ import annotations

import errno
import io
import re
import sys
from pathlib import Path

import click
import pytest
import typer
from rich.console import Console

from fipo_bench.cli import exit_status, main
from fipo_bench.errors import ConfigError


def _ending(exc: BaseException) -> tuple[int, list[str]]:
    buffer = io.StringIO()
    code = exit_status(exc, Console(file=buffer, highlight=False, soft_wrap=True, width=100))
    return code, [line for line in buffer.getvalue().splitlines() if line.strip()]


def _raised(exc: BaseException) -> BaseException:
    """The exception with its traceback, as main() receives it."""
    try:
        raise exc
    except BaseException as caught:
        return caught


# typer >= 0.26 raises the exceptions of the click it vendors, older typer click's own; a
# command may raise click's own either way. Both must end the same.
CLICK_FAMILIES = {
    module.__name__: module
    for module in (click.exceptions, sys.modules[typer.BadParameter.__module__])
}


@pytest.mark.parametrize("module", CLICK_FAMILIES.values(), ids=CLICK_FAMILIES.keys())
def test_usage_error_of_either_click_family_exits_2_with_one_error_line(module):
    """A UsageError / BadParameter from either click family: exit 2, exactly one `error:` line
    that carries the message and nothing else."""
    for exc, named in (
        (module.UsageError("no such thing 'x'"), "'x'"),
        (module.BadParameter("bad 'y'"), "'y'"),
    ):
        code, lines = _ending(_raised(exc))
        assert code == 2
        assert len(lines) == 1 and lines[0].startswith("error: "), lines
        assert named in lines[0], lines


def test_click_file_error_exits_2_naming_the_file():
    code, lines = _ending(_raised(click.FileError("/nope/x.txt", hint="No such file")))
    assert code == 2 and lines == ["error: Could not open file '/nope/x.txt': No such file"]


def test_fipo_bench_error_is_one_line_exit_2_even_with_newlines_in_it():
    code, lines = _ending(_raised(ConfigError("lr 1e30 is out of range;\n  allowed (0, 1]")))
    assert code == 2 and lines == ["error: lr 1e30 is out of range; allowed (0, 1]"]


def test_disk_full_names_the_file_and_exits_2():
    exc = OSError(errno.ENOSPC, "No space left on device", "/data/report.html")
    code, lines = _ending(_raised(exc))
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith("error: disk full while writing '/data/report.html'")


def test_unwritable_path_names_the_file_and_the_reason():
    exc = PermissionError(errno.EROFS, "Read-only file system", "/mnt/ro/out.csv")
    code, lines = _ending(_raised(exc))
    assert (code, lines) == (2, ["error: cannot use '/mnt/ro/out.csv': Read-only file system"])


def test_os_error_without_a_file_is_treated_as_a_bug(tmp_path, monkeypatch):
    """An OSError that names no file says nothing a user can act on: the bug path, exit 1."""
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    code, lines = _ending(_raised(OSError(errno.EIO, "Input/output error")))
    assert code == 1 and "This is a bug in fipo-bench" in lines[0]


def test_bug_prints_one_line_and_keeps_the_traceback_in_a_file(tmp_path, monkeypatch):
    """An unexpected exception: exit 1, one line with its type and message and the path of a
    file that holds the full traceback (so a bug report loses nothing)."""
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))

    def broken_helper() -> None:
        {}["missing"]

    try:
        broken_helper()
    except KeyError as exc:
        code, lines = _ending(exc)
    assert code == 1 and len(lines) == 1
    assert lines[0].startswith("error: unexpected KeyError: 'missing'. This is a bug")
    (path,) = re.findall(r"the traceback is in (\S+)$", lines[0])
    saved = Path(path).read_text()
    assert saved.startswith("Traceback") and "broken_helper" in saved


def test_keyboard_interrupt_exits_130_with_a_message():
    code, lines = _ending(_raised(KeyboardInterrupt()))
    assert code == 130 and lines == [
        "interrupted (Ctrl-C); rerun the same command to resume where it stopped"
    ]


def test_help_exits_0_and_lists_the_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("train", "eval", "report", "db"):
        assert command in out


def test_typer_exit_code_of_a_command_is_the_exit_status():
    assert _ending(_raised(typer.Exit(3))) == (3, [])
