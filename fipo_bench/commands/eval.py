"""`fipo-bench eval`: score checkpoints AIME-style (n samples per problem, avg@k/cons@k/pass@k).

Runs under `if __name__ == "__main__"` of fipo_bench.cli, as vLLM needs for its workers.
"""

from __future__ import annotations

from typing import Annotated

import typer

from fipo_bench.commands.options import DbOption
from fipo_bench.eval.settings import DEFAULT_UNIT_SAMPLES


def eval_command(
    model: Annotated[
        list[str],
        typer.Option(
            "--model",
            help="Checkpoint or base-model dir, run_id:step of a stored run, or a hub id. Repeat"
            " to compare models side by side on the same problems and settings.",
        ),
    ],
    dataset: Annotated[
        str, typer.Option("--dataset", help="Registry name (aime24, aime25, ...) or a data file.")
    ],
    data_file: Annotated[
        str | None,
        typer.Option("--data-file", help="Local copy of a registry dataset (jsonl/parquet)."),
    ] = None,
    n: Annotated[int, typer.Option("--n", help="Samples per problem.")] = 32,
    temperature: Annotated[float, typer.Option("--temperature")] = 1.0,
    top_p: Annotated[float, typer.Option("--top-p")] = 0.7,
    max_tokens: Annotated[int, typer.Option("--max-tokens", help="Max response tokens.")] = 20480,
    engine: Annotated[
        str, typer.Option("--engine", help="vllm or hf (default: vllm where installed, else hf).")
    ] = "auto",
    prompt: Annotated[
        str | None,
        typer.Option("--prompt", help="dapo, boxed or raw (default: the dataset's own)."),
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="First N problems only.")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    unit_samples: Annotated[
        int,
        typer.Option(
            "--unit-samples",
            help="Samples generated and stored together (whole problems); a kill loses at most"
            " one unit. Part of the eval's identity.",
        ),
    ] = DEFAULT_UNIT_SAMPLES,
    db: DbOption = None,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            help="K/N: run shard K of N only, written as Parquet to --out-dir (no database is"
            " written; merge with `fipo-bench db merge DIR --db FILE`).",
        ),
    ] = None,
    out_dir: Annotated[
        str | None, typer.Option("--out-dir", help="Folder for shard files (--shard, --ray).")
    ] = None,
    ray: Annotated[
        bool,
        typer.Option("--ray", help="Run --shards shards as Ray tasks, then merge into --db."),
    ] = False,
    shards: Annotated[int, typer.Option("--shards", help="Number of shards with --ray.")] = 2,
    num_gpus_per_shard: Annotated[
        float,
        typer.Option(
            "--num-gpus-per-shard",
            help="GPUs per Ray task (vLLM runs tensor parallel inside a task when > 1).",
        ),
    ] = 0,
    ray_address: Annotated[
        str | None,
        typer.Option("--ray-address", help="Ray cluster to join (default: a local one)."),
    ] = None,
) -> None:
    """Sample, verify and store n responses per problem for each model; print the metrics.

    Rerunning the same command after a crash resumes where it stopped."""
    from rich.console import Console

    from fipo_bench.eval import EvalSettings, plan_eval, run_eval
    from fipo_bench.eval.console import RichProgress, differences_tables, metrics_table
    from fipo_bench.store import default_db_path

    settings = EvalSettings(
        dataset=dataset,
        data_file=data_file,
        n=n,
        temperature=temperature,
        top_p=top_p,
        max_tokens=max_tokens,
        engine=engine,  # type: ignore[arg-type]  # validated by EvalSettings
        prompt=prompt,
        limit=limit,
        seed=seed,
        unit_samples=unit_samples,
    )
    db_path = default_db_path(db)
    out = Console(highlight=False)
    if shard is not None or ray:
        _sharded(out, settings, model, db_path, shard, out_dir, ray, shards, num_gpus_per_shard,
                 ray_address)  # fmt: skip
        return
    job = plan_eval(settings, model, db_path)
    chosen = "default" if settings.engine == "auto" else "requested"
    out.print(
        f"engine {job.engine} ({chosen}); {len(job.problems)} problems of {job.dataset} x n={n},"
        f" prompt {job.prompt_template}, {len(job.models)} model(s); db {job.db_path}"
    )
    with RichProgress(out) as progress:
        results = run_eval(job, progress=progress)
    for result in results:
        if result.generated_samples == 0 and result.reused_samples:
            out.print(f"{result.model.ref.label}: all {result.reused_samples} samples were stored")
        elif result.reused_samples:
            out.print(
                f"{result.model.ref.label}: resumed, {result.reused_samples} stored samples kept,"
                f" {result.generated_samples} generated"
            )
    title = (
        f"{job.dataset}: {len(job.problems)} problems x n={n}, T={temperature:g}, top-p={top_p:g},"
        f" engine {job.engine}"
    )
    out.print(metrics_table(results, title=title))
    # Several models: each one's difference from the first, with a paired test.
    for table in differences_tables(job.db_path, results):
        out.print(table)


def _sharded(out, settings, models, db_path, shard, out_dir, ray, shards, gpus, address) -> None:
    """`--shard K/N --out-dir DIR` (one shard, no database) or `--ray` (all shards, merged)."""
    from pathlib import Path

    from fipo_bench.errors import ConfigError

    if out_dir is None:
        raise ConfigError("--shard and --ray write shard files: give --out-dir DIR")
    if shard is not None and ray:
        raise ConfigError("--shard runs one shard here, --ray runs them all on Ray: give one")
    if ray:
        from fipo_bench.integrations.ray_eval import run_ray_eval

        def done(summary) -> None:
            out.print(
                f"shard {summary.shard}/{shards} done: {summary.generated_samples} samples"
                f" generated, {summary.reused_samples} kept"
            )

        result = run_ray_eval(
            settings, list(models), db_path, Path(out_dir), num_shards=shards,
            num_gpus_per_shard=gpus, address=address, on_shard_done=done,
        )  # fmt: skip
        merged = result.merged
        out.print(
            f"merged {merged.samples:,} samples into {db_path}: eval(s)"
            f" {', '.join(merged.complete_eval_ids)} done"
        )
        return
    from fipo_bench.eval import plan_eval
    from fipo_bench.eval.console import RichProgress
    from fipo_bench.eval.runner import run_eval_shard
    from fipo_bench.store.shards import ShardSpec

    spec = ShardSpec.parse(shard)
    job = plan_eval(settings, models, db_path)
    with RichProgress(out) as progress:
        results = run_eval_shard(job, spec, Path(out_dir), progress=progress)
    for result in results:
        out.print(
            f"{result.model.ref.label}: shard {spec} of eval {result.model.eval_id} in {out_dir}:"
            f" {result.generated_samples} samples generated, {result.reused_samples} kept"
        )
    out.print(f"when every shard is done: fipo-bench db merge {out_dir} --db {db_path}")


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
