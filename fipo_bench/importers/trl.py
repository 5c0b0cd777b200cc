"""`fipo-bench import trl DIR`: a TRL GRPOTrainer output folder.

What TRL writes (trl/trainer/grpo_trainer.py, GRPOTrainer.log with log_completions=True):
`DIR/completions/completions_{global_step:05d}.parquet`, columns step, prompt, completion, one
column per reward function (named after it), the columns reward functions logged with
`log_extra`, and advantage; the Trainer's `trainer_state.json` (log_history: one dict of
metrics per logged step) in DIR and in each `checkpoint-N/`, the weights of `checkpoint-N/`.
Rollouts are stored per step, grouped by prompt. The source's score is the sum of the reward
columns (TRL's default reward_weights of 1) and, when there is a single reward that is always
0 or 1, its verdict. Gold answers, for fipo-bench's re-verification, come from a logged column
named answer, solution, ground_truth, gts or gold (log it with `log_extra` in a reward).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fipo_bench.errors import DataError
from fipo_bench.importers import keys
from fipo_bench.importers.lines import gold_text, read_json
from fipo_bench.importers.metric_names import trl_to_fipo
from fipo_bench.importers.records import ImportedRun, ImportedSample, ImportedSource
from fipo_bench.tasks.problem import Problem

FORMAT = "trl"
_COMPLETIONS = re.compile(r"^completions_(\d+)\.parquet$")
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
GOLD_COLUMNS = ("answer", "solution", "ground_truth", "gts", "gold")
_NOT_REWARDS = {"step", "advantage"}
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def read(root: Path, name: str | None = None) -> ImportedSource:
    if not root.is_dir():
        raise DataError(f"{root}: not a folder; trl takes the trainer's output_dir")
    name = name or root.resolve().name
    run_id = keys.run_id(FORMAT, name, root)
    dataset = f"{name}-train"
    files = sorted(
        (int(m[1]), p)
        for p in (root / "completions").glob("completions_*.parquet")
        if (m := _COMPLETIONS.match(p.name))
    )
    checkpoints = _checkpoints(root)
    metrics = _log_history(root)
    if not files and not metrics:
        raise DataError(
            f"{root}: no completions/completions_<step>.parquet (log_completions=True) and no"
            " trainer_state.json found"
        )
    problems: dict[str, Problem] = {}
    num_samples, gold_found = 0, False
    for _, path in files:
        for where, row, columns in _rows(path):
            prompt, _, gold = _fields(row, where, columns)
            gold_found = gold_found or gold is not None
            pid = keys.prompt_problem_id(prompt)
            if pid not in problems:
                meta = {"source": f"file:{path}"}
                problems[pid] = Problem(dataset, pid, prompt, gold or "", meta)
            num_samples += 1
    notes = (
        []
        if gold_found or not files
        else [
            f"{root}: no gold answer column ({', '.join(GOLD_COLUMNS)}) in the completions: TRL's"
            " rewards are kept, fipo-bench did not re-verify (log one with log_extra)"
        ]
    )

    def samples() -> Iterator[list[ImportedSample]]:
        for _, path in files:
            index: dict[tuple[int, str], int] = defaultdict(int)
            batch = []
            for where, row, columns in _rows(path):
                prompt, completion, gold = _fields(row, where, columns)
                step = _step(row, where)
                pid = keys.prompt_problem_id(prompt)
                score, correct = _score(row, columns)
                batch.append(
                    ImportedSample(
                        dataset=dataset,
                        problem_id=pid,
                        sample_idx=index[(step, pid)],
                        text=completion,
                        gold=gold,
                        run_id=run_id,
                        step=step,
                        source_score=score,
                        source_correct=correct,
                        reward=score,
                        advantage=_finite(row.get("advantage")),
                    )
                )
                index[(step, pid)] += 1
            yield batch

    tokenizer_dir = next(
        (p for p in [root, *(c for _, c in reversed(checkpoints))]
         if any((p / f).is_file() for f in _TOKENIZER_FILES)),
        None,
    )  # fmt: skip
    return ImportedSource(
        format=FORMAT,
        path=root,
        samples=samples,
        num_samples=num_samples,
        run=ImportedRun(
            run_id=run_id,
            name=name,
            algo=None,
            config={"imported_from": {"format": FORMAT, "path": str(root.resolve())}},
        ),
        problems=list(problems.values()),
        checkpoints=checkpoints,
        metrics={step: trl_to_fipo(m) for step, m in metrics.items()},
        tokenizer_dir=tokenizer_dir,
        notes=notes,
    )


def _rows(path: Path) -> Iterator[tuple[str, dict[str, Any], dict[str, str]]]:
    """(locator, row, {column: kind}) for each row; kind is "number", "text" or "other"."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError, ValueError) as err:
        raise DataError(
            f"{path}: not a readable parquet file ({str(err).splitlines()[0]})"
        ) from None
    for column in ("step", "prompt", "completion"):
        if column not in table.column_names:
            raise DataError(f"{path}: no {column!r} column; not a TRL completions file")
    kinds = {
        f.name: "number" if pa.types.is_floating(f.type) or pa.types.is_integer(f.type)
        else "text" if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
        else "other"
        for f in table.schema
    }  # fmt: skip
    for i, row in enumerate(table.to_pylist()):
        yield f"{path} row {i}", row, kinds


def _fields(row: dict[str, Any], where: str, kinds: dict[str, str]) -> tuple[str, str, str | None]:
    prompt = _message_text(row.get("prompt"), where, "prompt", "user")
    completion = _message_text(row.get("completion"), where, "completion", "assistant")
    column = next((c for c in GOLD_COLUMNS if kinds.get(c) == "text"), None)
    gold = None
    if column is not None and row.get(column) is not None:
        gold = gold_text(row[column], where, column)
    _step(row, where)
    return prompt, completion, gold


def _message_text(value: Any, where: str, column: str, role: str) -> str:
    """Plain text, or the last `role` message of a conversational row."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        for message in reversed(value):
            if isinstance(message, dict) and message.get("role") == role:
                content = message.get("content")
                if isinstance(content, str):
                    return content
    raise DataError(f"{where}: {column!r} is {value!r:.40}; expected text or chat messages")


def _step(row: dict[str, Any], where: str) -> int:
    step = row.get("step")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise DataError(f"{where}: 'step' is {step!r:.20}; expected an integer >= 0")
    return step


def _score(row: dict[str, Any], kinds: dict[str, str]) -> tuple[float | None, bool | None]:
    rewards = [c for c, kind in kinds.items() if kind == "number" and c not in _NOT_REWARDS]
    values = [row[c] for c in rewards if _finite(row.get(c)) is not None]
    if not values:
        return None, None
    total = float(sum(values))
    correct = (total == 1.0) if len(rewards) == 1 and total in (0.0, 1.0) else None
    return total, correct


def _log_history(root: Path) -> dict[int, dict[str, float]]:
    """step -> metrics from the most advanced trainer_state.json (DIR's or a checkpoint's)."""
    states = [root / "trainer_state.json", *root.glob("checkpoint-*/trainer_state.json")]
    best: tuple[int, list] | None = None
    for path in states:
        if not path.is_file():
            continue
        state = read_json(path)
        history = state.get("log_history") if isinstance(state, dict) else None
        if not isinstance(history, list):
            raise DataError(f"{path}: no log_history list; not a transformers trainer_state.json")
        step = state.get("global_step") if isinstance(state.get("global_step"), int) else 0
        if best is None or step > best[0]:
            best = (step, history)
    out: dict[int, dict[str, float]] = defaultdict(dict)
    for entry in best[1] if best else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("step"), int):
            continue
        for key, value in entry.items():
            if key != "step" and _finite(value) is not None:
                out[entry["step"]][key] = float(value)
    return dict(out)


def _checkpoints(root: Path) -> list[tuple[int, Path]]:
    found = []
    for folder in root.glob("checkpoint-*"):
        match = _CHECKPOINT.match(folder.name)
        if match and folder.is_dir() and any(folder.glob("*.safetensors")):
            found.append((int(match[1]), folder.resolve()))
    return sorted(found)


def _finite(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok and math.isfinite(value) else None
