"""`fipo-bench model build-tiny`: build the embedded tiny model into a directory."""

from __future__ import annotations

from pathlib import Path

import typer


def build_tiny(
    out: Path = typer.Option(..., "--out", help="Directory for the HF checkpoint (new or empty)."),
    seed: int = typer.Option(0, "--seed", help="Fixes the initial weights and the data order."),
    steps: int | None = typer.Option(
        None, "--steps", help="Warm-up steps (default: the tuned value, see docs)."
    ),
    eval_problems: int = typer.Option(
        200, "--eval-problems", help="Synthetic test problems for the closing accuracy; 0 skips."
    ),
) -> None:
    """Build the character-level Qwen2 model warmed up on the synthetic arithmetic task."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from transformers.utils import logging as hf_logging

    from fipo_bench.models.build import BuildSettings, build_tiny_model

    hf_logging.disable_progress_bar()  # one progress display: ours

    console = Console(highlight=False)
    settings = BuildSettings(seed=seed, eval_problems=eval_problems)
    if steps is not None:
        settings = settings.with_steps(steps)

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[loss]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        tasks: dict[str, int] = {}

        def on_progress(stage: str, done: int, total: int, loss: float | None) -> None:
            if stage not in tasks:
                label = "warm-up" if stage == "warmup" else "sampled accuracy"
                tasks[stage] = progress.add_task(label, total=total, loss="")
            shown = f"loss {loss:.3f}" if loss is not None else ""
            progress.update(tasks[stage], completed=done, loss=shown)

        result = build_tiny_model(out, settings, on_progress=on_progress)

    info = result.info
    if result.reused:
        console.print(f"reused the existing build in {out} (same settings, files intact)")
    else:
        if result.repaired is not None:
            console.print(f"rebuilt {out}: in the earlier build, {result.repaired}")
        console.print(
            f"built {out} in {info['build_seconds']:.0f} s "
            f"({info['build_cpu_seconds']:.0f} CPU s, {info['parameters']:,} parameters)"
        )
    if info["test_accuracy"] is not None:
        console.print(
            f"synthetic test accuracy (1 sample per problem, temperature 1.0, "
            f"{info['eval_problems']} problems): {info['test_accuracy']:.1%}"
        )


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="The embedded tiny model.", no_args_is_help=True)
    group.command("build-tiny")(build_tiny)
    app.add_typer(group, name="model")
