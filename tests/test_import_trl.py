"""`fipo-bench import trl DIR` on the output folder of a real TRL GRPOTrainer run on the tiny
model (two steps on CPU, completions logged, one checkpoint saved)."""

from __future__ import annotations

import json
import shutil

import pytest

from fipo_bench.cli import main
from fipo_bench.eval.model_ref import resolve_model
from fipo_bench.store import Store

pytestmark = pytest.mark.slow
trl = pytest.importorskip("trl")

PROMPTS = {"3+4=": "7", "12-5=": "7", "7*6=": "42", "9+8=": "17"}


def correct_answer(completions, answer, log_extra=None, **_):
    """1 when the completion has `Answer: <gold>`; logs the gold so the import can re-verify."""
    if log_extra is not None:
        log_extra("answer", list(answer))
    return [1.0 if f"Answer: {a}" in c else 0.0 for c, a in zip(completions, answer, strict=True)]


@pytest.fixture(scope="module")
def trl_run(tmp_path_factory, tiny_model_dir):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    out = tmp_path_factory.mktemp("trl") / "grpo-tiny"
    args = GRPOConfig(
        output_dir=str(out), per_device_train_batch_size=4, num_generations=4,
        max_completion_length=16, learning_rate=1e-4, use_cpu=True, bf16=False, report_to=[],
        logging_steps=1, save_strategy="steps", save_steps=2, max_steps=2, seed=0,
        log_completions=True, num_completions_to_print=0,
    )  # fmt: skip
    data = Dataset.from_dict({"prompt": list(PROMPTS), "answer": list(PROMPTS.values())})
    GRPOTrainer(
        model=str(tiny_model_dir), reward_funcs=correct_answer, args=args, train_dataset=data
    ).train()
    return out


def test_completions_state_and_checkpoint_come_in_linked_to_the_run(tmp_path, capsys, trl_run):
    db = tmp_path / "x.duckdb"
    assert main(["import", "trl", str(trl_run), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "8 samples" in out and "1 checkpoint(s)" in out and "metrics of 2 step(s)" in out
    store = Store(db, read_only=True)
    (run,) = store.list_runs().to_pylist()
    assert run["kind"] == "train" and run["name"] == "grpo-tiny"
    samples = store.read_table("SELECT * FROM samples ORDER BY step, sample_idx").to_pylist()
    assert [s["step"] for s in samples] == [1] * 4 + [2] * 4
    for s in samples:
        assert s["run_id"] == run["run_id"] and s["verify_status"] in ("ok", "no_answer")
        # One 0/1 reward: TRL's score is the reward and its verdict; ours is re-verified.
        assert s["source_score"] == s["reward"] in (0.0, 1.0)
        assert s["source_correct"] == (s["reward"] == 1.0) and isinstance(s["correct"], bool)
        assert s["advantage"] is not None
        assert 1 <= s["n_tokens"] <= 16  # counted with the checkpoint's tokenizer
    problems = store.problems("grpo-tiny-train").to_pylist()
    assert {p["problem"] for p in problems} <= set(PROMPTS)
    assert {p["answer"] for p in problems} <= set(PROMPTS.values())

    state = json.loads((trl_run / "checkpoint-2" / "trainer_state.json").read_text())
    logged = {(e["step"], k): v for e in state["log_history"] for k, v in e.items() if k != "step"}
    metrics = {
        (r["step"], r["name"]): r["value"] for r in store.train_metrics(run["run_id"]).to_pylist()
    }
    assert metrics[(2, "completions/mean_length")] == logged[(2, "completions/mean_length")]
    assert metrics[(2, "response_length/mean")] == logged[(2, "completions/mean_length")]
    assert metrics[(1, "lr")] == logged[(1, "learning_rate")]
    assert metrics[(1, "clip_ratio/high")] == logged[(1, "clip_ratio/high_mean")]

    ref = resolve_model(f"{run['run_id']}:2", db_path=db)
    assert ref.kind == "checkpoint" and ref.location == str((trl_run / "checkpoint-2").resolve())

    counts = store.table_counts()
    assert main(["import", "trl", str(trl_run), "--db", str(db)]) == 0
    assert Store(db, read_only=True).table_counts() == counts


def test_a_completions_file_without_a_prompt_column_is_refused(tmp_path, capsys, trl_run):
    import pyarrow.parquet as pq

    broken = tmp_path / "broken"
    shutil.copytree(trl_run, broken)
    path = broken / "completions" / "completions_00002.parquet"
    pq.write_table(pq.read_table(path).drop(["prompt"]), path)
    db = tmp_path / "x.duckdb"
    assert main(["import", "trl", str(broken), "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip()
    assert "completions_00002.parquet: no 'prompt' column" in err and len(err.splitlines()) == 1
    assert not db.exists()
