"""`fipo-bench db info|export|migrate`: output, exit codes, and nothing written on bad input."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fipo_bench.cli import main
from fipo_bench.store import DB_ENV_VAR, SCHEMA_VERSION, Store


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "cli.duckdb"
    store = Store(path)
    store.write_train_metrics("r1", 1, {"reward/mean": 0.5, "lr": 1e-6})
    store.upsert_run("r1", kind="train")
    return path


def test_info_lists_every_table_with_its_row_count_and_the_schema_version(db: Path, capsys):
    assert main(["db", "info", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert f"schema version {SCHEMA_VERSION}" in out
    lines = {line.split()[1]: line.split()[3] for line in out.splitlines() if line.startswith("│")}
    assert lines["train_metrics"] == "2" and lines["runs"] == "1" and lines["tokens"] == "0"


def test_db_path_defaults_to_the_environment_variable(db: Path, capsys, monkeypatch):
    monkeypatch.setenv(DB_ENV_VAR, str(db))
    assert main(["db", "info"]) == 0
    assert str(db) in capsys.readouterr().out


def test_export_writes_parquet_that_reads_back(db: Path, tmp_path: Path):
    out = tmp_path / "metrics.parquet"
    args = ["db", "export", "--db", str(db), "--table", "train_metrics", "--out", str(out)]
    assert main(args) == 0
    assert sorted(pq.read_table(out)["name"].to_pylist()) == ["lr", "reward/mean"]


@pytest.mark.parametrize(
    ("table", "fmt", "subdir", "message"),
    [
        ("nope", "csv", "", "table 'nope' is not allowed"),
        ("runs", "xlsx", "", "export format 'xlsx' is not allowed"),
        ("runs", "csv", "missing", "does not exist"),
    ],
)
def test_bad_export_exits_2_with_one_line_and_writes_nothing(
    db: Path, tmp_path: Path, capsys, table, fmt, subdir, message
):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / subdir / "x.out"
    args = ["db", "export", "--db", str(db), "--table", table, "--format", fmt, "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert list(out_dir.iterdir()) == []


def test_info_on_a_file_that_is_not_duckdb_exits_2(tmp_path: Path, capsys):
    bad = tmp_path / "bad.duckdb"
    bad.write_text("nope" * 100)
    assert main(["db", "info", "--db", str(bad)]) == 2
    assert "not a DuckDB database file" in capsys.readouterr().err


def test_migrate_refuses_a_missing_file_and_creates_nothing(tmp_path: Path, capsys):
    missing = tmp_path / "none.duckdb"
    assert main(["db", "migrate", "--db", str(missing)]) == 2
    assert not missing.exists()
