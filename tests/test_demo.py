"""`fipo-bench demo --quick`: the whole loop on the embedded default, end to end, for real."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from fipo_bench.demo import make_plan, run_demo
from fipo_bench.store import Store

pytestmark = pytest.mark.slow


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "fipo_bench", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )


@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("demo") / "work"
    done = _cli("demo", "--quick", "--workdir", str(workdir), cwd=workdir.parent)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "fipo-bench dashboard --db" in done.stdout
    return workdir


def test_quick_demo_stores_the_whole_loop(quick_demo: Path) -> None:
    """Three training runs with checkpoints, four evals (base + 3 final checkpoints), per-token
    credit of the FIPO eval and its pivots, and both report files."""
    store = Store(quick_demo / "fipo_bench.duckdb", read_only=True)
    runs = store.list_runs().to_pylist()
    train_runs = [r for r in runs if r["kind"] == "train"]
    assert sorted(r["algo"] for r in train_runs) == ["dapo", "fipo", "grpo"]
    for run in train_runs:
        assert store.checkpoints(run["run_id"]).num_rows >= 1
    evals = store.list_evals().to_pylist()
    assert len(evals) == 4
    assert {e["dataset"] for e in evals} == {"synthetic"}
    assert all(e["n_samples"] > 0 for e in evals)
    credited = store.read_table(
        "SELECT count(*) AS n FROM tokens WHERE future_kl IS NOT NULL"
    ).to_pylist()[0]["n"]
    assert credited > 0
    assert store.table_counts()["pivots"] > 0
    for suffix in (".html", ".md"):
        report = quick_demo / f"report-quick{suffix}"
        assert report.is_file() and report.stat().st_size > 0


def test_second_quick_demo_reuses_every_stored_stage(quick_demo: Path) -> None:
    """Rerunning finds every stage's result stored: no build, no training, no sampling."""
    plan = make_plan(
        workdir=quick_demo, db_path=None, quick=True, engine="hf", aime_file=None, seed=0
    )
    result = run_demo(plan, Console(file=open(os.devnull, "w")))  # noqa: SIM115
    redone = [s.name for s in result.stages if not s.reused and s.name != "report"]
    assert redone == []
    assert set(result.eval_ids) == {"base", "grpo", "dapo", "fipo"}


BAD_FILES = {
    "garbage.jsonl": "hello\n",
    "no-problem-field.jsonl": '{"x": 1}\n',
    "empty.jsonl": "",
    "not-duckdb.duckdb": "junk\n",
}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--engine", "tpu"], "--engine 'tpu'"),
        (["--aime-file", "no/such/aime.jsonl"], "no/such/aime.jsonl"),
        (["--aime-file", "garbage.jsonl"], "not valid JSON"),
        (["--aime-file", "no-problem-field.jsonl"], "no problem field"),
        (["--aime-file", "empty.jsonl"], "file is empty"),
        (["--db", "not-duckdb.duckdb"], "not a DuckDB database"),
        (["--db", "no/such/folder/x.duckdb"], "does not exist"),
        (["--seed", "-1"], "--seed -1"),
    ],
)
def test_demo_bad_input_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, args: list[str], needle: str
) -> None:
    """Every bad flag value, also a damaged --aime-file or --db that only its contents show, is
    refused in one line with exit 2 before the demo builds or trains anything."""
    for name, text in BAD_FILES.items():
        (tmp_path / name).write_text(text)
    workdir = tmp_path / "work"
    done = _cli("demo", "--quick", "--workdir", str(workdir), *args, cwd=tmp_path)
    assert done.returncode == 2
    assert needle in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not workdir.exists()
    assert (tmp_path / "not-duckdb.duckdb").read_text() == "junk\n"
