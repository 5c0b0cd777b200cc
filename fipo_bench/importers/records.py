"""The one record type every importer produces: `ImportedSource`.

A reader checks a source whole and returns an ImportedSource holding everything small (the run,
its evals, problems, checkpoints and metrics) and a way to read the samples again in batches.
Nothing is written while reading, so a bad line anywhere stops the import before the first
write; `fipo_bench.importers.writer` then stores what was read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fipo_bench.tasks.problem import Problem


@dataclass(frozen=True)
class ImportedRun:
    """A training run made elsewhere (verl, TRL): stored as a run of kind train."""

    run_id: str
    name: str
    algo: str | None
    config: dict[str, Any]  # includes "imported_from": {"format", "path"}
    model_path: str | None = None


@dataclass(frozen=True)
class ImportedEval:
    """An evaluation made elsewhere, or a training run's validation at one step."""

    eval_id: str
    dataset: str
    n: int  # samples per problem (the largest count when they differ)
    engine: str  # the tool that produced it: verl, lighteval, inspect, qwen-math
    model_path: str | None
    temperature: float = float("nan")  # NaN: the source does not say
    top_p: float = float("nan")
    max_tokens: int = 0  # 0: the source does not say
    seed: int = 0
    run_id: str | None = None
    step: int | None = None
    source_metrics: dict[str, Any] = field(default_factory=dict)  # the tool's own numbers
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportedSample:
    """One response. Owned by an eval (eval_id) or by a training step (run_id + step)."""

    dataset: str
    problem_id: str
    sample_idx: int
    text: str
    gold: str | None  # the gold answer to re-verify against; None: the source has none
    eval_id: str | None = None
    run_id: str | None = None
    step: int | None = None
    n_tokens: int | None = None  # the source's own count; None: counted with the tokenizer
    finish_reason: str | None = None
    source_score: float | None = None  # the tool's reward / score
    source_correct: bool | None = None  # the tool's own verdict, where it gives one
    reward: float | None = None
    advantage: float | None = None


SampleBatches = Callable[[], Iterator[list[ImportedSample]]]


@dataclass
class ImportedSource:
    """Everything one `fipo-bench import FORMAT PATH` found, checked and ready to store."""

    format: str
    path: Path
    samples: SampleBatches  # reads the samples again, batch by batch (already validated)
    num_samples: int
    run: ImportedRun | None = None
    evals: list[ImportedEval] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    checkpoints: list[tuple[int, Path]] = field(default_factory=list)  # (step, HF model dir)
    metrics: dict[int, dict[str, float]] = field(default_factory=dict)  # step -> name -> value
    lengths_given: bool = False  # every sample carries its token count (n_tokens)
    tokenizer_dir: Path | None = None  # where response tokens are counted when the source
    # gives no counts (a checkpoint's tokenizer); --tokenizer overrides it
    notes: list[str] = field(default_factory=list)  # told to the user (e.g. how to merge)


def in_memory(
    format_name: str,
    path: Path,
    evals: list[ImportedEval],
    problems: list[Problem],
    samples: list[ImportedSample],
    *,
    tokenizer_dir: Path | None = None,
) -> ImportedSource:
    """An ImportedSource of evals whose samples were read whole (small eval logs)."""
    return ImportedSource(
        format=format_name,
        path=path,
        samples=lambda: iter([samples]),
        num_samples=len(samples),
        evals=evals,
        problems=problems,
        lengths_given=all(s.n_tokens is not None for s in samples),
        tokenizer_dir=tokenizer_dir,
    )
