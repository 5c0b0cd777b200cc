"""`fipo-bench import inspect FILE.eval`: an Inspect AI evaluation log.

The .eval format (inspect_ai/log/_recorders/eval.py, EvalRecorder): a zip holding header.json
(the EvalLog without samples: eval.task / model / dataset / config.epochs, plan.config with
the generate settings, results.scores with the scorers' metrics) and samples/{id}_epoch_{n}.json
(EvalSample: id, epoch, input, target, output.completion / choices[0].stop_reason /
usage.output_tokens, scores {scorer: {value, answer}}). Inspect 0.3.2xx compresses members
with zstd (inspect_ai/_util/zipfile.py), older logs with deflate; both are read.
Each (sample id, epoch) becomes sample epoch-1 of problem `id`; the first scorer's value is the
source's verdict (C correct, I / N wrong, numbers as given).
"""

from __future__ import annotations

import json
import re
import struct
import zipfile
from pathlib import Path
from typing import Any

from fipo_bench.errors import DataError
from fipo_bench.importers import keys
from fipo_bench.importers.lines import gold_text, number_or_nan
from fipo_bench.importers.records import ImportedEval, ImportedSample, ImportedSource, in_memory
from fipo_bench.tasks.problem import Problem

FORMAT = "inspect"
_SAMPLE = re.compile(r"^samples/(.+)_epoch_(\d+)\.json$")
_ZSTD = 93  # zip compression method id of Zstandard
_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
# Inspect's letter grades (inspect_ai/scorer/_metric.py CORRECT, INCORRECT, PARTIAL, NOANSWER).
_GRADES = {"C": (1.0, True), "I": (0.0, False), "N": (0.0, False), "P": (0.5, None)}
_STOP = {"stop": "stop", "max_tokens": "length", "model_length": "length"}


def read(path: Path, name: str | None = None) -> ImportedSource:
    if not path.is_file():
        raise DataError(f"{path}: not a file; inspect takes an Inspect log FILE.eval")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise DataError(f"{path}: not an Inspect .eval log (not a zip file: {err})") from None
    with archive:
        header = _member_json(path, archive, "header.json")
        members = sorted(n for n in archive.namelist() if _SAMPLE.match(n))
        records = [(m, _member_json(path, archive, m)) for m in members]
    task = _dig(header, "eval", "task") or path.stem
    dataset = _dig(header, "eval", "dataset", "name") or task
    config = _dig(header, "plan", "config") or {}
    eval_id = keys.eval_id(FORMAT, _dig(header, "eval", "eval_id") or path.resolve())
    problems: dict[str, Problem] = {}
    samples: list[ImportedSample] = []
    for member, record in records:
        where = f"{path}:{member}"
        sample, problem = _sample(record, where, eval_id, dataset)
        if problem.problem_id in problems and problems[problem.problem_id].answer != problem.answer:
            raise DataError(
                f"{where}: target differs from another epoch of sample {problem.problem_id!r}"
            )
        problems.setdefault(problem.problem_id, problem)
        samples.append(sample)
    if not samples:
        raise DataError(f"{path}: the log holds no samples (status {header.get('status')!r})")
    per_problem = [sum(s.problem_id == pid for s in samples) for pid in problems]
    ev = ImportedEval(
        eval_id=eval_id,
        dataset=dataset,
        n=max(per_problem),
        engine=FORMAT,
        model_path=_dig(header, "eval", "model"),
        temperature=number_or_nan(config.get("temperature")),
        top_p=number_or_nan(config.get("top_p")),
        max_tokens=int(config.get("max_tokens") or 0),
        seed=int(config.get("seed") or 0),
        source_metrics=_metrics(header),
        config={"task": task, "inspect_status": header.get("status"), "name": name},
    )
    return in_memory(FORMAT, path, [ev], list(problems.values()), samples)


def _sample(record: Any, where: str, eval_id: str, dataset: str) -> tuple[ImportedSample, Problem]:
    if not isinstance(record, dict):
        raise DataError(f"{where}: a sample is a JSON object, got {type(record).__name__}")
    pid, epoch = record.get("id"), record.get("epoch")
    if not isinstance(pid, str | int) or isinstance(pid, bool):
        raise DataError(f"{where}: 'id' is {pid!r:.40}; expected a string or integer")
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 1:
        raise DataError(f"{where}: 'epoch' is {epoch!r:.40}; expected an integer >= 1")
    output = record.get("output") if isinstance(record.get("output"), dict) else {}
    text = output.get("completion")
    if not isinstance(text, str):
        raise DataError(f"{where}: 'output.completion' is {text!r:.40}; expected text")
    gold = gold_text(record.get("target"), where, "target")
    score, correct = _verdict(record.get("scores"), where)
    choices = output.get("choices") or [{}]
    stop = choices[0].get("stop_reason") if isinstance(choices[0], dict) else None
    usage = output.get("usage") if isinstance(output.get("usage"), dict) else {}
    n_tokens = usage.get("output_tokens")
    problem = Problem(dataset, str(pid), _input_text(record.get("input"), where), gold,
                      {"source": f"inspect:{where}"})  # fmt: skip
    sample = ImportedSample(
        dataset=dataset,
        problem_id=str(pid),
        sample_idx=epoch - 1,
        text=text,
        gold=gold,
        eval_id=eval_id,
        n_tokens=n_tokens if isinstance(n_tokens, int) and n_tokens >= 0 else None,
        finish_reason=_STOP.get(stop),
        source_score=score,
        source_correct=correct,
    )
    return sample, problem


def _verdict(scores: Any, where: str) -> tuple[float | None, bool | None]:
    """The first scorer's value as (score, correct)."""
    if not isinstance(scores, dict) or not scores:
        return None, None
    first = next(iter(scores.values()))
    value = first.get("value") if isinstance(first, dict) else None
    if isinstance(value, str) and value in _GRADES:
        return _GRADES[value]
    if isinstance(value, bool):
        return float(value), value
    if isinstance(value, int | float):
        return float(value), True if value == 1 else False if value == 0 else None
    return None, None


def _input_text(value: Any, where: str) -> str:
    """A string input, or the last user message of a chat input."""
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, list):
        for message in reversed(value):
            if isinstance(message, dict) and message.get("role") == "user":
                content = message.get("content")
                if isinstance(content, str):
                    return content
                if isinstance(content, list):
                    return "".join(c.get("text", "") for c in content if isinstance(c, dict))
    raise DataError(f"{where}: 'input' is {value!r:.40}; expected text or chat messages")


def _metrics(header: dict[str, Any]) -> dict[str, float]:
    out = {}
    for score in _dig(header, "results", "scores") or []:
        for metric in (score.get("metrics") or {}).values():
            if isinstance(metric.get("value"), int | float):
                out[f"{score.get('name')}/{metric.get('name')}"] = float(metric["value"])
    return out


def _member_json(path: Path, archive: zipfile.ZipFile, member: str) -> Any:
    try:
        info = archive.getinfo(member)
    except KeyError:
        raise DataError(f"{path}: no {member} inside; not an Inspect .eval log") from None
    try:
        data = _zstd_member(path, info) if info.compress_type == _ZSTD else archive.read(info)
        return json.loads(data)
    except (zipfile.BadZipFile, OSError, ValueError, RecursionError) as err:
        raise DataError(f"{path}:{member}: cannot be read ({err})") from None


def _zstd_member(path: Path, info: zipfile.ZipInfo) -> bytes:
    """Python < 3.14's zipfile cannot inflate zstd members: read the raw bytes after the local
    header and decompress them (members may hold several zstd frames)."""
    import zstandard

    with path.open("rb") as handle:
        handle.seek(info.header_offset)
        fields = _LOCAL_HEADER.unpack(handle.read(_LOCAL_HEADER.size))
        if fields[0] != b"PK\x03\x04":
            raise ValueError("bad local file header")
        handle.seek(info.header_offset + _LOCAL_HEADER.size + fields[9] + fields[10])
        raw = handle.read(info.compress_size)
    reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    return reader.read()


def _dig(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj
