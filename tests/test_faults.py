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
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from dashboard_live import ctrl_c_as_in_a_terminal
from fault_setups import SETUPS, Fixtures, Prepared, wait_for

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TABLE_FILE = PROJECT_ROOT / "docs" / "reliability.md"
# A hang guard, not a speed check: a case that validates first ends in seconds.
CASE_TIMEOUT_S = 900


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


def read_table(marker: str, header: list[str], path: Path = TABLE_FILE) -> list[list[str]]:
    """The rows (lists of cells) of the table between <!-- MARKER:start/end --> in path."""
    text = path.read_text()
    body = text.split(f"<!-- {marker}:start -->", 1)[1].split(f"<!-- {marker}:end -->", 1)[0]
    lines = [line for line in body.strip().splitlines() if line.startswith("|")]
    assert _cells(lines[0]) == header, lines[0]
    return [_cells(line) for line in lines[2:]]  # lines[1] is the |---| line


def pending_owner(name: str, status: str) -> str | None:
    pending = re.fullmatch(r"pending: (\w+)", status)
    assert status == "ok" or pending, f"{name}: status {status!r} is not ok / pending: OWNER"
    return pending.group(1) if pending else None


def read_cases() -> list[Case]:
    header = ["case", "setup", "command", "exit", "message names", "status"]
    return [
        Case(
            name=name,
            setup=setup,
            command=_code_spans(command)[0],
            exit_code=int(exit_code),
            fragments=_code_spans(names),
            pending_owner=pending_owner(name, status),
        )
        for name, setup, command, exit_code, names, status in read_table("fault-table", header)
    ]


@dataclass(frozen=True)
class KillCase:
    name: str
    killed: str
    kill_once: str
    rerun: str
    leftover: str
    pending_owner: str | None


def read_kill_cases() -> list[KillCase]:
    header = ["case", "killed command", "SIGKILL once this exists", "rerun", "leaves no", "status"]
    return [
        KillCase(
            name=name,
            killed=_code_spans(killed)[0],
            kill_once=_code_spans(kill_once)[0],
            rerun=_code_spans(rerun)[0],
            leftover=_code_spans(leftover)[0],
            pending_owner=pending_owner(name, status),
        )
        for name, killed, kill_once, rerun, leftover, status in read_table("kill-table", header)
    ]


# ------------------------------------------------------------------ what setups build on


@pytest.fixture(scope="session")
def aime24_file(shared_benchmarks) -> str:
    return str(shared_benchmarks / "aime24.jsonl")


@pytest.fixture(scope="session")
def stored_eval(tmp_path_factory, tiny_model_dir, aime24_file) -> dict[str, str]:
    """A database with one finished eval of the tiny model (1 aime24 problem, 1 sample)."""
    from fipo_bench.cli import main
    from fipo_bench.store import Store

    db = tmp_path_factory.mktemp("stored-eval") / "fipo.duckdb"
    args = ["eval", "--model", str(tiny_model_dir), "--dataset", "aime24", "--data-file",
            aime24_file, "--n", "1", "--limit", "1", "--max-tokens", "8", "--engine", "hf",
            "--db", str(db)]  # fmt: skip
    assert main(args) == 0
    (eval_id,) = Store(db, read_only=True).list_evals().column("eval_id").to_pylist()
    return {"db": str(db), "eval_id": eval_id}


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


def run_command(
    command: str, work: Path, scratch: Path, prepared: Prepared
) -> tuple[int, str, str]:
    """Run a table's `fipo-bench ...` command as the real console script in work."""
    argv = shlex.split(command.format(work=work, **prepared.placeholders))
    assert argv[0] == "fipo-bench", command
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
        preexec_fn=ctrl_c_as_in_a_terminal,  # the Ctrl-C rows' SIGINT must reach it
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
KILL_CASES = read_kill_cases()


def test_every_setup_in_the_table_exists_and_is_used():
    """The table and the setups cannot drift: each row's setup exists, each setup has a row."""
    named = {case.setup for case in CASES}
    assert named - SETUPS.keys() == set(), "rows name setups that tests/test_faults.py lacks"
    assert SETUPS.keys() - named == set(), "setups no row of docs/reliability.md uses"
    assert len({case.name for case in CASES}) == len(CASES), "case names must be unique"


def _param(case: Case | KillCase):
    # Only the usage errors (setup `-`) end in a few seconds; every other case loads a model,
    # a database or a real tmpfs, or kills a build.
    marks = [] if isinstance(case, Case) and case.setup == "-" else [pytest.mark.slow]
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
    prepared = SETUPS[case.setup](work, Fixtures(request))
    before = snapshot(work)
    if prepared.before is not None:
        prepared.before()
    try:
        code, stdout, stderr = run_command(case.command, work, scratch, prepared)
    finally:
        if prepared.release is not None:
            prepared.release()
    shown = f"exit {code}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    assert "Traceback" not in stdout + stderr, shown
    assert code == case.exit_code, shown
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines, shown
    assert sum(line.startswith("error:") for line in lines) <= 1, shown
    fragments = [fragment.format(**prepared.placeholders) for fragment in case.fragments]
    missing = [fragment for fragment in fragments if fragment not in lines[-1]]
    assert not missing, f"the last line does not name {missing}\n{shown}"
    assert snapshot(work) == before, f"the working folder changed\n{shown}"


@pytest.mark.parametrize("case", [_param(case) for case in KILL_CASES])
def test_rerun_after_sigkill_leaves_nothing_behind(case, tmp_path):
    """A command killed with SIGKILL (no clean-up can run) and then run again: the rerun ends
    well, prints no traceback, and leaves none of the killed run's debris (temp folders...)."""
    work, scratch = tmp_path / "work", tmp_path / "scratch"
    work.mkdir()
    scratch.mkdir()

    def kill_once_started(proc: subprocess.Popen[str]) -> None:
        wait_for(lambda: any(work.glob(case.kill_once)), proc, f"{case.kill_once} to appear")
        proc.kill()

    code, _, _ = run_command(case.killed, work, scratch, Prepared(during=kill_once_started))
    assert code == -signal.SIGKILL
    assert any(work.glob(case.leftover)), "the killed run left no debris: the case tests nothing"
    code, stdout, stderr = run_command(case.rerun, work, scratch, Prepared())
    shown = f"exit {code}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    assert code == 0 and "Traceback" not in stdout + stderr, shown
    assert sorted(work.glob(case.leftover)) == [], (
        f"debris of the killed run is still there\n{shown}"
    )
