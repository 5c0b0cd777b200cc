"""`fipo-bench import lighteval DIR` and `import qwen-math FILE` on outputs laid out as the tools
write them. Neither tool runs here without a model download, so the files are written by the
same calls the tools make (each helper cites the function it follows)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fipo_bench.cli import main
from fipo_bench.store import Store

RESPONSES = {  # problem -> (gold, responses)
    "0": ("25", ["So 25.\nAnswer: 25", "Answer: 24"]),
    "1": ("\\frac{1}{2}", ["The answer is \\boxed{\\frac{1}{2}}.", "\\boxed{0.5}"]),
}


def write_lighteval(root: Path, task: str = "lighteval|aime24|0") -> Path:
    """src/lighteval/logging/evaluation_tracker.py EvaluationTracker.save: details are
    datasets.Dataset.from_list([asdict(Detail)]) with the columns sorted (and 'id' dropped),
    written with to_parquet to details/{model}/{date}/details_{task}_{date}.parquet; results to
    results/{model}/results_{date}.json. Detail = (doc: Doc, model_response: ModelResponse,
    metric: dict) from src/lighteval/logging/info_loggers.py."""
    from datasets import Dataset

    date, model = "2026-01-02T03-04-05.678901", "org/tiny-model"
    details = []
    for pid, (gold, texts) in RESPONSES.items():
        doc = {"query": f"Problem {pid}", "choices": [gold], "gold_index": 0, "instruction": None,
               "specific": None, "unconditioned_query": None, "original_query": None, "id": pid,
               "task_name": task, "fewshot_samples": [], "generation_size": 64,
               "stop_sequences": None, "use_logits": False, "num_samples": len(texts)}  # fmt: skip
        response = {"input": f"Problem {pid}", "input_tokens": [1, 2], "text": texts,
                    "output_tokens": [list(range(len(t))) for t in texts],
                    "text_post_processed": None, "reasonings": [], "logprobs": [],
                    "argmax_logits_eq_gold": [], "truncated_tokens_count": 0,
                    "padded_tokens_count": 0}  # fmt: skip
        details.append({"doc": doc, "model_response": response, "metric": {"avg@n:n=2": 0.5}})
    folder = root / "details" / model / date
    folder.mkdir(parents=True)
    dataset = Dataset.from_list(details)
    dataset.select_columns(sorted(dataset.column_names)).to_parquet(
        str(folder / f"details_{task}_{date}.parquet")
    )
    results = {
        "config_general": {"model_name": model, "model_config": {"generation_parameters": {
            "temperature": 0.6, "top_p": 0.95, "max_new_tokens": 64, "seed": 3}}},
        "results": {task: {"avg@n:n=2": 0.5}, "all": {"avg@n:n=2": 0.5}},
    }  # fmt: skip
    (root / "results" / model).mkdir(parents=True)
    (root / "results" / model / f"results_{date}.json").write_text(json.dumps(results, indent=2))
    return root


def test_lighteval_details_become_an_eval_with_the_tools_settings_and_metrics(tmp_path, capsys):
    root = write_lighteval(tmp_path / "lighteval-out")
    db = tmp_path / "x.duckdb"
    assert main(["import", "lighteval", str(root), "--db", str(db)]) == 0
    assert "4 samples" in capsys.readouterr().out
    store = Store(db, read_only=True)
    (ev,) = store.list_evals().to_pylist()
    assert (ev["dataset"], ev["n"], ev["engine"], ev["model_path"]) == (
        "aime24", 2, "lighteval", "org/tiny-model"
    )  # fmt: skip
    assert (ev["temperature"], ev["top_p"], ev["max_tokens"], ev["seed"]) == (0.6, 0.95, 64, 3)
    metrics = json.loads(ev["metrics"])
    assert metrics["source_metrics"] == {"avg@n:n=2": 0.5}
    assert metrics["avg@2"] == 0.75  # 25, \frac{1}{2} and 0.5 are right; 24 is not
    rows = {
        (r["problem_id"], r["sample_idx"]): r for r in store.eval_samples(ev["eval_id"]).to_pylist()
    }
    assert rows[("0", 1)]["correct"] is False and rows[("1", 1)]["correct"] is True
    assert all(r["n_tokens"] == len(r["text"]) for r in rows.values())  # output_tokens counted
    assert all(r["source_correct"] is None for r in rows.values())  # a doc score, 2 samples
    counts = store.table_counts()
    assert main(["import", "lighteval", str(root), "--db", str(db)]) == 0
    assert Store(db, read_only=True).table_counts() == counts


def test_lighteval_details_without_the_struct_columns_are_refused(tmp_path, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "out" / "details" / "m" / "2026-01-01T00-00-00"
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"query": ["q"]}), folder / "details_x|y|0_2026-01-01T00-00-00.parquet")
    assert (
        main(["import", "lighteval", str(tmp_path / "out"), "--db", str(tmp_path / "x.duckdb")])
        == 2
    )
    err = capsys.readouterr().err
    assert "row 0" in err and "no 'doc' / 'model_response'" in err
    assert not (tmp_path / "x.duckdb").exists()


def save_jsonl(samples, path: Path) -> None:
    """QwenLM/Qwen2.5-Math evaluation/utils.py save_jsonl: json.dumps(sample,
    ensure_ascii=False) + newline per sample."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for sample in samples:
            f.write(json.dumps(sample, ensure_ascii=False) + "\n")


def write_qwen_math(model_dir: Path) -> Path:
    """evaluation/math_eval.py main: out_file = {output_dir}/{data_name}/{split}_{prompt_type}_
    {num_test_sample}_seed{seed}_t{temperature}_s{start}_e{end}.jsonl with output_dir =
    {model}/math_eval (the scripts' default); each sample idx, question, gt_cot, gt, code,
    pred, report, then score from evaluation/evaluate.py; metrics json beside it."""
    out = model_dir / "math_eval" / "aime24" / "test_qwen25-math-cot_-1_seed0_t0.7_s0_e-1.jsonl"
    samples = []
    for pid, (gold, texts) in RESPONSES.items():
        samples.append({"idx": int(pid), "question": f"Problem {pid}", "gt_cot": "", "gt": gold,
                        "code": texts, "pred": [t[-4:] for t in texts], "report": [None] * 2,
                        # The harness's own grader: here it calls 0.5 wrong for \frac{1}{2}.
                        "score": [True, False]})  # fmt: skip
    save_jsonl(samples, out)
    out.with_name(out.stem + "_qwen25-math-cot_metrics.json").write_text(
        json.dumps({"num_samples": 2, "num_scores": 4, "timeout_samples": 0, "acc": 50.0})
    )
    return out


def test_qwen_math_outputs_keep_the_harness_verdicts_and_find_the_model(
    tmp_path, capsys, tiny_model_dir
):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    out = write_qwen_math(model)
    db = tmp_path / "x.duckdb"
    assert main(["import", "qwen-math", str(out), "--db", str(db)]) == 0
    assert "3 agree, 1 disagree" in capsys.readouterr().out
    store = Store(db, read_only=True)
    (ev,) = store.list_evals().to_pylist()
    assert (ev["dataset"], ev["n"], ev["temperature"], ev["model_path"]) == (
        "aime24", 2, 0.7, str(model.resolve())
    )  # fmt: skip
    assert json.loads(ev["metrics"])["source_metrics"]["acc"] == 50.0
    assert json.loads(ev["config"])["prompt_type"] == "qwen25-math-cot"
    rows = {
        (r["problem_id"], r["sample_idx"]): r for r in store.eval_samples(ev["eval_id"]).to_pylist()
    }
    disagreement = rows[("1", 1)]
    assert (disagreement["source_correct"], disagreement["correct"]) == (False, True)
    assert all(r["n_tokens"] == len(r["text"]) for r in rows.values())  # the model's tokenizer


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ({"idx": 0, "question": "q", "gt": "1", "code": ["a", "b"], "score": [True]}, "'score' 1"),
        ({"idx": 0, "question": "q", "gt": None, "code": ["a"], "score": [True]}, "'gt'"),
        ({"idx": 0, "question": "q", "gt": "1", "code": [3], "score": [True]}, "code[0] is int"),
    ],
)
def test_a_bad_qwen_math_line_is_named(tmp_path, capsys, line, expected):
    path = tmp_path / "aime24" / "test_x_-1_seed0_t0.0_s0_e-1.jsonl"
    save_jsonl([{"idx": 9, "question": "q", "gt": "1", "code": ["Answer: 1"], "score": [True]},
                line], path)  # fmt: skip
    db = tmp_path / "x.duckdb"
    assert main(["import", "qwen-math", str(path), "--db", str(db), "--tokenizer", "x"]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{path}:2:" in err and expected in err and len(err.splitlines()) == 1
    assert not db.exists()
