"""Run a planned eval: generate unit by unit, verify and store each unit while the next one
generates, then compute the metrics from the store.

Resume: a unit's n samples per problem are stored in one transaction with a seed that depends
only on (seed, the unit's problem ids), so after a crash a rerun skips the units already stored
and regenerates the missing ones exactly as an uninterrupted run would have.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from fipo_bench.engines.record import GenerationRecord, SamplingSettings
from fipo_bench.eval.identity import unit_seed
from fipo_bench.eval.metrics import EvalMetrics
from fipo_bench.eval.plan import EvalJob, PlannedModel
from fipo_bench.eval.rows import unit_rows
from fipo_bench.eval.stored import metrics_json, stored_eval_metrics

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
    metrics: EvalMetrics
    generated_samples: int  # this command
    reused_samples: int  # already stored by an earlier (interrupted) command
    wall_s: float
    times: StageTimes = field(default_factory=StageTimes)


class ProgressSink:
    """Where the runner reports progress (the CLI plugs in a rich progress bar)."""

    def start(self, label: str, total: int, done: int) -> None: ...

    def advance(self, samples: int) -> None: ...

    def finish(self) -> None: ...


def missing_units(job: EvalJob, done: set[tuple[str, int]]) -> list[tuple[int, ...]]:
    """Units with any sample not stored. Units are written whole, so a unit is either complete
    or absent; a partial one (never expected) is regenerated whole, which rewrites its rows."""
    n = job.settings.n
    return [
        unit
        for unit in job.units
        if any((job.problems[i].problem_id, k) not in done for i in unit for k in range(n))
    ]


def _verify_and_store(
    store,
    job: EvalJob,
    eval_id: str,
    unit: tuple[int, ...],
    records: list[GenerationRecord],
    times: StageTimes,
) -> int:
    from fipo_bench.verify import check_many

    problems = [job.problems[i] for i in unit]
    t0 = time.perf_counter()
    results = check_many(
        [(problems[r.prompt_index].answer, r.text) for r in records], timeout_s=VERIFY_TIMEOUT_S
    )
    t1 = time.perf_counter()
    rows = unit_rows(eval_id, problems, records, results)
    store.write_samples(rows.samples, rows.tokens)
    times.verify_s += t1 - t0
    times.store_s += time.perf_counter() - t1
    return rows.samples.num_rows


def _check_records(records: Sequence[GenerationRecord], unit: tuple[int, ...], n: int) -> None:
    keys = sorted((r.prompt_index, r.sample_idx) for r in records)
    expected = [(p, k) for p in range(len(unit)) for k in range(n)]
    if keys != expected:
        raise RuntimeError(
            f"engine returned {len(records)} records for {len(unit)} prompts x n={n};"
            " expected one per (prompt, sample)"
        )


def generate_and_store(
    job: EvalJob,
    model: PlannedModel,
    store,
    engine_factory: Callable[[], object],
    progress: ProgressSink,
) -> ModelResult:
    """One model's eval, resumed from whatever the store holds for its eval_id."""
    settings = job.settings
    started = time.perf_counter()
    times = StageTimes()
    existing = store.get_eval(model.eval_id)
    done = store.done_sample_keys(model.eval_id) if existing else set()
    todo = missing_units(job, done)
    reused = len(done)
    generated = 0
    if todo or existing is None or existing["status"] != "done":
        t0 = time.perf_counter()
        engine = engine_factory() if todo else None
        times.engine_load_s = time.perf_counter() - t0
        # Only after the engine loaded: a model that fails to load leaves no eval row behind.
        store.upsert_problems(job.problems)
        store.upsert_eval(
            model.eval_id,
            dataset=job.dataset,
            n=settings.n,
            temperature=settings.temperature,
            top_p=settings.top_p,
            max_tokens=settings.max_tokens,
            seed=settings.seed,
            engine=job.engine,
            run_id=model.ref.run_id,
            ckpt_id=model.ref.ckpt_id,
            model_path=model.ref.location,
            prompt_template=job.prompt_template,
            config={
                "model_spec": model.ref.spec,
                "model_kind": model.ref.kind,
                "model_fingerprint": model.ref.fingerprint,
                "data_file": settings.data_file,
                "limit": settings.limit,
                "problems_per_unit": settings.problems_per_unit,
            },
        )
        try:
            progress.start(model.ref.label, job.total_samples, reused)
            generated = _run_units(job, model.eval_id, store, engine, todo, times, progress)
        except BaseException:
            store.set_eval_status(model.eval_id, "failed")
            raise
        finally:
            progress.finish()
            if engine is not None:
                engine.close()
    metrics = stored_eval_metrics(store, model.eval_id)
    store.set_eval_status(model.eval_id, "done", metrics=metrics_json(metrics))
    return ModelResult(
        model=model,
        engine=job.engine,
        metrics=metrics,
        generated_samples=generated,
        reused_samples=reused,
        wall_s=time.perf_counter() - started,
        times=times,
    )


def _run_units(job, eval_id, store, engine, todo, times: StageTimes, progress) -> int:
    """Generate unit i+1 while a single background thread verifies and stores unit i.

    One worker and at most one pending unit: memory holds two units at most, whatever the
    response length, and the store sees one writer thread."""
    settings = job.settings
    stored = 0
    pending: Future[int] | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="eval-verify-store") as pool:
        try:
            for unit in todo:
                sampling = SamplingSettings(
                    n=settings.n,
                    temperature=settings.temperature,
                    top_p=settings.top_p,
                    max_tokens=settings.max_tokens,
                    seed=unit_seed(settings.seed, [job.problems[i].problem_id for i in unit]),
                )
                t0 = time.perf_counter()
                records = engine.generate([job.prompts[i] for i in unit], sampling)
                times.generate_s += time.perf_counter() - t0
                _check_records(records, unit, settings.n)
                if pending is not None:
                    count = pending.result()
                    stored += count
                    progress.advance(count)
                pending = pool.submit(_verify_and_store, store, job, eval_id, unit, records, times)
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
    from fipo_bench.engines import make_engine
    from fipo_bench.store import Store

    progress = progress or ProgressSink()
    store = Store(job.db_path)
    results = []
    for model in job.models:

        def factory(model: PlannedModel = model):
            return make_engine(job.engine, model.ref.location, **(engine_kwargs or {}))

        results.append(generate_and_store(job, model, store, factory, progress))
    return results
