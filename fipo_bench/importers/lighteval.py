"""`fipo-bench import lighteval DIR`: a lighteval output folder (details parquet + results json).

lighteval's EvaluationTracker.save (src/lighteval/logging/evaluation_tracker.py) writes
`DIR/results/{model}/results_{date}.json` (config_general with model_name and the generation
parameters, results {task: {metric: value}}) and, with --save-details,
`DIR/details/{model}/{date}/details_{task}_{date}.parquet`: one row per doc, the columns of
DetailsLogger.Detail (src/lighteval/logging/info_loggers.py): `doc` (Doc: query, choices,
gold_index, id, ...), `model_response` (ModelResponse: text = the n samples, output_tokens),
`metric` (that doc's scores). Every details file becomes one eval; a doc's samples its
responses. lighteval scores a doc, not each sample, so a sample carries the doc's verdict only
when the doc has one sample.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fipo_bench.errors import DataError
from fipo_bench.importers import keys
from fipo_bench.importers.lines import gold_text, number_or_nan, read_json
from fipo_bench.importers.records import ImportedEval, ImportedSample, ImportedSource, in_memory
from fipo_bench.tasks.problem import Problem

FORMAT = "lighteval"
_DETAILS = re.compile(r"^details_(?P<task>.+)_(?P<date>[^_]+)\.parquet$")


def read(root: Path, name: str | None = None) -> ImportedSource:
    if not root.is_dir():
        raise DataError(f"{root}: not a folder; lighteval takes its --output-dir")
    files = sorted(root.glob("details/**/details_*.parquet"))
    if not files:
        raise DataError(
            f"{root}: no details/**/details_<task>_<date>.parquet (run with --save-details)"
        )
    evals, problems, samples = [], {}, []
    for path in files:
        match = _DETAILS.match(path.name)
        if match is None:
            raise DataError(f"{path}: name is not details_<task>_<date>.parquet")
        results = _results(root, path, match["date"])
        ev, doc_problems, doc_samples = _read_details(path, match["task"], results)
        evals.append(ev)
        problems.update({(p.dataset, p.problem_id): p for p in doc_problems})
        samples.extend(doc_samples)
    return in_memory(FORMAT, root, evals, list(problems.values()), samples)


def _read_details(path: Path, task: str, results: dict[str, Any]):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(path).to_pylist()
    except (pa.ArrowException, OSError, ValueError) as err:
        raise DataError(
            f"{path}: not a readable parquet file ({str(err).splitlines()[0]})"
        ) from None
    dataset = task.split("|")[1] if task.count("|") >= 2 else task
    config = results.get("config_general") or {}
    params = (config.get("model_config") or {}).get("generation_parameters") or {}
    eval_id = keys.eval_id(FORMAT, path.resolve())
    problems, samples, width = [], [], 1
    for i, row in enumerate(rows):
        where = f"{path} row {i}"
        doc, response = row.get("doc"), row.get("model_response")
        if not isinstance(doc, dict) or not isinstance(response, dict):
            raise DataError(
                f"{where}: no 'doc' / 'model_response' struct; not a lighteval details file"
            )
        texts = response.get("text")
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            raise DataError(
                f"{where}: model_response.text is {texts!r:.40}; expected a list of responses"
            )
        gold = gold_text(_gold(doc, where), where, "doc.choices[gold_index]")
        pid = str(doc.get("id") or i)
        query = doc.get("original_query") or doc.get("query")
        if not isinstance(query, str):
            raise DataError(f"{where}: doc.query is {query!r:.40}; expected text")
        problems.append(Problem(dataset, pid, query, gold, {"source": f"file:{path}"}))
        score, correct = _doc_verdict(row.get("metric"), len(texts))
        tokens = response.get("output_tokens") or []
        width = max(width, len(texts))
        for k, text in enumerate(texts):
            ids = tokens[k] if k < len(tokens) and isinstance(tokens[k], list) else None
            samples.append(
                ImportedSample(
                    dataset=dataset,
                    problem_id=pid,
                    sample_idx=k,
                    text=text,
                    gold=gold,
                    eval_id=eval_id,
                    n_tokens=len(ids) if ids else None,
                    source_score=score,
                    source_correct=correct,
                )
            )
    ev = ImportedEval(
        eval_id=eval_id,
        dataset=dataset,
        n=width,
        engine=FORMAT,
        model_path=config.get("model_name"),
        temperature=number_or_nan(params.get("temperature")),
        top_p=number_or_nan(params.get("top_p")),
        max_tokens=int(params.get("max_new_tokens") or 0),
        seed=int(params.get("seed") or 0),
        source_metrics=(results.get("results") or {}).get(task, {}),
        config={"task": task},
    )
    return ev, problems, samples


def _gold(doc: dict[str, Any], where: str) -> Any:
    choices, index = doc.get("choices"), doc.get("gold_index")
    if isinstance(index, list):
        index = index[0] if index else None
    if not isinstance(choices, list) or not isinstance(index, int) or not 0 <= index < len(choices):
        raise DataError(f"{where}: doc.gold_index {index!r} does not index doc.choices")
    return choices[index]


def _doc_verdict(metric: Any, n_samples: int) -> tuple[float | None, bool | None]:
    """The doc's first metric; a verdict only for a single sample scored 0 or 1."""
    if not isinstance(metric, dict):
        return None, None
    values = [v for v in metric.values() if isinstance(v, int | float) and not isinstance(v, bool)]
    if not values:
        return None, None
    score = float(values[0])
    return score, (score == 1.0) if n_samples == 1 and score in (0.0, 1.0) else None


def _results(root: Path, details: Path, date: str) -> dict[str, Any]:
    """The results json of the same run (same model folder and date), {} when absent."""
    model = details.parent.parent.relative_to(root / "details")
    path = root / "results" / model / f"results_{date}.json"
    loaded = read_json(path) if path.is_file() else {}
    return loaded if isinstance(loaded, dict) else {}
