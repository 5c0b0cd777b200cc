"""`fipo-bench import FORMAT PATH`: a run or evaluation made by another tool, into the store."""

from __future__ import annotations

from typing import Annotated

import typer

from fipo_bench.commands.options import DbOption


def import_command(
    format_name: Annotated[
        str, typer.Argument(metavar="FORMAT", help="verl-run, trl, lighteval, inspect, qwen-math")
    ],
    path: Annotated[str, typer.Argument(metavar="PATH", help="The tool's output folder or file.")],
    name: Annotated[
        str | None, typer.Option("--name", help="Run name (default: the folder or file name).")
    ] = None,
    tokenizer: Annotated[
        str | None,
        typer.Option(
            "--tokenizer",
            help="Model dir whose tokenizer counts response tokens when the source gives no"
            " counts (default: a verl checkpoint's own).",
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Import another tool's run or evaluation: samples re-verified beside the tool's own
    score, metrics, checkpoints. Checks everything before writing; importing again adds
    nothing."""
    from pathlib import Path

    from rich.console import Console

    from fipo_bench.eval.console import RichProgress
    from fipo_bench.importers import check_db_path, read_source, write_source
    from fipo_bench.store import default_db_path

    db_path = default_db_path(db)
    check_db_path(db_path)
    out = Console(highlight=False, soft_wrap=True)  # long paths stay copyable
    source = read_source(format_name, Path(path), name=name)
    with RichProgress(out) as progress:
        result = write_source(source, db_path, tokenizer=tokenizer, progress=progress)
    parts = [f"{result.samples} samples"]
    if result.run_id:
        parts.append(f"run {result.run_id}")
    if result.eval_ids:
        parts.append(f"{len(result.eval_ids)} eval(s) {', '.join(result.eval_ids)}")
    if result.checkpoints:
        parts.append(f"{result.checkpoints} checkpoint(s)")
    if result.metric_steps:
        parts.append(f"metrics of {result.metric_steps} step(s)")
    out.print(f"imported {format_name} {path}: " + "; ".join(parts) + f"; db {db_path}")
    if result.agree + result.disagree:
        out.print(
            f"source verdicts vs fipo-bench re-verification: {result.agree} agree,"
            f" {result.disagree} disagree (samples.source_correct vs samples.correct)"
        )
    for note in result.notes:
        out.print(note)


def register(app: typer.Typer) -> None:
    app.command("import")(import_command)
