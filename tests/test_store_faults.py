"""Faults under the store, met for real: a full disk (a small tmpfs), a read-only folder, a
truncated, corrupt, empty or foreign file. Each is one StoreError line naming the file and what
to do (exit 2 from the CLI), the database keeps what was committed, and the rerun resumes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from fipo_bench.cli import main
from fipo_bench.errors import StoreError
from fipo_bench.store import Store, sample_id


def batch(owner: str, n_samples: int, tokens_per_sample: int) -> tuple[pa.Table, pa.Table]:
    pids = [f"p{i}" for i in range(n_samples)]
    ids = sorted(sample_id(owner, p, 0) for p in pids)
    by_id = {sample_id(owner, p, 0): p for p in pids}
    samples = pa.table(
        {
            "sample_id": pa.array(ids, pa.int64()),
            "eval_id": [owner] * n_samples,
            "dataset": ["d"] * n_samples,
            "problem_id": [by_id[i] for i in ids],
            "sample_idx": pa.array([0] * n_samples, pa.int32()),
            "text": ["x"] * n_samples,
            "n_tokens": pa.array([tokens_per_sample] * n_samples, pa.int32()),
        }
    )
    n = n_samples * tokens_per_sample
    rng = np.random.default_rng(len(owner))
    tokens = pa.table(
        {
            "sample_id": np.repeat(np.array(ids, np.int64), tokens_per_sample),
            "pos": np.tile(np.arange(tokens_per_sample, dtype=np.int32), n_samples),
            "token_id": rng.integers(0, 50_000, n).astype(np.int32),
            "logp": -rng.random(n).astype(np.float32),  # incompressible: fills the disk
        }
    )
    return samples, tokens


def _mount(target: Path, options: str) -> None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root and mount(8) to mount a real tmpfs")
    target.mkdir(exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 16 MiB filesystem (tmpfs)."""
    disk = tmp_path / "disk"
    _mount(disk, "size=16m")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path, leave_bytes: int) -> Path:
    """Take all but `leave_bytes` of the disk with one file (removed to free the space)."""
    stat = os.statvfs(disk)
    filler = disk / "filler"
    with filler.open("wb") as f:
        f.write(b"\0" * max(0, stat.f_bavail * stat.f_frsize - leave_bytes))
    return filler


def one_line_error(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_disk_full_is_one_line_keeps_committed_batches_and_the_rerun_resumes(small_disk: Path):
    path = small_disk / "eval.duckdb"
    store = Store(path)
    filler = fill(small_disk, leave_bytes=3 * 2**20)
    written = []
    with pytest.raises(StoreError) as failure:
        for b in range(50):  # 200k token rows (~1.6 MB) per batch: the disk fills within a few
            store.write_samples(*batch(f"e{b}", 10, 20_000))
            written.append(f"e{b}")
    message = str(failure.value)
    assert message.startswith(f"disk full on database {path}: the write was rolled back")
    assert "\n" not in message
    assert not Path(f"{path}.wal").exists() or Path(f"{path}.wal").stat().st_size > 0
    assert written, "the disk filled before the first batch: leave it more room"
    counts = Store(path, read_only=True).table_counts()
    assert (counts["samples"], counts["tokens"]) == (10 * len(written), 200_000 * len(written))
    filler.unlink()  # the user frees space and reruns: the failed batch writes whole, once
    failed = f"e{len(written)}"
    store.write_samples(*batch(failed, 10, 20_000))
    again = Store(path, read_only=True)
    assert again.table_counts()["tokens"] == 200_000 * (len(written) + 1)
    assert len(again.done_sample_keys(failed)) == 10


def test_a_full_disk_when_creating_the_database_or_exporting_is_one_line(small_disk, capsys):
    fill(small_disk, leave_bytes=0)
    err = one_line_error(["db", "migrate", "--db", str(small_disk / "none.duckdb")], capsys)
    assert "does not exist" in err
    with pytest.raises(StoreError, match=r"^disk full on database .*new\.duckdb: cannot"):
        Store(small_disk / "new.duckdb")
    assert not list(small_disk.glob("new.duckdb*"))  # no empty file left behind
    (small_disk / "filler").unlink()
    db = small_disk / "ok.duckdb"
    Store(db).write_samples(*batch("e", 20, 20_000))
    fill(small_disk, leave_bytes=0)
    out = small_disk / "tokens.parquet"
    err = one_line_error(
        ["db", "export", "--db", str(db), "--table", "tokens", "--out", str(out)], capsys
    )
    assert err.startswith("error: disk full: cannot write") and str(out) in err
    assert not out.exists() and not list(small_disk.glob(".tokens.parquet.*"))


def test_a_read_only_folder_refuses_new_databases_and_exports_in_one_line(tmp_path, capsys):
    db = tmp_path / "ok.duckdb"
    Store(db).write_train_metrics("r", 1, {"x": 1.0})
    locked = tmp_path / "locked"
    if os.geteuid() == 0:  # root ignores permission bits: use a read-only filesystem
        _mount(locked, "size=1m,ro")
    else:
        locked.mkdir()
        locked.chmod(0o555)
    try:
        refused = r"cannot open database .*new\.duckdb: (read-only file system|permission denied)"
        with pytest.raises(StoreError, match=refused):
            Store(locked / "new.duckdb")
        out = locked / "m.parquet"
        argv = ["db", "export", "--db", str(db), "--table", "train_metrics", "--out", str(out)]
        assert f"output folder {locked} is not writable" in one_line_error(argv, capsys)
        assert not (locked / "new.duckdb").exists() and not out.exists()
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", "-l", str(locked)], check=False)
        else:
            locked.chmod(0o755)


def test_export_onto_an_existing_folder_is_one_line(tmp_path, capsys):
    db = tmp_path / "ok.duckdb"
    Store(db).write_train_metrics("r", 1, {"x": 1.0})
    folder = tmp_path / "out"
    folder.mkdir()
    argv = ["db", "export", "--db", str(db), "--table", "runs", "--out", str(folder)]
    assert f"output {folder} is a folder" in one_line_error(argv, capsys)
    assert list(folder.iterdir()) == []


@pytest.fixture(scope="module")
def good_db(tmp_path_factory) -> Path:
    """A database a few MB long: big enough that cutting or garbling it hits real data."""
    path = tmp_path_factory.mktemp("faults") / "good.duckdb"
    store = Store(path)
    for b in range(3):
        store.write_samples(*batch(f"e{b}", 10, 20_000))
    return path


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("truncate", "is truncated"),
        ("garble", "is corrupt"),
        ("empty", "is an empty (0-byte) file"),
        ("text", "is not a DuckDB database file"),
    ],
)
def test_a_damaged_file_is_one_line_for_writers_readers_and_the_cli(
    good_db: Path, tmp_path: Path, capsys, damage: str, message: str
):
    path = tmp_path / "damaged.duckdb"
    shutil.copy(good_db, path)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garble":
        rng = np.random.default_rng(0)
        middle = len(data) // 2
        noise = rng.integers(0, 256, 64 * 1024, dtype=np.uint8).tobytes()
        path.write_bytes(data[:middle] + noise + data[middle + len(noise) :])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.write_text("not a database\n" * 100)
    before = path.read_bytes()

    message = re.escape(message)
    with pytest.raises(StoreError, match=message):  # a reader that reads every block
        Store(path, read_only=True).export_table("tokens", "parquet", tmp_path / "t.parquet")
    if damage in ("empty", "text"):  # a writer opens a damaged DuckDB file: only reads fail
        with pytest.raises(StoreError, match=message):
            Store(path).write_train_metrics("r", 1, {"x": 1.0})
    out = str(tmp_path / "t.parquet")
    err = one_line_error(
        ["db", "export", "--db", str(path), "--table", "tokens", "--out", out], capsys
    )
    assert str(path) in err and not (tmp_path / "t.parquet").exists()
    assert path.read_bytes() == before  # never "repaired" or overwritten
