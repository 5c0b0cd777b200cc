"""Sharded evaluation on a Ray cluster: one Ray task per shard, one engine per task (tensor
parallel inside the task when it has several GPUs), then the single-writer merge.

    fipo-bench eval --model M --dataset aime24 --ray --shards 8 --num-gpus-per-shard 1 \\
        --out-dir shards/ --db results.duckdb

Ray places and runs the tasks (fipo-bench schedules nothing itself); each task is exactly
`fipo-bench eval --shard K/N --out-dir DIR`, so a failed or killed task is rerun by running
the same command again, and the merge is `fipo-bench db merge`. The driver checks everything
(plan_eval) before a task starts; the database is only written by the merge.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fipo_bench.errors import ConfigError, EngineError
from fipo_bench.eval.merge import MergedShards, merge_shard_dir
from fipo_bench.eval.settings import EvalSettings


@dataclass(frozen=True)
class ShardSummary:
    shard: int
    generated_samples: int
    reused_samples: int


@dataclass(frozen=True)
class RayEvalResult:
    shards: tuple[ShardSummary, ...]
    merged: MergedShards


def run_shard(
    settings: EvalSettings,
    model_specs: list[str],
    db_path: str,
    out_dir: str,
    index: int,
    count: int,
    engine_kwargs: dict[str, Any],
) -> ShardSummary:
    """The body of one Ray task: plan (read-only) and run shard index/count to Parquet."""
    from fipo_bench.eval.plan import plan_eval
    from fipo_bench.eval.runner import run_eval_shard
    from fipo_bench.store.shards import ShardSpec

    job = plan_eval(settings, model_specs, Path(db_path))
    results = run_eval_shard(
        job, ShardSpec(index, count), Path(out_dir), engine_kwargs=engine_kwargs
    )
    return ShardSummary(
        shard=index,
        generated_samples=sum(r.generated_samples for r in results),
        reused_samples=sum(r.reused_samples for r in results),
    )


def run_ray_eval(
    settings: EvalSettings,
    model_specs: list[str],
    db_path: Path,
    out_dir: Path,
    *,
    num_shards: int,
    num_gpus_per_shard: float = 0,
    address: str | None = None,
    on_shard_done=None,
) -> RayEvalResult:
    """Run `num_shards` shard tasks on the Ray cluster at `address` (None: start or join a
    local one), wait for all of them, merge into db_path. on_shard_done(summary) after each."""
    from fipo_bench.eval.plan import plan_eval

    if num_shards < 1:
        raise ConfigError(f"--shards {num_shards} is invalid; allowed: >= 1")
    if num_gpus_per_shard < 0:
        raise ConfigError(f"--num-gpus-per-shard {num_gpus_per_shard} is invalid; allowed: >= 0")
    job = plan_eval(settings, model_specs, db_path)  # every check, before any task starts
    if num_gpus_per_shard > 1 and job.engine != "vllm":
        raise ConfigError(
            f"--num-gpus-per-shard {num_gpus_per_shard} needs --engine vllm (tensor parallel);"
            " the hf engine uses one device"
        )
    try:
        import ray
    except ImportError as err:
        raise EngineError("--ray needs Ray: pip install 'ray>=2.9'") from err
    engine_kwargs: dict[str, Any] = {}
    if num_gpus_per_shard > 1:
        engine_kwargs["tensor_parallel_size"] = int(num_gpus_per_shard)
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, logging_level="WARNING")
    try:
        task = ray.remote(num_gpus=num_gpus_per_shard, max_retries=0)(run_shard)
        pending = [
            task.remote(settings, list(model_specs), str(db_path), str(out_dir), k, num_shards,
                        engine_kwargs)
            for k in range(1, num_shards + 1)
        ]  # fmt: skip
        summaries = []
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            summary = _result(ray, done[0])
            summaries.append(summary)
            if on_shard_done is not None:
                on_shard_done(summary)
    finally:
        if started_here:
            ray.shutdown()
    merged = merge_shard_dir(out_dir, db_path)
    return RayEvalResult(tuple(sorted(summaries, key=lambda s: s.shard)), merged)


def _result(ray, ref) -> ShardSummary:
    """A task's summary; a task that raised gives its one-line error (FipoBenchError kept)."""
    from fipo_bench.errors import FipoBenchError

    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as err:
        cause = getattr(err, "cause", None)  # the exception the task raised
        if isinstance(cause, FipoBenchError):
            raise cause from None
        lines = str(cause or err).strip().splitlines()
        raise EngineError(f"a Ray shard task failed: {lines[-1] if lines else err}") from None
