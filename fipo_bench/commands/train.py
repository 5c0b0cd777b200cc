"""`fipo-bench train`: GRPO / DAPO / FIPO on a causal LM, with checkpoints and resume."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from fipo_bench.commands.options import DbOption


def train(
    preset: Annotated[str, typer.Option("--preset", help="Named preset (`fipo-bench presets`).")],
    model: Annotated[Path, typer.Option("--model", help="Hugging Face checkpoint folder.")],
    steps: Annotated[int, typer.Option("--steps", help="Train until this many steps are done.")],
    out: Annotated[Path, typer.Option("--out", help="Run folder: run.json + checkpoints/.")],
    db: DbOption = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the latest complete checkpoint.")
    ] = False,
    data: Annotated[
        str | None,
        typer.Option(
            "--data", help="synthetic, a registry name or a jsonl/parquet file (default: preset)."
        ),
    ] = None,
    engine: Annotated[str, typer.Option("--engine", help="Rollout engine: hf or vllm.")] = "hf",
    reward_fn: Annotated[
        str | None,
        typer.Option(
            "--reward-fn",
            help="A plug-in reward module:callable (TRL's signature), added to correctness;"
            " --set rewards.correctness_weight=0 makes it the only reward.",
        ),
    ] = None,
    val_dataset: Annotated[
        str | None,
        typer.Option(
            "--val-dataset",
            help="Evaluate the live policy on this dataset or file during training (linked"
            " evals: accuracy over steps).",
        ),
    ] = None,
    val_every: Annotated[
        int | None, typer.Option("--val-every", help="Validate every N steps (and at step 0).")
    ] = None,
    val_n: Annotated[
        int | None, typer.Option("--val-n", help="Validation samples per problem (default 4).")
    ] = None,
    val_limit: Annotated[
        int | None, typer.Option("--val-limit", help="Validate on the first M problems only.")
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Override a preset value by its group.field key, e.g. --set loss.half_life=16"
            " or --set optimiser.lr=1e-5 (`fipo-bench presets NAME` lists every key).",
        ),
    ] = None,
    report_to: Annotated[
        list[str] | None, typer.Option("--report-to", help="tensorboard and/or wandb.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Train with rollouts from the live policy; metrics and per-token credit go to DuckDB."""
    from fipo_bench.config import apply_overrides, get_preset
    from fipo_bench.store import default_db_path
    from fipo_bench.train import TrainJob
    from fipo_bench.train import train as run_training

    # The flags are --set shorthands: part of the run's config (and of its identity).
    settings = [
        *(overrides or []),
        *([f"rollout.data={data}"] if data is not None else []),
        *([f"rewards.reward_fn={reward_fn}"] if reward_fn is not None else []),
        *(
            f"validation.{key}={value}"
            for key, value in (
                ("dataset", val_dataset),
                ("every", val_every),
                ("n", val_n),
                ("limit", val_limit),
            )
            if value is not None
        ),
    ]
    config = apply_overrides(get_preset(preset), settings)
    job = TrainJob(
        preset=preset,
        config=config,
        model_dir=model,
        out_dir=out,
        db_path=default_db_path(db),
        steps=steps,
        engine=engine,
        resume=resume,
        report_to=tuple(report_to or ()),
        show_progress=not quiet,
    )
    result = run_training(job)
    console = Console(highlight=False)
    m = result.last_metrics
    console.print(
        f"run {result.run_id}: steps {result.first_step}-{result.last_step} done"
        + (f", reward {m['reward/mean']:+.3f}, acc {m['acc/mean']:.3f}" if "acc/mean" in m else "")
    )
    if result.n_long_prompts_dropped:
        console.print(
            f"left out {result.n_long_prompts_dropped} problems whose prompt exceeds "
            f"rollout.max_prompt_tokens={config.rollout.max_prompt_tokens}"
        )
    for path in result.checkpoints:
        console.print(f"checkpoint {path}")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
