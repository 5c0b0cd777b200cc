"""Run a planned eval: generate unit by unit, verify and store each unit while the next one
generates, then compute the metrics from the store.

Resume: a unit's n samples per problem are stored in one transaction with a seed that depends
only on (seed, the unit's problem ids), so after a crash a rerun skips the units already stored
and regenerates the missing ones exactly as an uninterrupted run would have.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from fipo_bench.engines.record import GenerationRecord, SamplingSettings
from fipo_bench.errors import FipoBenchError, ModelError
from fipo_bench.eval.identity import unit_seed
from fipo_bench.eval.metrics import EvalMetrics
from fipo_bench.eval.plan import EvalJob, PlannedModel, Unit, plan_engine_eval
from fipo_bench.eval.rows import unit_rows
from fipo_bench.eval.settings import EvalSettings
from fipo_bench.eval.sink import Sink, StoreSink

VERIFY_TIMEOUT_S = 5.0


@dataclass
class StageTimes:
    """Wall seconds per stage. Verify and store run in a background thread, so the three may
    add up to more than the eval's wall time."""

    generate_s: float = 0.0
    verify_s: float = 0.0
    store_s: float = 0.0
    engine_load_s: float = 0.0


@dataclass(frozen=True)
class ModelResult:
    model: PlannedModel
    engine: str
    metrics: EvalMetrics | None  # None: a shard that holds none of the eval's samples
    generated_samples: int  # this command
    reused_samples: int  # already stored by an earlier (interrupted) command
    wall_s: float
    times: StageTimes = field(default_factory=StageTimes)


class ProgressSink:
    """Where the runner reports progress (the CLI plugs in a rich progress bar)."""

    def start(self, label: str, total: int, done: int) -> None: ...

    def advance(self, samples: int) -> None: ...

    def finish(self) -> None: ...


def missing_units(job: EvalJob, done: set[tuple[str, int]]) -> list[Unit]:
    """Units with any sample not stored. Units are written whole, so a unit is either complete
    or absent; a partial one (never expected) is regenerated whole, which rewrites its rows."""
    return [unit for unit in job.units if any(key not in done for key in unit.keys(job.problems))]


def _verify_and_store(
    sink: Sink,
    job: EvalJob,
    eval_id: str,
    unit: Unit,
    records: list[GenerationRecord],
    times: StageTimes,
) -> int:
    from fipo_bench.verify import check_many

    problems = [job.problems[i] for i in unit.problems]
    t0 = time.perf_counter()
    results = check_many(
        [(problems[r.prompt_index].answer, r.text) for r in records], timeout_s=VERIFY_TIMEOUT_S
    )
    t1 = time.perf_counter()
    rows = unit_rows(eval_id, problems, records, results)
    sink.write_unit(rows.samples, rows.tokens)
    times.verify_s += t1 - t0
    times.store_s += time.perf_counter() - t1
    return rows.samples.num_rows


def _unit_records(records: Sequence[GenerationRecord], unit: Unit) -> list[GenerationRecord]:
    """The engine's records with sample indices shifted to the unit's place in 0..n-1, after
    checking there is exactly one per (prompt, sample)."""
    keys = sorted((r.prompt_index, r.sample_idx) for r in records)
    expected = [(p, k) for p in range(len(unit.problems)) for k in range(unit.n_samples)]
    if keys != expected:
        raise RuntimeError(
            f"engine returned {len(records)} records for {len(unit.problems)} prompts x"
            f" n={unit.n_samples}; expected one per (prompt, sample)"
        )
    if unit.first_sample == 0:
        return list(records)
    return [dataclasses.replace(r, sample_idx=r.sample_idx + unit.first_sample) for r in records]


def _load_engine(engine_factory: Callable[[], object], model: PlannedModel):
    """The model's engine; a load failure of any kind is a ModelError naming the model."""
    try:
        return engine_factory()
    except FipoBenchError:
        raise
    except Exception as exc:  # corrupt weights, bad config, out of memory: one line for a user
        lines = str(exc).strip().splitlines()
        reason = lines[0] if lines else type(exc).__name__
        raise ModelError(
            f"--model {model.ref.spec}: cannot be loaded ({type(exc).__name__}: {reason})"
        ) from exc


def eval_row(job: EvalJob, model: PlannedModel) -> dict:
    """The evals row of one model's eval (Store.upsert_eval's keyword arguments)."""
    settings = job.settings
    linked = {} if model.step is None else {"step": model.step}
    return dict(
        **linked,
        dataset=job.dataset,
        n=settings.n,
        temperature=settings.temperature,
        top_p=settings.top_p,
        max_tokens=settings.max_tokens,
        seed=settings.seed,
        engine=job.engine,
        run_id=model.ref.run_id,
        ckpt_id=model.ref.ckpt_id,
        model_path=model.ref.location or None,
        prompt_template=job.prompt_template,
        config={
            "model_spec": model.ref.spec,
            "model_kind": model.ref.kind,
            "model_fingerprint": model.ref.fingerprint,
            "data_file": settings.data_file,
            "limit": settings.limit,
            "problems_per_unit": settings.problems_per_unit,
            "samples_per_unit": settings.samples_per_unit,
            # For the dashboard: progress of a running eval, and whether its writer still
            # lives (a SIGKILLed eval stays 'running').
            "total_samples": job.total_samples,
            "writer": {"host": socket.gethostname(), "pid": os.getpid()},
        },
    )


def generate_and_store(
    job: EvalJob,
    model: PlannedModel,
    sink: Sink,
    engine_factory: Callable[[], object],
    progress: ProgressSink,
    *,
    units: Sequence[Unit] | None = None,
    close_engine: bool = True,
) -> ModelResult:
    """One model's eval over `units` (default: all of the job's), resumed from whatever the
    sink holds for its eval_id."""
    started = time.perf_counter()
    times = StageTimes()
    status = sink.status(model.eval_id)
    done = sink.done_keys(model.eval_id) if status is not None else set()
    wanted = job.units if units is None else tuple(units)
    todo = [u for u in missing_units(job, done) if u in wanted]
    total = sum(len(u.problems) * u.n_samples for u in wanted)
    reused = total - sum(len(u.problems) * u.n_samples for u in todo)
    generated = 0
    if todo or status != "done":
        t0 = time.perf_counter()
        engine = _load_engine(engine_factory, model) if todo else None
        times.engine_load_s = time.perf_counter() - t0
        try:
            # Only after the engine loaded: a model that fails to load leaves no eval row behind.
            sink.begin(job.problems, model.eval_id, eval_row(job, model))
            try:
                progress.start(model.ref.label, total, reused)
                generated = _run_units(job, model.eval_id, sink, engine, todo, times, progress)
            except BaseException:
                sink.fail(model.eval_id)
                raise
            finally:
                progress.finish()
        finally:
            if engine is not None and close_engine:
                engine.close()
    metrics = sink.finish(model.eval_id)
    return ModelResult(
        model=model,
        engine=job.engine,
        metrics=metrics,
        generated_samples=generated,
        reused_samples=reused,
        wall_s=time.perf_counter() - started,
        times=times,
    )


def _run_units(job, eval_id, sink, engine, todo, times: StageTimes, progress) -> int:
    """Generate unit i+1 while a single background thread verifies and stores unit i.

    One worker and at most one pending unit: memory holds two units at most, whatever the
    response length, and the store sees one writer thread."""
    settings = job.settings
    stored = 0
    pending: Future[int] | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="eval-verify-store") as pool:
        try:
            for unit in todo:
                problem_ids = [job.problems[i].problem_id for i in unit.problems]
                sampling = SamplingSettings(
                    n=unit.n_samples,
                    temperature=settings.temperature,
                    top_p=settings.top_p,
                    max_tokens=settings.max_tokens,
                    seed=unit_seed(settings.seed, problem_ids, unit.first_sample),
                )
                t0 = time.perf_counter()
                records = engine.generate([job.prompts[i] for i in unit.problems], sampling)
                times.generate_s += time.perf_counter() - t0
                records = _unit_records(records, unit)
                if pending is not None:
                    count = pending.result()
                    stored += count
                    progress.advance(count)
                pending = pool.submit(_verify_and_store, sink, job, eval_id, unit, records, times)
            if pending is not None:
                count = pending.result()
                stored += count
                progress.advance(count)
        finally:
            # On an error, let the in-flight unit finish or fail before the caller marks the
            # eval failed: never two writers, never a unit half-written.
            if pending is not None and not pending.done():
                pending.exception()
    return stored


def run_eval(job: EvalJob, *, progress: ProgressSink | None = None, engine_kwargs=None):
    """Evaluate every model of the job in turn (one engine in memory at a time)."""
    progress = progress or ProgressSink()
    sink = StoreSink(job.db_path)
    return [
        generate_and_store(job, model, sink, engine_factory(job, model, engine_kwargs), progress)
        for model in job.models
    ]


def shard_units(units: Sequence[Unit], shard) -> list[Unit]:
    """Shard K of N (1-based) takes every N-th unit, starting at the K-th. Units are fixed
    runs of (problem, sample index), each with its own seed, so a shard generates exactly the
    samples the unsharded eval generates for those units, and N shards cover them once."""
    return [unit for i, unit in enumerate(units) if i % shard.count == shard.index - 1]


def run_eval_shard(
    job: EvalJob, shard, out_dir: Path, *, progress: ProgressSink | None = None, engine_kwargs=None
) -> list[ModelResult]:
    """Shard `shard` (a fipo_bench.store.shards.ShardSpec) of every model's eval, written as
    Parquet under out_dir; no DuckDB file is opened for writing. Rerunning resumes it."""
    from fipo_bench.eval.sink import ShardSink

    progress = progress or ProgressSink()
    sink = ShardSink(out_dir, shard)
    units = shard_units(job.units, shard)
    return [
        generate_and_store(
            job, model, sink, engine_factory(job, model, engine_kwargs), progress, units=units
        )
        for model in job.models
    ]


def engine_factory(job: EvalJob, model: PlannedModel, engine_kwargs=None) -> Callable[[], object]:
    def factory():
        from fipo_bench.engines import make_engine

        return make_engine(job.engine, model.ref.location, **(engine_kwargs or {}))

    return factory


def run_eval_with_engine(
    engine,
    *,
    model_label: str,
    settings: EvalSettings,
    db_path: Path,
    run_id: str,
    step: int,
    model_path: str | None = None,
    progress: ProgressSink | None = None,
) -> ModelResult:
    """Evaluate the model `engine` serves (e.g. the trainer's live policy) as the validation
    of `run_id` at `step`; the engine stays open. Same problems, prompts, verification and
    storage as run_eval; a stored validation of the same step and settings is resumed, or
    skipped when complete. Nothing is written before plan_engine_eval's checks pass."""
    job = plan_engine_eval(
        engine,
        settings,
        db_path,
        model_label=model_label,
        run_id=run_id,
        step=step,
        model_path=model_path,
    )
    return generate_and_store(
        job,
        job.models[0],
        StoreSink(db_path),
        lambda: engine,
        progress or ProgressSink(),
        close_engine=False,
    )
