"""Everything an eval command needs, checked before a single byte is written.

`plan_eval` reads the dataset, resolves every model, picks the engine and derives the eval ids;
any bad input raises a FipoBenchError here, while the database is still untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fipo_bench.errors import ConfigError, EngineError
from fipo_bench.eval.context import check_prompt_tokens, check_prompts_fit
from fipo_bench.eval.identity import eval_id, problems_fingerprint
from fipo_bench.eval.model_ref import ModelRef, resolve_model
from fipo_bench.eval.settings import MAX_SAMPLES_PER_EVAL, EvalSettings
from fipo_bench.tasks import default_prompt, load_problems, render_prompt
from fipo_bench.tasks.problem import Problem


@dataclass(frozen=True)
class Unit:
    """Samples generated, verified and stored together (one transaction, one seed): sample
    indices first_sample .. first_sample + n_samples - 1 of each of these problems."""

    problems: tuple[int, ...]  # indices into EvalJob.problems
    first_sample: int
    n_samples: int

    def keys(self, problems: Sequence[Problem]) -> list[tuple[str, int]]:
        """(problem_id, sample_idx) of every sample of the unit."""
        span = range(self.first_sample, self.first_sample + self.n_samples)
        return [(problems[i].problem_id, k) for i in self.problems for k in span]


@dataclass(frozen=True)
class PlannedModel:
    ref: ModelRef
    eval_id: str
    step: int | None = None  # a validation eval: the training step of run ref.run_id


@dataclass(frozen=True)
class EvalJob:
    settings: EvalSettings
    db_path: Path
    engine: str  # "hf" | "vllm", resolved from settings.engine
    prompt_template: str
    problems: tuple[Problem, ...]
    prompts: tuple[str, ...]
    units: tuple[Unit, ...]
    models: tuple[PlannedModel, ...]

    @property
    def dataset(self) -> str:
        """The dataset name samples and problems are stored under (a file's stem for files)."""
        return self.problems[0].dataset

    @property
    def total_samples(self) -> int:
        return len(self.problems) * self.settings.n


def resolve_engine(choice: str) -> str:
    """ "auto" -> vllm where installed, else hf; an explicit vllm must be installed."""
    from fipo_bench.engines import VLLM_INSTALL_HINT, vllm_available

    if choice == "hf":
        return "hf"
    if vllm_available():
        return "vllm"
    if choice == "vllm":
        raise EngineError(f"--engine vllm: vLLM is not installed; {VLLM_INSTALL_HINT}")
    return "hf"


def plan_units(num_problems: int, settings: EvalSettings) -> tuple[Unit, ...]:
    """Whole problems per unit while n fits in one; else each problem in chunks of
    samples_per_unit samples (the last chunk may be shorter)."""
    n, chunk = settings.n, settings.samples_per_unit
    per_unit = settings.problems_per_unit
    units = []
    for start in range(0, num_problems, per_unit):
        indices = tuple(range(start, min(start + per_unit, num_problems)))
        for first in range(0, n, chunk):
            units.append(Unit(indices, first, min(chunk, n - first)))
    return tuple(units)


def check_db_path(db_path: Path) -> None:
    """The --db path is usable: a file (or nothing yet) in an existing folder, and DuckDB with a
    schema this code reads when it exists. Reads only."""
    if db_path.exists() and db_path.is_dir():
        raise ConfigError(f"--db {db_path} is a folder; give a .duckdb file path")
    if not db_path.parent.is_dir():
        raise ConfigError(f"--db {db_path}: folder {db_path.parent} does not exist")
    if db_path.exists():
        from fipo_bench.store import Store

        Store(db_path, read_only=True)  # not DuckDB / newer schema: StoreError now, not later


@dataclass(frozen=True)
class _Prompts:
    template: str
    problems: tuple[Problem, ...]
    prompts: tuple[str, ...]
    key: str  # problems_fingerprint


def _load_prompts(settings: EvalSettings) -> _Prompts:
    template = settings.prompt or default_prompt(settings.dataset)
    problems = tuple(
        load_problems(settings.dataset, data_file=settings.data_file, limit=settings.limit)
    )
    if not problems:
        raise ConfigError(f"--dataset {settings.dataset}: no problems to evaluate")
    total = settings.n * len(problems)
    if total > MAX_SAMPLES_PER_EVAL:
        raise ConfigError(
            f"--n {settings.n} x {len(problems)} problems = {total:,} samples; allowed: at most"
            f" {MAX_SAMPLES_PER_EVAL:,} samples per eval (lower --n or --limit)"
        )
    prompts = tuple(render_prompt(p, template) for p in problems)
    return _Prompts(template, problems, prompts, problems_fingerprint(problems, prompts))


def _job(settings, db_path, engine, loaded: _Prompts, models) -> EvalJob:
    return EvalJob(
        settings=settings,
        db_path=db_path,
        engine=engine,
        prompt_template=loaded.template,
        problems=loaded.problems,
        prompts=loaded.prompts,
        units=plan_units(len(loaded.problems), settings),
        models=tuple(models),
    )


def plan_eval(settings: EvalSettings, model_specs: Sequence[str], db_path: Path) -> EvalJob:
    if not model_specs:
        raise ConfigError("no --model given; pass one or more model directories or run_id:step")
    check_db_path(db_path)
    engine = resolve_engine(settings.engine)
    loaded = _load_prompts(settings)
    planned: list[PlannedModel] = []
    for spec in model_specs:
        ref = resolve_model(spec, db_path=db_path)
        if ref.kind != "hub":
            check_prompts_fit(spec, Path(ref.location), loaded.problems, loaded.prompts)
        key = eval_id(
            ref.identity,
            settings,
            engine=engine,
            prompt_template=loaded.template,
            problems_key=loaded.key,
        )
        if any(p.eval_id == key for p in planned):
            raise ConfigError(f"--model {spec} is given twice (same model); list each model once")
        planned.append(PlannedModel(ref=ref, eval_id=key))
    return _job(settings, db_path, engine, loaded, planned)


def plan_engine_eval(
    engine,
    settings: EvalSettings,
    db_path: Path,
    *,
    model_label: str,
    run_id: str,
    step: int,
    model_path: str | None = None,
) -> EvalJob:
    """An eval of a model an engine already holds (the trainer's live policy at `step` of
    `run_id`): the eval_id follows (run_id, step, settings, problems), so a resumed training
    run finds the validation it stored before. All checks, no writes."""
    check_db_path(db_path)
    loaded = _load_prompts(settings)
    check_prompt_tokens(model_label, engine.tokenizer, engine.max_model_len, loaded)
    kind = getattr(engine, "name", "hf")
    ref = ModelRef(
        spec=model_label,
        kind="live",
        location=model_path or "",
        fingerprint="",
        run_id=run_id,
    )
    key = eval_id(
        f"run:{run_id}@{int(step)}",
        settings,
        engine=kind,
        prompt_template=loaded.template,
        problems_key=loaded.key,
    )
    return _job(settings, db_path, kind, loaded, [PlannedModel(ref=ref, eval_id=key, step=step)])
