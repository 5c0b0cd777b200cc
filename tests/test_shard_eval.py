"""Sharded evaluation: `eval --shard K/N --out-dir DIR` writes Parquet and no database, a killed
shard resumes, `db merge` of the N shards gives exactly the rows and metrics of the unsharded
eval (same seeds), and `eval --ray` runs the shards as Ray tasks on a local cluster."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from fipo_bench.cli import main
from fipo_bench.store import Store

pytestmark = pytest.mark.slow

COLUMNS = ["sample_id", "eval_id", "problem_id", "sample_idx", "text", "n_tokens",
           "finish_reason", "extracted", "correct", "verify_status", "answer_source"]  # fmt: skip


def _args(model, db, *extra):
    return ["eval", "--model", str(model), "--dataset", "synthetic", "--n", "2", "--limit", "4",
            "--max-tokens", "40", "--unit-samples", "2", "--engine", "hf", "--db", str(db),
            *extra]  # fmt: skip


def _rows(db):
    store = Store(db, read_only=True)
    (ev,) = store.list_evals().to_pylist()
    samples = sorted(store.eval_samples(ev["eval_id"]).select(COLUMNS).to_pylist(),
                     key=lambda r: r["sample_id"])  # fmt: skip
    tokens = store.read_table(
        "SELECT sample_id, pos, token_id, token, logp FROM tokens ORDER BY sample_id, pos"
    ).to_pylist()
    return ev, samples, tokens


@pytest.fixture(scope="module")
def unsharded(tmp_path_factory, tiny_model_dir):
    db = tmp_path_factory.mktemp("plain") / "plain.duckdb"
    assert main(_args(tiny_model_dir, db)) == 0
    return _rows(db)


def test_two_shards_merged_equal_the_unsharded_eval(tmp_path, capsys, tiny_model_dir, unsharded):
    db, out = tmp_path / "merged.duckdb", tmp_path / "shards"
    for k in (1, 2):
        assert main(_args(tiny_model_dir, db, "--shard", f"{k}/2", "--out-dir", str(out))) == 0
        assert not db.exists()  # a shard touches no database file
    assert "fipo-bench db merge" in capsys.readouterr().out
    assert main(["db", "merge", str(out), "--db", str(db)]) == 0
    ev, samples, tokens = _rows(db)
    plain_ev, plain_samples, plain_tokens = unsharded
    assert ev["eval_id"] == plain_ev["eval_id"] and ev["status"] == "done"
    assert samples == plain_samples and len(samples) == 8
    assert tokens == plain_tokens
    assert ev["metrics"] == plain_ev["metrics"]
    counts = Store(db, read_only=True).table_counts()
    assert main(["db", "merge", str(out), "--db", str(db)]) == 0  # merging twice adds nothing
    assert Store(db, read_only=True).table_counts() == counts


def test_shards_split_by_unit_and_cover_every_sample_once(tmp_path, tiny_model_dir):
    out = tmp_path / "shards"
    for k in (1, 2, 3):
        args = _args(
            tiny_model_dir, tmp_path / "x.duckdb", "--shard", f"{k}/3", "--out-dir", str(out)
        )
        assert main(args) == 0
    import pyarrow.parquet as pq

    keys = {}
    for k in (1, 2, 3):
        files = sorted((out / "samples" / f"shard={k}").glob("*.parquet"))
        keys[k] = {(r["problem_id"], r["sample_idx"]) for f in files
                   for r in pq.read_table(f).to_pylist()}  # fmt: skip
    # Four units of one problem each: shard 1 gets units 0 and 3, shards 2 and 3 one each.
    assert [len(keys[k]) for k in (1, 2, 3)] == [4, 2, 2]
    union = keys[1] | keys[2] | keys[3]
    assert len(union) == 8 and sum(len(v) for v in keys.values()) == 8


def test_a_killed_shard_resumes_and_the_merge_still_equals_the_unsharded_eval(
    tmp_path, tiny_model_dir, unsharded
):
    db, out = tmp_path / "merged.duckdb", tmp_path / "shards"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = _args(tiny_model_dir, db, "--shard", "1/2", "--out-dir", str(out))
    proc = subprocess.Popen([sys.executable, "-m", "fipo_bench.cli", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    folder = out / "samples" / "shard=1"
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if folder.is_dir() and any(folder.glob("part-*.parquet")):
                break
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the shard finished before it could be killed"
    assert len(list(folder.glob("part-*.parquet"))) == 1  # one of its two units
    for k in (1, 2):
        assert main(_args(tiny_model_dir, db, "--shard", f"{k}/2", "--out-dir", str(out))) == 0
    assert main(["db", "merge", str(out), "--db", str(db)]) == 0
    ev, samples, tokens = _rows(db)
    assert (samples, tokens, ev["metrics"]) == (unsharded[1], unsharded[2], unsharded[0]["metrics"])


def test_bad_shard_flags_are_one_line_errors(tmp_path, capsys, tiny_model_dir):
    db = tmp_path / "x.duckdb"
    for extra, named in (
        (["--shard", "3/2", "--out-dir", str(tmp_path)], "shard 3/2"),
        (["--shard", "half", "--out-dir", str(tmp_path)], "--shard 'half'"),
        (["--shard", "1/2"], "--out-dir"),
        (["--shard", "1/2", "--ray", "--out-dir", str(tmp_path)], "give one"),
        (["--ray", "--shards", "0", "--out-dir", str(tmp_path)], "--shards 0"),
        (["--ray", "--num-gpus-per-shard", "2", "--out-dir", str(tmp_path)], "--engine vllm"),
    ):
        assert main(_args(tiny_model_dir, db, *extra)) == 2
        err = capsys.readouterr().err.strip()
        assert named in err and len(err.splitlines()) == 1
    assert not db.exists()


def test_ray_runs_the_shards_as_tasks_and_merges_them(tmp_path, capsys, tiny_model_dir, unsharded):
    pytest.importorskip("ray")
    db, out = tmp_path / "ray.duckdb", tmp_path / "shards"
    # Ray's workers import fipo_bench from the same tree as this process.
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    assert main(_args(tiny_model_dir, db, "--ray", "--shards", "2", "--out-dir", str(out))) == 0
    printed = capsys.readouterr().out
    assert "shard 1/2 done" in printed and "shard 2/2 done" in printed
    ev, samples, tokens = _rows(db)
    assert (samples, tokens, ev["metrics"]) == (unsharded[1], unsharded[2], unsharded[0]["metrics"])
