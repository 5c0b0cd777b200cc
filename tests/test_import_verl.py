"""`fipo-bench import verl-run DIR` on a run folder laid out as verl writes it.

verl itself needs Ray and a GPU worker group to run, so the dumps are written here exactly as
verl's own writers do (each helper cites the function it follows); the TensorBoard events come
from torch's SummaryWriter, the writer verl's `_TensorboardAdapter` uses, and are read back with
tensorboard's EventAccumulator.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from fipo_bench.cli import main
from fipo_bench.eval.model_ref import resolve_model
from fipo_bench.store import Store

DAPO_SUFFIX = '\n\nRemember to put your answer on its own line after "Answer:".'


def dump_generations(dump_path: Path, step: int, inputs, outputs, gts, scores, extras) -> None:
    """verl/trainer/ppo/ray_trainer.py RayPPOTrainer._dump_generations: one JSON object per
    sample (input, output, gts, score, step + the reward extras of the same length),
    json.dumps(ensure_ascii=False), joined by newlines with a final newline."""
    os.makedirs(dump_path, exist_ok=True)
    n = len(inputs)
    base = {"input": inputs, "output": outputs, "gts": gts, "score": scores, "step": [step] * n}
    base.update({k: v for k, v in extras.items() if len(v) == n})
    lines = [json.dumps({k: v[i] for k, v in base.items()}, ensure_ascii=False) for i in range(n)]
    with open(dump_path / f"{step}.jsonl", "w") as f:
        f.write("\n".join(lines) + "\n")


def file_logger(path: Path, rows: list[tuple[int, dict]]) -> None:
    """verl/utils/tracking.py FileLogger.log: {"step": step, "data": data} per line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fp:
        for step, data in rows:
            fp.write(json.dumps({"step": step, "data": data}).encode() + b"\n")


def _rollout(step: int, right: bool) -> tuple[list, list, list, list, dict]:
    prompts = [f"What is {step}+1?{DAPO_SUFFIX}", "What is 2*3?" + DAPO_SUFFIX]
    inputs, outputs, gts, scores, acc = [], [], [], [], []
    for prompt, gold in zip(prompts, [str(step + 1), "6"], strict=True):
        for k in range(2):
            correct = right and k == 0
            inputs.append(prompt)
            outputs.append(f"Thinking.\nAnswer: {gold if correct else '7' + gold}")
            gts.append(gold)
            scores.append(1.0 if correct else -1.0)
            acc.append(correct)
    return inputs, outputs, gts, scores, {"acc": acc, "pred": ["x"] * len(acc)}


@pytest.fixture
def verl_run(tmp_path, tiny_model_dir) -> Path:
    """Two training steps, validation at step 2, file-logger and TensorBoard metrics, a
    checkpoint with merged HF weights (step 2) and one with FSDP shards only (step 1)."""
    root = tmp_path / "dapo-run"
    for step in (1, 2):
        dump_generations(root / "rollout", step, *_rollout(step, right=step == 2))
    inputs, outputs, gts, scores, extras = _rollout(2, right=True)
    # The reward said right where the answer is wrong: a disagreement the import must show.
    extras["acc"][1] = True
    dump_generations(root / "val", 2, inputs, outputs, gts, scores, extras)
    file_logger(
        root / "logs" / "proj" / "exp.jsonl",
        [
            (1, {"critic/score/mean": -0.5, "actor/pg_clipfrac": 0.1, "actor/ppo_kl": 0.01}),
            (2, {"critic/score/mean": 0.0, "val-core/aime24/acc/mean@2": 0.5, "note": None}),
        ],
    )
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(root / "tensorboard_log" / "proj" / "exp"))
    for step in (1, 2):
        writer.add_scalar("actor/entropy", 0.5 * step, step)
    writer.close()
    ckpt = root / "checkpoints" / "global_step_2" / "actor" / "huggingface"
    shutil.copytree(tiny_model_dir, ckpt)
    shards = root / "checkpoints" / "global_step_1" / "actor"
    (shards / "huggingface").mkdir(parents=True)
    (shards / "model_world_size_1_rank_0.pt").write_bytes(b"fsdp shard")
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_model_dir / name, shards / "huggingface" / name)
    return root


def _import(run: Path, db: Path, *extra: str) -> int:
    return main(["import", "verl-run", str(run), "--db", str(db), *extra])


def test_dumps_metrics_checkpoints_and_validation_land_linked_to_the_run(
    tmp_path, capsys, verl_run
):
    db = tmp_path / "x.duckdb"
    assert _import(verl_run, db) == 0
    out = capsys.readouterr().out
    assert "12 samples" in out and "1 checkpoint(s)" in out
    assert "11 agree, 1 disagree" in out
    assert "python -m verl.model_merger merge --backend fsdp --local_dir" in out
    assert "global_step_1/actor --target_dir" in out

    store = Store(db, read_only=True)
    (run,) = store.list_runs().to_pylist()
    assert run["kind"] == "train" and run["name"] == "dapo-run"
    run_id = run["run_id"]
    rollouts = store.read_table(
        "SELECT * FROM samples WHERE run_id = ? ORDER BY step, problem_id, sample_idx", [run_id]
    ).to_pylist()
    assert len(rollouts) == 8 and {r["step"] for r in rollouts} == {1, 2}
    # Grouped by input: two prompts per step, two samples each, numbered in file order.
    assert sorted({(r["step"], r["problem_id"]) for r in rollouts}).__len__() == 4
    assert {r["sample_idx"] for r in rollouts} == {0, 1}
    for r in rollouts:
        assert r["source_score"] == r["reward"] and r["verify_status"] == "ok"
        assert r["correct"] == r["source_correct"] == (r["source_score"] > 0)
        assert r["n_tokens"] == len(r["text"])  # the tiny model's tokenizer: one token a char

    (ev,) = store.list_evals().to_pylist()
    assert (ev["run_id"], ev["step"], ev["dataset"], ev["n"], ev["status"]) == (
        run_id, 2, "aime24", 2, "done"
    )  # fmt: skip
    metrics = json.loads(ev["metrics"])
    assert metrics["source_metrics"] == {"val-core/aime24/acc/mean@2": 0.5}
    assert metrics["avg@2"] == 0.5  # one of two right per problem, by fipo-bench's verdict
    val = store.eval_samples(ev["eval_id"]).to_pylist()
    assert sum(s["source_correct"] != s["correct"] for s in val) == 1

    rows = store.train_metrics(run_id).to_pylist()
    values = {(r["step"], r["name"]): r["value"] for r in rows}
    assert values[(1, "critic/score/mean")] == values[(1, "reward/mean")] == -0.5
    assert values[(1, "actor/pg_clipfrac")] == values[(1, "clip_ratio/region")] == 0.1
    assert values[(1, "policy_kl")] == 0.01
    assert values[(2, "actor/entropy")] == values[(2, "entropy")] == 1.0  # from TensorBoard

    # The merged checkpoint is a model eval and credit accept as RUN_ID:STEP.
    ref = resolve_model(f"{run_id}:2", db_path=db)
    assert ref.kind == "checkpoint" and ref.ckpt_id == f"{run_id}@2"
    assert Path(ref.location) == (verl_run / "checkpoints/global_step_2/actor/huggingface")


def test_importing_twice_adds_nothing(tmp_path, capsys, verl_run):
    db = tmp_path / "x.duckdb"
    assert _import(verl_run, db) == 0
    counts = Store(db, read_only=True).table_counts()
    assert _import(verl_run, db) == 0
    assert Store(db, read_only=True).table_counts() == counts


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"input": "q", "output": "a", "gts": "1", "step": 1}), "no 'score' field"),
        (
            json.dumps({"input": 3, "output": "a", "gts": "1", "score": 0, "step": 1}),
            "'input' is int",
        ),
        (json.dumps({"input": "q", "output": "a", "gts": None, "score": 0, "step": 1}), "'gts'"),
        (
            json.dumps({"input": "q", "output": "a", "gts": "1", "score": 0, "step": 9}),
            "'step' is 9",
        ),
    ],
)
def test_a_bad_line_anywhere_is_named_and_nothing_is_written(
    tmp_path, capsys, verl_run, line, expected
):
    """The bad line is in the last dump read; the database keeps exactly what it had."""
    with open(verl_run / "val" / "2.jsonl", "a") as f:
        f.write(line + "\n")
    db = tmp_path / "x.duckdb"
    Store(db).upsert_run("other", kind="train")
    before = Store(db, read_only=True).table_counts()
    assert _import(verl_run, db) == 2
    err = capsys.readouterr().err.strip()
    assert f"{verl_run / 'val' / '2.jsonl'}:5:" in err and expected in err
    assert len(err.splitlines()) == 1
    assert Store(db, read_only=True).table_counts() == before


def test_the_same_input_with_two_gold_answers_is_refused(tmp_path, capsys, verl_run):
    path = verl_run / "rollout" / "1.jsonl"
    first = json.loads(path.read_text().splitlines()[0])
    with open(path, "a") as f:
        f.write(json.dumps({**first, "gts": "999"}) + "\n")
    assert _import(verl_run, tmp_path / "x.duckdb") == 2
    err = capsys.readouterr().err
    assert f"{path}:5:" in err and "one prompt must have one gold answer" in err
    assert not (tmp_path / "x.duckdb").exists()


def test_without_a_tokenizer_the_import_asks_for_one(tmp_path, capsys, verl_run):
    shutil.rmtree(verl_run / "checkpoints")
    db = tmp_path / "x.duckdb"
    assert _import(verl_run, db) == 2
    assert "--tokenizer MODEL_DIR" in capsys.readouterr().err
    assert not db.exists()


def test_an_empty_folder_is_not_a_verl_run(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert _import(tmp_path / "empty", tmp_path / "x.duckdb") == 2
    assert "no verl dumps" in capsys.readouterr().err


def test_tensorboard_events_without_tensorboard_installed_is_one_line(tmp_path, verl_run):
    """A child process where tensorboard cannot be imported, as without the [tracking] extra."""
    import subprocess
    import sys

    args = ["import", "verl-run", str(verl_run), "--db", str(tmp_path / "x.duckdb")]
    code = (
        "import sys; sys.modules['tensorboard'] = None\n"
        "from fipo_bench.cli import main\n"
        f"sys.exit(main({args!r}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    err = proc.stderr.strip()
    assert "install fipo-bench[tracking]" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.duckdb").exists()


@pytest.mark.parametrize(
    "page",
    [
        "Home.py",
        "views/runs.py",
        "views/training.py",
        "views/compare.py",
        "views/trajectory.py",
        "views/export.py",
    ],
)
def test_every_dashboard_page_loads_an_imported_run(tmp_path, monkeypatch, verl_run, page):
    """The imported run is a training run with rollouts and metrics, its validation an eval:
    each page renders them without an exception (Streamlit's AppTest)."""
    from streamlit.testing.v1 import AppTest

    app = Path(__file__).resolve().parents[1] / "app"
    monkeypatch.syspath_prepend(str(app))
    db = tmp_path / "x.duckdb"
    assert _import(verl_run, db) == 0
    monkeypatch.setenv("FIPO_BENCH_DB", str(db))
    at = AppTest.from_file(str(app / page), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    if page == "views/training.py":
        assert str(at.multiselect[0].value[0]).startswith("dapo-run-")  # the imported run
