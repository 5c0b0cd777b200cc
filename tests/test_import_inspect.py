"""`fipo-bench import inspect FILE.eval` on a log written by Inspect AI itself (its mock model).

tests/import_fixtures/aime_mock.eval was written by make_inspect_log.py beside it. Where
inspect_ai is importable (or FIPO_BENCH_INSPECT_PYTHON names a Python that has it) the test
writes a fresh log with the current Inspect instead, so a format change shows up here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from importlib.util import find_spec
from pathlib import Path

import pytest

from fipo_bench.cli import main
from fipo_bench.store import Store

FIXTURES = Path(__file__).parent / "import_fixtures"


@pytest.fixture(scope="module")
def inspect_log(tmp_path_factory) -> Path:
    python = os.environ.get("FIPO_BENCH_INSPECT_PYTHON") or (
        sys.executable if find_spec("inspect_ai") else None
    )
    if python is None:
        return FIXTURES / "aime_mock.eval"
    out = tmp_path_factory.mktemp("inspect")
    proc = subprocess.run(
        [python, str(FIXTURES / "make_inspect_log.py"), str(out)],
        capture_output=True, text=True, timeout=300, cwd=out,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return Path(proc.stdout.strip().splitlines()[-1])


def test_every_epoch_becomes_a_sample_with_inspects_verdict_beside_ours(
    tmp_path, capsys, inspect_log
):
    db = tmp_path / "x.duckdb"
    assert main(["import", "inspect", str(inspect_log), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "6 samples" in out and "1 eval(s)" in out
    store = Store(db, read_only=True)
    (ev,) = store.list_evals().to_pylist()
    assert (ev["dataset"], ev["n"], ev["engine"], ev["model_path"], ev["status"]) == (
        "aime_mock", 2, "inspect", "mockllm/model", "done"
    )  # fmt: skip
    assert (ev["temperature"], ev["top_p"], ev["max_tokens"], ev["seed"]) == (0.6, 0.95, 512, 7)
    metrics = json.loads(ev["metrics"])
    assert metrics["source_metrics"]["match/accuracy"] == pytest.approx(4 / 6)
    assert metrics["avg@2"] == pytest.approx(4 / 6)  # fipo-bench agrees on every sample here
    rows = {
        (r["problem_id"], r["sample_idx"]): r for r in store.eval_samples(ev["eval_id"]).to_pylist()
    }
    assert set(rows) == {(f"aime-{i}", k) for i in (1, 2, 3) for k in (0, 1)}
    wrong, unanswered = rows[("aime-3", 0)], rows[("aime-2", 1)]
    assert (wrong["source_correct"], wrong["correct"], wrong["extracted"]) == (False, False, "98")
    assert unanswered["source_correct"] is False and unanswered["verify_status"] == "no_answer"
    assert all(r["n_tokens"] == len(r["text"]) for r in rows.values())  # Inspect's usage counts
    assert {p["problem_id"]: p["answer"] for p in store.problems("aime_mock").to_pylist()} == {
        "aime-1": "25", "aime-2": "42", "aime-3": "99"
    }  # fmt: skip
    counts = store.table_counts()
    assert main(["import", "inspect", str(inspect_log), "--db", str(db)]) == 0
    assert Store(db, read_only=True).table_counts() == counts


def test_a_broken_sample_inside_the_log_is_named_and_nothing_is_written(
    tmp_path, capsys, inspect_log
):
    """Rewrite one member with a sample whose target is missing (deflate, as older logs are)."""
    broken = tmp_path / "broken.eval"
    with zipfile.ZipFile(inspect_log) as src, zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            if info.filename != "samples/aime-2_epoch_1.json":
                dst.writestr(info.filename, _member(inspect_log, info))
        dst.writestr("samples/aime-2_epoch_1.json", json.dumps({"id": "aime-2", "epoch": 1,
                     "output": {"completion": "x"}}))  # fmt: skip
    db = tmp_path / "x.duckdb"
    assert main(["import", "inspect", str(broken), "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip()
    assert "broken.eval:samples/aime-2_epoch_1.json" in err and "'target'" in err
    assert len(err.splitlines()) == 1 and not db.exists()


def _member(path: Path, info: zipfile.ZipInfo) -> bytes:
    from fipo_bench.importers.inspect_log import _ZSTD, _zstd_member

    if info.compress_type == _ZSTD:
        return _zstd_member(path, info)
    with zipfile.ZipFile(path) as archive:
        return archive.read(info)


def test_a_file_that_is_not_a_zip_is_refused(tmp_path, capsys):
    bad = tmp_path / "x.eval"
    shutil.copy(FIXTURES / "make_inspect_log.py", bad)
    assert main(["import", "inspect", str(bad), "--db", str(tmp_path / "x.duckdb")]) == 2
    assert "not an Inspect .eval log" in capsys.readouterr().err
