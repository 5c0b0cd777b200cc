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
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from fault_setups import SETUPS, Fixtures, Prepared

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


@pytest.fixture(scope="session")
def stored_run(tmp_path_factory, tiny_model_dir) -> dict[str, str]:
    """A one-step tiny-grpo training run with its checkpoint and database."""
    from fipo_bench.cli import main

    folder = tmp_path_factory.mktemp("stored-run")
    out, db = folder / "run", folder / "fipo.duckdb"
    args = ["train", "--preset", "tiny-grpo", "--model", str(tiny_model_dir), "--steps", "1",
            "--out", str(out), "--db", str(db), "--quiet"]  # fmt: skip
    assert main(args) == 0
    return {"out": str(out), "db": str(db)}


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
    prepared = SETUPS[case.setup](work, Fixtures(request))
    before = snapshot(work)
    if prepared.before is not None:
        prepared.before()
    try:
        code, stdout, stderr = run_case(case, work, scratch, prepared)
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
