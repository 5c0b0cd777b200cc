"""What the demo will do, sized for a 2-core CPU, validated before anything is written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fipo_bench.errors import ConfigError, DataError

ALGOS = ("grpo", "dapo", "fipo")  # trained from the same base with the tiny-<algo> presets
ENGINES = ("hf", "vllm")


@dataclass(frozen=True)
class StageSizes:
    """How much work each stage does. `quick` is what CI runs (<= 4 min on 2 cores)."""

    build_steps: int | None  # tiny-model warm-up steps; None = the build's default
    build_eval_problems: int  # synthetic problems the build samples to report base accuracy
    train_steps: int  # RL steps per algorithm
    train_overrides: tuple[str, ...]  # --set values on top of the tiny-<algo> presets
    eval_problems: int  # synthetic test problems per model
    eval_n: int  # samples per problem
    eval_max_tokens: int
    aime_problems: int  # with --aime-file: first N AIME problems per model
    aime_n: int
    aime_max_tokens: int


# Full: a real (small) comparison in <= 15 min. Quick: every stage runs, on little data.
FULL = StageSizes(
    build_steps=None,
    build_eval_problems=200,
    train_steps=12,
    train_overrides=(),
    eval_problems=100,
    eval_n=4,
    eval_max_tokens=96,
    aime_problems=5,
    aime_n=2,
    aime_max_tokens=128,
)
QUICK = StageSizes(
    build_steps=160,
    build_eval_problems=50,
    train_steps=2,
    # Half the rollouts per step and one regeneration at most: a barely warmed-up model has
    # few groups with signal, and dynamic sampling would otherwise regenerate 3x per step.
    train_overrides=(
        "rollout.prompts_per_step=4",
        "update.mini_batch_prompts=2",
        "rollout.max_gen_batches=2",
    ),
    eval_problems=12,
    eval_n=2,
    eval_max_tokens=96,
    aime_problems=2,
    aime_n=1,
    aime_max_tokens=48,
)


@dataclass(frozen=True)
class DemoPlan:
    workdir: Path
    db_path: Path
    quick: bool
    engine: str
    aime_file: Path | None
    sizes: StageSizes
    seed: int = 0

    @property
    def base_model_dir(self) -> Path:
        # quick and full builds differ (warm-up steps), so they live side by side
        return self.workdir / ("base-model-quick" if self.quick else "base-model")

    def run_dir(self, algo: str) -> Path:
        return self.workdir / "runs" / (f"tiny-{algo}-quick" if self.quick else f"tiny-{algo}")

    @property
    def report_stem(self) -> Path:
        return self.workdir / ("report-quick" if self.quick else "report")


def make_plan(
    *,
    workdir: Path,
    db_path: Path | None,
    quick: bool,
    engine: str,
    aime_file: Path | None,
    seed: int = 0,
) -> DemoPlan:
    if engine not in ENGINES:
        raise ConfigError(f"--engine {engine!r} is unknown; allowed: {', '.join(ENGINES)}")
    if seed < 0:
        raise ConfigError(f"--seed {seed} is invalid; allowed: >= 0")
    workdir = workdir.expanduser()
    if workdir.exists() and not workdir.is_dir():
        raise ConfigError(f"--workdir {workdir} is a file; allowed: a new or existing folder")
    if not workdir.exists() and not workdir.resolve().parent.is_dir():
        raise ConfigError(f"--workdir {workdir}: its parent folder does not exist")
    if aime_file is not None and not aime_file.is_file():
        raise DataError(f"--aime-file {aime_file} does not exist; allowed: a local aime24 jsonl")
    db = (db_path or workdir / "fipo_bench.duckdb").expanduser()
    if db.is_dir():
        raise ConfigError(f"--db {db} is a folder; allowed: a DuckDB file path")
    return DemoPlan(
        workdir=workdir,
        db_path=db,
        quick=quick,
        engine=engine,
        aime_file=aime_file,
        sizes=QUICK if quick else FULL,
        seed=seed,
    )
