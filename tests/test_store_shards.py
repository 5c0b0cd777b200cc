"""Sharded eval output (Parquet, no DuckDB file) and `db merge`: N shards give unsharded rows."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from fipo_bench.cli import main
from fipo_bench.errors import ConfigError, StoreError
from fipo_bench.eval.stored import metrics_json, stored_eval_metrics
from fipo_bench.store import Store, sample_id
from fipo_bench.store.merge import scan_shards
from fipo_bench.store.shards import ShardSpec, ShardStore
from fipo_bench.tasks.problem import Problem

PROJECT_ROOT = Path(__file__).resolve().parents[1]
EVAL_ID = "ev-shards"
N_SAMPLES = 4
PROBLEMS = [Problem("toy", f"p{i}", f"What is {i}+{i}?", str(2 * i), {"i": i}) for i in range(6)]
EVAL = dict(dataset="toy", n=N_SAMPLES, temperature=1.0, top_p=0.95, max_tokens=64, seed=7)


def unit_rows(keys: list[tuple[str, int]]) -> tuple[pa.Table, pa.Table]:
    """Samples and tokens of the (problem_id, sample_idx) keys: deterministic in the keys."""
    samples, tokens = [], []
    for problem_id, idx in keys:
        sid = sample_id(EVAL_ID, problem_id, idx)
        rng = np.random.default_rng(sid % 2**32)
        n_tokens = int(rng.integers(3, 40))
        samples.append(
            {
                "sample_id": sid,
                "eval_id": EVAL_ID,
                "dataset": "toy",
                "problem_id": problem_id,
                "sample_idx": idx,
                "text": f"{problem_id}:{idx}",
                "n_tokens": n_tokens,
                "extracted": str(idx),
                "correct": bool(rng.random() < 0.5),
                "verify_status": "ok",
                "answer_source": "box",
            }
        )
        tokens.append(
            pa.table(
                {
                    "sample_id": pa.array([sid] * n_tokens, pa.int64()),
                    "pos": pa.array(range(n_tokens), pa.int32()),
                    "token_id": pa.array(rng.integers(0, 500, n_tokens), pa.int32()),
                    "token": pa.array([f"t{t}" for t in range(n_tokens)]),
                    "logp": pa.array(-rng.random(n_tokens), pa.float32()),
                }
            )
        )
    return pa.Table.from_pylist(samples), pa.concat_tables(tokens)


def all_keys() -> list[tuple[str, int]]:
    return [(p.problem_id, i) for p in PROBLEMS for i in range(N_SAMPLES)]


def shard_keys(spec: ShardSpec) -> list[list[tuple[str, int]]]:
    """The shard's units: its (problem, sample) keys, two problems' worth per unit."""
    mine = [k for n, k in enumerate(all_keys()) if n % spec.count == spec.index - 1]
    return [mine[i : i + 5] for i in range(0, len(mine), 5)]


def write_unsharded(path: Path) -> Store:
    store = Store(path)
    store.upsert_problems(PROBLEMS)
    store.upsert_eval(EVAL_ID, engine="hf", **EVAL)
    keys = all_keys()
    for i in range(0, len(keys), 7):
        store.write_samples(*unit_rows(keys[i : i + 7]))
    store.set_eval_status(
        EVAL_ID, "done", metrics=metrics_json(stored_eval_metrics(store, EVAL_ID))
    )
    return store


def write_shard(root: Path, spec: ShardSpec, *, finish: bool = True, **eval_changes) -> ShardStore:
    shard = ShardStore(root, spec)
    shard.upsert_problems(PROBLEMS)
    shard.upsert_eval(EVAL_ID, engine="hf", **{**EVAL, **eval_changes})
    for keys in shard_keys(spec):
        shard.write_samples(*unit_rows(keys))
    if finish:
        shard.set_eval_status(EVAL_ID, "done")
    return shard


def rows(store: Store, table: str, order: str) -> list[dict]:
    skip = {"evals": " EXCLUDE (started_at, finished_at)", "runs": " EXCLUDE (created_at)"}
    return store.read_table(
        f"SELECT *{skip.get(table, '')} FROM {table} ORDER BY {order}"
    ).to_pylist()


TABLE_ORDER = {
    "problems": "dataset, problem_id",
    "evals": "eval_id",
    "samples": "sample_id",
    "tokens": "sample_id, pos",
}


def test_three_shards_merged_give_exactly_the_rows_and_metrics_of_the_unsharded_eval(tmp_path):
    reference = write_unsharded(tmp_path / "one.duckdb")
    root = tmp_path / "shards"
    for k in (1, 2, 3):
        write_shard(root, ShardSpec(k, 3))
    assert not list(root.rglob("*.duckdb*"))  # shards touch no DuckDB file
    db = tmp_path / "merged.duckdb"
    assert main(["db", "merge", str(root), "--db", str(db)]) == 0
    merged = Store(db, read_only=True)
    for table, order in TABLE_ORDER.items():
        assert rows(merged, table, order) == rows(reference, table, order), table
    assert merged.get_eval(EVAL_ID)["status"] == "done"
    # Merging again adds nothing and changes nothing.
    before = merged.table_counts()
    assert main(["db", "merge", str(root), "--db", str(db)]) == 0
    assert merged.table_counts() == before
    assert rows(merged, "samples", "sample_id") == rows(reference, "samples", "sample_id")


def test_a_shard_resumes_from_its_finished_units_and_rewrites_a_unit_in_place(tmp_path):
    root = tmp_path / "shards"
    spec = ShardSpec(1, 2)
    shard = ShardStore(root, spec)
    shard.upsert_eval(EVAL_ID, engine="hf", **EVAL)
    first = shard_keys(spec)[0]
    shard.write_samples(*unit_rows(first))
    assert shard.done_sample_keys(EVAL_ID) == set(first)
    assert shard.done_sample_keys("other-eval") == set()
    again = ShardStore(root, spec)  # a restarted shard sees the same state
    assert again.get_eval(EVAL_ID)["status"] == "running"
    assert again.upsert_eval(EVAL_ID, engine="hf", **EVAL) is True
    again.write_samples(*unit_rows(first))  # rerun of the same unit: same files, no duplicate
    assert again.eval_samples(EVAL_ID).num_rows == len(first)
    assert len(list((root / "samples").rglob("*.parquet"))) == 1
    with pytest.raises(StoreError, match=r"exists with temperature=1\.0, asked temperature=0\.5"):
        again.upsert_eval(EVAL_ID, engine="hf", **{**EVAL, "temperature": 0.5})


@pytest.mark.slow
def test_a_shard_killed_mid_run_merges_partially_then_resumes_to_the_full_result(tmp_path):
    """SIGKILL a shard process at some point of its writes: whatever it left merges with
    --partial without error, and rerunning it completes the exact unsharded rows."""
    reference = write_unsharded(tmp_path / "one.duckdb")
    root = tmp_path / "shards"
    write_shard(root, ShardSpec(2, 2))
    script = tmp_path / "shard1.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(Path(__file__).parent)!r})
            from test_store_shards import write_shard, ShardSpec
            from pathlib import Path
            print("start", flush=True)
            for _ in range(200):  # keep rewriting units until killed
                write_shard(Path(sys.argv[1]), ShardSpec(1, 2), finish=False)
            """
        )
    )
    env = {
        **os.environ,
        "PYTHONPATH": f"{PROJECT_ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    child = subprocess.Popen(
        [sys.executable, str(script), str(root)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "start"
        while not list((root / "samples" / "shard=1").glob("part-*.parquet")):
            assert child.poll() is None
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    db = tmp_path / "merged.duckdb"
    assert main(["db", "merge", str(root), "--db", str(db), "--partial"]) == 0
    partial = Store(db, read_only=True)
    assert partial.get_eval(EVAL_ID)["status"] == "running"
    assert 0 < partial.table_counts()["samples"] <= len(all_keys())
    assert main(["db", "merge", str(root), "--db", str(db)]) == 2  # not finished everywhere
    write_shard(root, ShardSpec(1, 2))  # the resumed shard
    assert main(["db", "merge", str(root), "--db", str(db)]) == 0
    merged = Store(db, read_only=True)
    for table, order in TABLE_ORDER.items():
        assert rows(merged, table, order) == rows(reference, table, order), table


def _merge_error(root: Path, tmp_path: Path, capsys) -> str:
    db = tmp_path / "bad.duckdb"
    assert main(["db", "merge", str(root), "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert not db.exists()  # every check runs before the database is opened
    return err


def test_bad_or_incomplete_shard_sets_are_refused_before_anything_is_written(tmp_path, capsys):
    root = tmp_path / "s"
    assert "holds no shard output" in _merge_error(root.parent, tmp_path, capsys)
    write_shard(root, ShardSpec(1, 3))
    write_shard(root, ShardSpec(3, 3))
    assert "shards 2 of 3 are missing" in _merge_error(root, tmp_path, capsys)
    write_shard(root, ShardSpec(2, 3), temperature=0.6)
    assert "disagree on eval ev-shards's temperature" in _merge_error(root, tmp_path, capsys)
    for table in ("shards", "problems", "evals", "samples", "tokens"):
        shutil.rmtree(root / table / "shard=2")  # the user deletes the wrong shard's output
    write_shard(root, ShardSpec(2, 3))
    part = sorted((root / "samples" / "shard=2").glob("part-*.parquet"))[0]
    good = part.read_bytes()
    part.write_bytes(good[: len(good) // 2])  # a truncated file
    err = _merge_error(root, tmp_path, capsys)
    assert f"shard file {part} is not readable Parquet" in err
    part.write_bytes(good)
    foreign = root / "samples" / "shard=2" / "part-foreign.parquet"
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": [1]}), foreign)
    assert f"shard file {foreign} does not hold samples rows" in _merge_error(
        root, tmp_path, capsys
    )
    foreign.unlink()
    copy = root / "samples" / "shard=3" / "part-copy.parquet"
    copy.write_bytes(good)  # shard 2's unit again, inside shard 3
    assert "is in more than one shard file" in _merge_error(root, tmp_path, capsys)
    copy.unlink()
    with pytest.raises(StoreError, match="holds shards of 3, not 4"):
        ShardStore(root, ShardSpec(1, 4))
    assert main(["db", "merge", str(root), "--db", str(tmp_path / "ok.duckdb")]) == 0


def test_an_orphan_tokens_file_of_a_killed_unit_is_ignored(tmp_path):
    """A kill between a unit's two renames leaves its tokens without samples: not merged."""
    root = tmp_path / "s"
    write_shard(root, ShardSpec(1, 1))
    samples_part = sorted((root / "samples" / "shard=1").glob("part-*.parquet"))[0]
    dropped = pa.parquet.read_table(samples_part).num_rows
    samples_part.unlink()
    plan = scan_shards(root, partial=True)
    assert plan.orphan_units == 1
    assert plan.samples == len(all_keys()) - dropped


def test_shard_writer_refuses_bad_batches_and_specs_without_writing(tmp_path):
    root = tmp_path / "s"
    shard = ShardStore(root, ShardSpec(1, 2))
    samples, tokens = unit_rows([("p0", 0)])
    wrong = samples.set_column(0, "sample_id", pa.array([1], pa.int64()))
    with pytest.raises(StoreError, match="does not match sample_id"):
        shard.write_samples(wrong, tokens)
    bad_value = samples.set_column(6, "n_tokens", pa.array(["many"]))
    with pytest.raises(StoreError, match="rolled back: Conversion Error"):
        shard.write_samples(bad_value, tokens)
    assert not (root / "samples").exists() and not (root / "tokens").exists()
    assert ShardSpec.parse(" 2/4 ") == ShardSpec(2, 4) and str(ShardSpec(2, 4)) == "2/4"
    for text in ("0/4", "5/4", "2", "a/b"):
        with pytest.raises(ConfigError, match="K/N"):
            ShardSpec.parse(text)
