"""Store what a reader found: run, checkpoints, problems, evals, samples (re-verified), metrics.

Called only after the reader has checked the whole source, so a bad line never leaves half an
import behind. Every write is keyed by deterministic ids (keys.py) and replaces what it keys:
importing the same source again adds nothing. Samples are written in batches of at most
`BATCH_SAMPLES` (one transaction each); a killed import resumes by being run again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from fipo_bench.errors import DataError
from fipo_bench.eval.rows import SAMPLE_SCHEMA as EVAL_SAMPLE_SCHEMA
from fipo_bench.importers.records import ImportedSample, ImportedSource

BATCH_SAMPLES = 4096
VERIFY_TIMEOUT_S = 5.0

# The evaluator's sample columns plus the training-rollout owner and the source's verdict.
SAMPLE_SCHEMA = pa.schema(
    [
        *EVAL_SAMPLE_SCHEMA,
        ("run_id", pa.string()),
        ("step", pa.int32()),
        ("reward", pa.float64()),
        ("advantage", pa.float64()),
        ("source_score", pa.float64()),
        ("source_correct", pa.bool_()),
    ]
)


@dataclass(frozen=True)
class ImportResult:
    format: str
    run_id: str | None
    eval_ids: tuple[str, ...]
    samples: int
    problems: int
    checkpoints: int
    metric_steps: int
    agree: int  # samples whose source verdict equals fipo-bench's
    disagree: int
    wall_s: float
    notes: tuple[str, ...]
    stage_s: dict[str, float]  # read (second pass), verify, count, store: seconds each


class ProgressSink:
    """The evaluator's progress protocol (fipo_bench.eval.runner), so its rich bar serves."""

    def start(self, label: str, total: int, done: int) -> None: ...

    def advance(self, samples: int) -> None: ...

    def finish(self) -> None: ...


def load_counter(source: ImportedSource, tokenizer: str | None):
    """A function counting each text's tokens, when some sample has no count of its own."""
    if tokenizer is None and source.tokenizer_dir is None:
        raise DataError(
            f"{source.path}: the {source.format} files give no response lengths; pass"
            " --tokenizer MODEL_DIR (the run's model) to count them"
        )
    from fipo_bench.engines.loading import load_tokenizer

    tok = load_tokenizer(tokenizer or str(source.tokenizer_dir), role="--tokenizer")

    def count(texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        encoded = tok(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
        return [len(ids) for ids in encoded]

    return count


def write_source(
    source: ImportedSource,
    db_path: Path,
    *,
    tokenizer: str | None = None,
    progress: ProgressSink | None = None,
) -> ImportResult:
    from fipo_bench.store import Store

    started = time.perf_counter()
    progress = progress or ProgressSink()
    count = None if source.lengths_given else load_counter(source, tokenizer)
    store = Store(db_path)
    if source.run is not None:
        run = source.run
        store.upsert_run(
            run.run_id,
            kind="train",
            name=run.name,
            algo=run.algo,
            config=run.config,
            model_path=run.model_path,
        )
        for step, path in source.checkpoints:
            store.add_checkpoint(run.run_id, step, path)
    if source.problems:
        store.upsert_problems(source.problems)
    for ev in source.evals:
        if store.get_eval(ev.eval_id) is None:  # a rerun keeps the row (NaN never equals NaN)
            store.upsert_eval(
                ev.eval_id,
                dataset=ev.dataset,
                n=ev.n,
                temperature=ev.temperature,
                top_p=ev.top_p,
                max_tokens=ev.max_tokens,
                seed=ev.seed,
                engine=ev.engine,
                run_id=ev.run_id,
                step=ev.step,
                model_path=ev.model_path,
                config={**ev.config, "imported_from": _origin(source)},
            )
    agree = disagree = written = 0
    stage_s = {"read": 0.0, "verify": 0.0, "count": 0.0, "store": 0.0}
    progress.start(f"import {source.format}", source.num_samples, 0)
    try:
        t0 = time.perf_counter()
        for batch in source.samples():
            stage_s["read"] += time.perf_counter() - t0
            for start in range(0, len(batch), BATCH_SAMPLES):
                table, same, differ = _sample_table(
                    batch[start : start + BATCH_SAMPLES], count, stage_s
                )
                t1 = time.perf_counter()
                store.write_samples(table)
                stage_s["store"] += time.perf_counter() - t1
                agree, disagree = agree + same, disagree + differ
                written += table.num_rows
                progress.advance(table.num_rows)
            t0 = time.perf_counter()
    finally:
        progress.finish()
    if source.run is not None:
        for step, metrics in sorted(source.metrics.items()):
            store.write_train_metrics(source.run.run_id, step, metrics)
    for ev in source.evals:
        _finish_eval(store, ev)
    return ImportResult(
        format=source.format,
        run_id=None if source.run is None else source.run.run_id,
        eval_ids=tuple(ev.eval_id for ev in source.evals),
        samples=written,
        problems=len(source.problems),
        checkpoints=len(source.checkpoints),
        metric_steps=len(source.metrics),
        agree=agree,
        disagree=disagree,
        wall_s=time.perf_counter() - started,
        notes=tuple(source.notes),
        stage_s=stage_s,
    )


def _origin(source: ImportedSource) -> dict[str, str]:
    return {"format": source.format, "path": str(source.path.resolve())}


def _finish_eval(store, ev) -> None:
    from fipo_bench.eval.stored import metrics_json, stored_eval_metrics

    metrics: dict[str, Any] = {"source_metrics": ev.source_metrics}
    if store.eval_samples(ev.eval_id).num_rows:
        metrics = {**metrics_json(stored_eval_metrics(store, ev.eval_id)), **metrics}
    store.set_eval_status(ev.eval_id, "done", metrics=metrics)


def _sample_table(
    samples: Sequence[ImportedSample], count, stage_s: dict[str, float]
) -> tuple[pa.Table, int, int]:
    """Arrow rows of a batch, re-verified; also how many source verdicts agree / disagree."""
    from fipo_bench.store import rollout_owner, sample_id
    from fipo_bench.verify import VerifyResult, check_many

    t0 = time.perf_counter()
    gradable = [i for i, s in enumerate(samples) if s.gold is not None]
    results: list[VerifyResult | None] = [None] * len(samples)
    verified = check_many(
        [(samples[i].gold, samples[i].text) for i in gradable], timeout_s=VERIFY_TIMEOUT_S
    )
    for i, result in zip(gradable, verified, strict=True):
        results[i] = result
    t1 = time.perf_counter()
    missing = [i for i, s in enumerate(samples) if s.n_tokens is None]
    counts = count([samples[i].text for i in missing]) if missing else []
    counted = dict(zip(missing, counts, strict=True))
    stage_s["verify"] += t1 - t0
    stage_s["count"] += time.perf_counter() - t1
    cols: dict[str, list] = {name: [] for name in SAMPLE_SCHEMA.names}
    agree = disagree = 0
    for i, s in enumerate(samples):
        owner = s.eval_id if s.eval_id is not None else rollout_owner(s.run_id, s.step)
        result = results[i]
        if result is not None and s.source_correct is not None:
            if result.correct == s.source_correct:
                agree += 1
            else:
                disagree += 1
        row = {
            "sample_id": sample_id(owner, s.problem_id, s.sample_idx),
            "eval_id": s.eval_id,
            "run_id": s.run_id,
            "step": s.step,
            "dataset": s.dataset,
            "problem_id": s.problem_id,
            "sample_idx": s.sample_idx,
            "text": s.text,
            "n_tokens": s.n_tokens if s.n_tokens is not None else counted[i],
            "finish_reason": s.finish_reason,
            "extracted": None if result is None else result.extracted,
            "correct": None if result is None else result.correct,
            "verify_status": None if result is None else result.status,
            "answer_source": None if result is None else result.source,
            "reward": _finite(s.reward),
            "advantage": _finite(s.advantage),
            "source_score": _finite(s.source_score),
            "source_correct": s.source_correct,
        }
        for name, value in row.items():
            cols[name].append(value)
    return pa.Table.from_pydict(cols, schema=SAMPLE_SCHEMA), agree, disagree


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)
