"""Every bad input and fault in docs/reliability.md, run as a real `fipo-bench` subprocess.

The table in docs/reliability.md is the list of cases (one row, one test), so the documentation
and the tests cannot drift: a row naming an unknown setup fails, and so does a setup no row uses.
Each case must exit with the row's status, print no traceback, end stderr with one line naming
the row's fragments, and leave its working folder unchanged (files byte for byte, DuckDB tables
row for row).
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TABLE_FILE = PROJECT_ROOT / "docs" / "reliability.md"
# A hang guard, not a speed check: a case that validates first ends in seconds.
CASE_TIMEOUT_S = 600


# ------------------------------------------------------------------ the table


@dataclass(frozen=True)
class Case:
    name: str
    setup: str
    command: str
    exit_code: int
    fragments: tuple[str, ...]
    pending_owner: str | None


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _code_spans(cell: str) -> tuple[str, ...]:
    return tuple(re.findall(r"`([^`]+)`", cell))


def read_cases(path: Path = TABLE_FILE) -> list[Case]:
    text = path.read_text()
    body = text.split("<!-- fault-table:start -->", 1)[1].split("<!-- fault-table:end -->", 1)[0]
    rows = [line for line in body.strip().splitlines() if line.startswith("|")]
    header, rows = _cells(rows[0]), rows[2:]  # rows[1] is the |---| line
    assert header == ["case", "setup", "command", "exit", "message names", "status"], header
    cases = []
    for row in rows:
        name, setup, command, exit_code, names, status = _cells(row)
        (command,) = _code_spans(command)
        pending = re.fullmatch(r"pending: (\w+)", status)
        assert status == "ok" or pending, f"{name}: status {status!r} is not ok / pending: OWNER"
        cases.append(
            Case(
                name=name,
                setup=setup,
                command=command,
                exit_code=int(exit_code),
                fragments=_code_spans(names),
                pending_owner=pending.group(1) if pending else None,
            )
        )
    return cases


# ------------------------------------------------------------------ setups


@dataclass
class Prepared:
    """What a setup hands the runner: command placeholders, and what to do while it runs."""

    placeholders: dict[str, str] = field(default_factory=dict)
    during: Callable[[subprocess.Popen[str]], None] | None = None
    cleanup: Callable[[], None] | None = None


def _wait_for(condition: Callable[[], bool], proc: subprocess.Popen[str], what: str) -> None:
    """Poll until condition() holds; fail if the command ends first (a readiness wait, the
    deadline is only a hang guard)."""
    deadline = time.monotonic() + CASE_TIMEOUT_S
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the command ended (exit {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def setup_interrupt_build(work: Path, request: pytest.FixtureRequest) -> Prepared:
    """Ctrl-C once the build has created its staging folder (the command is under way)."""

    def during(proc: subprocess.Popen[str]) -> None:
        _wait_for(lambda: any(work.glob(".m.tmp-*")), proc, "the build's staging folder")
        proc.send_signal(signal.SIGINT)

    return Prepared(during=during)


SETUPS: dict[str, Callable[[Path, pytest.FixtureRequest], Prepared]] = {
    "-": lambda work, request: Prepared(),
    "interrupt-build": setup_interrupt_build,
}


# ------------------------------------------------------------------ running and checking


def console_script() -> Path:
    script = shutil.which("fipo-bench", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.fail(f"no fipo-bench console script beside {sys.executable}: run scripts/install.sh")
    return Path(script)


def _table_digests(db: Path) -> dict[str, str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        names = [row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        return {
            name: hashlib.sha256(
                repr(con.execute(f'SELECT * FROM "{name}" ORDER BY ALL').fetchall()).encode()
            ).hexdigest()
            for name in sorted(names)
        }
    finally:
        con.close()


def snapshot(folder: Path) -> dict[str, object]:
    """Every file under folder: DuckDB files by table contents (a reopen may rewrite bytes
    without changing a row), everything else by its bytes."""
    state: dict[str, object] = {}
    for path in sorted(folder.rglob("*")):
        key = path.relative_to(folder).as_posix()
        if path.is_dir():
            state[key] = "dir"
        elif path.suffix == ".duckdb" and path.stat().st_size > 0:
            state[key] = _table_digests(path)
        else:
            state[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def run_case(case: Case, work: Path, scratch: Path, prepared: Prepared) -> tuple[int, str, str]:
    argv = shlex.split(case.command.format(work=work, **prepared.placeholders))
    assert argv[0] == "fipo-bench", case.command
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")]),
        "TMPDIR": str(scratch),  # the bug handler's traceback files land here, not in work
        "FIPO_BENCH_DB": str(work / "fipo_bench.duckdb"),
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
    }
    proc = subprocess.Popen(
        [str(console_script()), *argv[1:]],
        cwd=work,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        if prepared.during is not None:
            prepared.during(proc)
        stdout, stderr = proc.communicate(timeout=CASE_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, stdout, stderr


CASES = read_cases()


def test_every_setup_in_the_table_exists_and_is_used():
    """The table and the setups cannot drift: each row's setup exists, each setup has a row."""
    named = {case.setup for case in CASES}
    assert named - SETUPS.keys() == set(), "rows name setups that tests/test_faults.py lacks"
    assert SETUPS.keys() - named == set(), "setups no row of docs/reliability.md uses"
    assert len({case.name for case in CASES}) == len(CASES), "case names must be unique"


def _param(case: Case):
    marks = []
    if case.pending_owner:
        marks.append(
            pytest.mark.xfail(strict=True, reason=f"pending a fix by {case.pending_owner}")
        )
    return pytest.param(case, id=case.name.replace(" ", "-"), marks=marks)


@pytest.mark.parametrize("case", [_param(case) for case in CASES])
def test_fault_gives_one_line_exit_status_and_writes_nothing(case, tmp_path, request):
    """A bad input or fault from docs/reliability.md: the row's exit status, no traceback, one
    `error:` line at most, the last stderr line names the row's fragments, nothing written."""
    work, scratch = tmp_path / "work", tmp_path / "scratch"
    work.mkdir()
    scratch.mkdir()
    prepared = SETUPS[case.setup](work, request)
    before = snapshot(work)
    try:
        code, stdout, stderr = run_case(case, work, scratch, prepared)
    finally:
        if prepared.cleanup is not None:
            prepared.cleanup()
    shown = f"exit {code}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    assert "Traceback" not in stdout + stderr, shown
    assert code == case.exit_code, shown
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines, shown
    assert sum(line.startswith("error:") for line in lines) <= 1, shown
    missing = [fragment for fragment in case.fragments if fragment not in lines[-1]]
    assert not missing, f"the last line does not name {missing}\n{shown}"
    assert snapshot(work) == before, f"the working folder changed\n{shown}"
