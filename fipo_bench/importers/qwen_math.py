"""`fipo-bench import qwen-math FILE.jsonl`: Qwen2.5-Math evaluation harness outputs.

The harness (QwenLM/Qwen2.5-Math evaluation/math_eval.py, main) writes one line per problem to
`{output_dir}/{data_name}/{split}_{prompt_type}_{num_test_sample}_seed{seed}_t{temperature}
_s{start}_e{end}.jsonl`: idx, question, gt (plus gt_cot and source fields), code (the n
responses), pred (the harness's extracted answers), report, and score (its verdicts, from
evaluation/evaluate.py evaluate). Metrics go beside it in `..._{prompt_type}_metrics.json`.
The scripts set output_dir to `{model}/math_eval`, so the model folder is found from the path
when it is one.
"""

from __future__ import annotations

import re
from pathlib import Path

from fipo_bench.errors import DataError
from fipo_bench.importers import keys
from fipo_bench.importers.lines import gold_text, json_lines, need, read_json
from fipo_bench.importers.records import ImportedEval, ImportedSample, ImportedSource, in_memory
from fipo_bench.tasks.problem import Problem

FORMAT = "qwen-math"
_NAME = re.compile(
    r"^(?P<split>[^_]+)_(?P<prompt>.+)_(?P<num>-?\d+)_seed(?P<seed>\d+)_t(?P<t>[\d.]+)"
    r"_s(?P<start>-?\d+)_e(?P<end>-?\d+)\.jsonl$"
)


def read(path: Path, name: str | None = None) -> ImportedSource:
    if not path.is_file():
        raise DataError(f"{path}: not a file; qwen-math takes the harness's output FILE.jsonl")
    dataset = path.parent.name or path.stem
    eval_id = keys.eval_id(FORMAT, path.resolve())
    problems: dict[str, Problem] = {}
    samples: list[ImportedSample] = []
    widths: set[int] = set()
    for where, line in json_lines(path):
        idx = need(line, "idx", (int, str), where)
        question = need(line, "question", str, where)
        gold = gold_text(line.get("gt"), where, "gt")
        codes = need(line, "code", list, where)
        scores = need(line, "score", list, where) if "score" in line else [None] * len(codes)
        if len(scores) != len(codes) or not codes:
            raise DataError(
                f"{where}: 'code' has {len(codes)} responses and 'score' {len(scores)};"
                " expected the same number, at least one"
            )
        pid = str(idx)
        if pid in problems:
            raise DataError(f"{where}: idx {idx!r} appears twice; one line per problem")
        problems[pid] = Problem(dataset, pid, question, gold, {"source": f"file:{path}"})
        widths.add(len(codes))
        for k, (text, score) in enumerate(zip(codes, scores, strict=True)):
            if not isinstance(text, str):
                raise DataError(f"{where}: code[{k}] is {type(text).__name__}; expected text")
            if score is not None and not isinstance(score, bool):
                raise DataError(f"{where}: score[{k}] is {score!r:.20}; expected true/false")
            samples.append(
                ImportedSample(
                    dataset=dataset,
                    problem_id=pid,
                    sample_idx=k,
                    text=text,
                    gold=gold,
                    eval_id=eval_id,
                    source_score=None if score is None else float(score),
                    source_correct=score,
                )
            )
    if not samples:
        raise DataError(f"{path}: no lines; expected one per problem")
    settings = _NAME.match(path.name)
    model_dir = path.parent.parent.parent if path.parent.parent.name == "math_eval" else None
    is_model = model_dir is not None and (model_dir / "config.json").is_file()
    ev = ImportedEval(
        eval_id=eval_id,
        dataset=dataset,
        n=max(widths),
        engine=FORMAT,
        model_path=str(model_dir.resolve()) if is_model else None,
        temperature=float(settings["t"]) if settings else float("nan"),
        seed=int(settings["seed"]) if settings else 0,
        source_metrics=_metrics(path, settings["prompt"] if settings else None),
        # The harness's prompt name (qwen25-math-cot, ...), not one of fipo-bench's templates.
        config={"name": name, "prompt_type": settings["prompt"] if settings else None},
    )
    tokenizer_dir = model_dir if is_model else None
    return in_memory(
        FORMAT, path, [ev], list(problems.values()), samples, tokenizer_dir=tokenizer_dir
    )


def _metrics(path: Path, prompt_type: str | None) -> dict[str, float]:
    if prompt_type is None:
        return {}
    metrics_file = path.with_name(path.name.removesuffix(".jsonl") + f"_{prompt_type}_metrics.json")
    if not metrics_file.is_file():
        return {}
    loaded = read_json(metrics_file)
    if not isinstance(loaded, dict):
        return {}
    return {
        k: float(v)
        for k, v in loaded.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
