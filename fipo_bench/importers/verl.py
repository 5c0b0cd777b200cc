"""`fipo-bench import verl-run DIR`: a verl training run's dumps, metrics and checkpoints.

What verl writes, and what is read from DIR (searched recursively):
- rollout and validation dumps, `RayPPOTrainer._dump_generations` (verl/trainer/ppo/
  ray_trainer.py): `{rollout_data_dir|validation_data_dir}/{global_step}.jsonl`, one line per
  sample with input, output, gts, score, step plus the reward's extra fields (acc, pred, ...).
  A folder of `<step>.jsonl` files is a validation dump when its name contains "val"
  (verl's default names are free; say validation_data_dir=.../val...), else rollouts. Lines
  carry no prompt id: samples with the same input are one problem, numbered in file order.
- metrics of the file logger (`trainer.logger=[file]`, verl/utils/tracking.py FileLogger):
  JSON lines `{"step": N, "data": {...}}`, and TensorBoard event files (`_TensorboardAdapter`),
  read with tensorboard's own EventAccumulator. verl's names are kept and fipo-bench's added.
- checkpoints `global_step_N/actor/huggingface` (FSDPCheckpointManager): with weights they are
  registered, so `eval --model RUN_ID:N` and `credit --ref RUN_ID:N` take them; without, the
  `verl.model_merger` command that writes them is printed.
- the Hydra config (`.hydra/config.yaml`), when present, for the algorithm and sampling settings.
Each validation dump becomes an eval linked to the run and its step, with the step's
`val-core/<data_source>/...` numbers kept as the source's metrics.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fipo_bench.errors import DataError
from fipo_bench.importers import keys
from fipo_bench.importers.lines import gold_text, json_lines, need, number, number_or_nan, verdict
from fipo_bench.importers.metric_names import verl_to_fipo
from fipo_bench.importers.records import (
    ImportedEval,
    ImportedRun,
    ImportedSample,
    ImportedSource,
)
from fipo_bench.tasks.problem import Problem

FORMAT = "verl-run"
_DUMP = re.compile(r"^(\d+)\.jsonl$")
_CKPT = re.compile(r"^global_step_(\d+)$")
_WEIGHTS = ("*.safetensors", "*.bin")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


@dataclass(frozen=True)
class _Dump:
    path: Path
    step: int
    validation: bool


def _dumps(root: Path) -> list[_Dump]:
    found = []
    for path in sorted(root.rglob("*.jsonl")):
        match = _DUMP.match(path.name)
        if match:
            found.append(_Dump(path, int(match[1]), "val" in path.parent.name.lower()))
    return sorted(found, key=lambda d: (d.validation, d.step))


def read(root: Path, name: str | None = None) -> ImportedSource:
    if not root.is_dir():
        raise DataError(f"{root}: not a folder; verl-run takes a run's output folder")
    name = name or root.resolve().name
    run_id = keys.run_id(FORMAT, name, root)
    config = _hydra_config(root)
    metrics = _metrics(root)
    dumps = _dumps(root)
    checkpoints, notes, tokenizer_dir = _checkpoints(root)
    if not dumps and not metrics and not checkpoints:
        raise DataError(
            f"{root}: no verl dumps (<step>.jsonl), metrics (file logger jsonl, TensorBoard"
            " events) or checkpoints (global_step_N/actor) found"
        )
    val_kwargs = _get(config, "actor_rollout_ref.rollout.val_kwargs") or {}
    problems: dict[tuple[str, str], tuple[Problem, str]] = {}
    evals: list[ImportedEval] = []
    datasets: dict[Path, str] = {}
    num_samples = 0
    for dump in dumps:
        dataset = (
            _val_dataset(metrics.get(dump.step, {}), name) if dump.validation else (f"{name}-train")
        )
        datasets[dump.path] = dataset
        counts = _check_dump(dump, dataset, problems)
        num_samples += sum(counts.values())
        if dump.validation:
            evals.append(
                ImportedEval(
                    eval_id=keys.eval_id(FORMAT, root.resolve(), "validation", dump.step),
                    dataset=dataset,
                    n=max(counts.values(), default=1),
                    engine="verl",
                    model_path=_get(config, "actor_rollout_ref.model.path"),
                    temperature=number_or_nan(val_kwargs.get("temperature")),
                    top_p=number_or_nan(val_kwargs.get("top_p")),
                    max_tokens=int(_get(config, "data.max_response_length") or 0),
                    run_id=run_id,
                    step=dump.step,
                    source_metrics={
                        k: v
                        for k, v in metrics.get(dump.step, {}).items()
                        if k.startswith(("val-core/", "val-aux/"))
                    },
                    config={"validation_dump": str(dump.path)},
                )
            )
    eval_of_step = {ev.step: ev.eval_id for ev in evals}

    def samples() -> Iterator[list[ImportedSample]]:
        for dump in dumps:
            owner = (
                {"eval_id": eval_of_step[dump.step]}
                if dump.validation
                else {"run_id": run_id, "step": dump.step}
            )
            yield list(_dump_samples(dump, datasets[dump.path], owner))

    run = ImportedRun(
        run_id=run_id,
        name=name,
        algo=_algo(config),
        config={"imported_from": {"format": FORMAT, "path": str(root.resolve())}, "verl": config},
        model_path=_get(config, "actor_rollout_ref.model.path"),
    )
    return ImportedSource(
        format=FORMAT,
        path=root,
        samples=samples,
        num_samples=num_samples,
        run=run,
        evals=evals,
        problems=[p for p, _ in problems.values()],
        checkpoints=checkpoints,
        metrics={step: verl_to_fipo(m) for step, m in metrics.items()},
        tokenizer_dir=tokenizer_dir,
        notes=notes,
    )


def _check_dump(
    dump: _Dump, dataset: str, problems: dict[tuple[str, str], tuple[Problem, str]]
) -> dict[str, int]:
    """Validate every line of one dump; record its problems; samples per problem id."""
    counts: dict[str, int] = defaultdict(int)
    for where, line in json_lines(dump.path):
        prompt, _, gold = _line_fields(line, where, dump.step)
        pid = keys.prompt_problem_id(prompt)
        counts[pid] += 1
        seen = problems.get((dataset, pid))
        if seen is None:
            meta = {"source": f"file:{dump.path}", "source_prompt": prompt}
            problems[(dataset, pid)] = (Problem(dataset, pid, prompt, gold, meta), where)
        elif seen[0].answer != gold:
            raise DataError(
                f"{where}: 'gts' is {gold!r} but the same input had {seen[0].answer!r} at"
                f" {seen[1]}; one prompt must have one gold answer"
            )
    return counts


def _line_fields(line: dict[str, Any], where: str, step: int) -> tuple[str, str, str]:
    prompt = need(line, "input", str, where)
    output = need(line, "output", str, where)
    if "gts" not in line:
        raise DataError(f"{where}: no 'gts' field")
    gold = gold_text(line["gts"], where, "gts")
    number(need(line, "score", (int, float), where), where, "score")
    line_step = line.get("step", step)
    if line_step != step:
        raise DataError(f"{where}: 'step' is {line_step!r} in the dump of step {step}")
    verdict(line.get("acc"), where, "acc")
    return prompt, output, gold


def _dump_samples(dump: _Dump, dataset: str, owner: dict[str, Any]) -> Iterator[ImportedSample]:
    index: dict[str, int] = defaultdict(int)
    for where, line in json_lines(dump.path):
        prompt, output, gold = _line_fields(line, where, dump.step)
        pid = keys.prompt_problem_id(prompt)
        score = number(line["score"], where, "score")
        yield ImportedSample(
            dataset=dataset,
            problem_id=pid,
            sample_idx=index[pid],
            text=output,
            gold=gold,
            source_score=score,
            source_correct=verdict(line["acc"], where, "acc") if "acc" in line else None,
            reward=score if "eval_id" not in owner else None,
            **owner,
        )
        index[pid] += 1


def _val_dataset(step_metrics: dict[str, float], name: str) -> str:
    """The data source of a validation dump when the step validated on exactly one."""
    sources = {k.split("/")[1] for k in step_metrics if k.startswith("val-core/") and "/" in k[9:]}
    return sources.pop() if len(sources) == 1 else f"{name}-val"


# ---------------------------------------------------------------- metrics


def _metrics(root: Path) -> dict[int, dict[str, float]]:
    """step -> name -> value from TensorBoard events, then the file logger (which wins)."""
    out: dict[int, dict[str, float]] = defaultdict(dict)
    for events in sorted(root.rglob("events.out.tfevents.*")):
        for step, name, value in _tensorboard_scalars(events):
            out[step][name] = value
    for path in sorted(root.rglob("*.jsonl")):
        if _DUMP.match(path.name) or not _is_file_logger(path):
            continue
        for where, line in json_lines(path):
            step = need(line, "step", int, where)
            data = need(line, "data", dict, where)
            for metric, value in data.items():
                if value is None or isinstance(value, str):
                    continue  # verl's logger writes NaN as null; text values are not metrics
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise DataError(
                        f"{where}: metric {metric!r} is {value!r:.40}; expected a number"
                    )
                if math.isfinite(value):
                    out[step][metric] = float(value)
    return dict(out)


def _is_file_logger(path: Path) -> bool:
    """verl's file logger writes objects {"step": int, "data": {...}}; other jsonl files found
    in the run folder (datasets, other tools' logs) are not its and are left alone."""
    import json

    try:
        with path.open("rb") as handle:
            first = next((raw for raw in handle if raw.strip()), b"")
        line = json.loads(first) if first else None
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(line, dict) and set(line) == {"step", "data"}


def _tensorboard_scalars(events: Path) -> Iterator[tuple[int, str, float]]:
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError:
        raise DataError(
            f"{events}: install fipo-bench[tracking] to read TensorBoard events, or pass a"
            " file-logger dump (trainer.logger=[file])"
        ) from None

    accumulator = EventAccumulator(str(events), size_guidance={"scalars": 0, "tensors": 0})
    try:
        accumulator.Reload()
    except Exception as err:  # a truncated or foreign file: tensorboard raises many kinds
        raise DataError(f"{events}: not a readable TensorBoard event file ({err})") from err
    for tag in accumulator.Tags().get("scalars", []):
        for event in accumulator.Scalars(tag):
            if math.isfinite(event.value):
                yield int(event.step), tag, float(event.value)


# ---------------------------------------------------------------- checkpoints and config


def _checkpoints(root: Path) -> tuple[list[tuple[int, Path]], list[str], Path | None]:
    found, notes, tokenizer_dir = [], [], None
    for folder in sorted(p for p in root.rglob("global_step_*") if p.is_dir()):
        match = _CKPT.match(folder.name)
        actor = folder / "actor"
        if not match or not actor.is_dir():
            continue
        step, hf = int(match[1]), actor / "huggingface"
        if hf.is_dir() and any(any(hf.glob(g)) for g in _WEIGHTS):
            found.append((step, hf.resolve()))
        else:
            notes.append(
                f"step {step}: no HF weights; write them with `python -m verl.model_merger merge"
                f" --backend fsdp --local_dir {actor} --target_dir {hf}` and import again"
            )
        if hf.is_dir() and any((hf / f).is_file() for f in _TOKENIZER_FILES):
            tokenizer_dir = hf.resolve()
    return sorted(found), notes, tokenizer_dir


def _hydra_config(root: Path) -> dict[str, Any]:
    import yaml

    for path in sorted(root.rglob(".hydra/config.yaml")):
        try:
            loaded = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as err:
            raise DataError(f"{path}: not a readable YAML file ({err})") from None
        if isinstance(loaded, dict):
            return loaded
    return {}


def _get(config: dict[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _algo(config: dict[str, Any]) -> str | None:
    loss = _get(config, "actor_rollout_ref.actor.policy_loss.loss_mode")
    estimator = _get(config, "algorithm.adv_estimator")
    return loss if loss not in (None, "vanilla") else estimator
