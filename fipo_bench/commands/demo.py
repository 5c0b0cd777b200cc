"""`fipo-bench demo`: the whole loop on the embedded default (no GPU, no downloads)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer


def demo(
    quick: Annotated[
        bool, typer.Option("--quick", help="Every stage on little data (~4 min on 2 cores).")
    ] = False,
    workdir: Annotated[
        Path, typer.Option("--workdir", help="Folder for the model, runs and reports.")
    ] = Path("fipo-demo"),
    db: Annotated[
        Path | None, typer.Option("--db", help="DuckDB file (default: WORKDIR/fipo_bench.duckdb).")
    ] = None,
    aime_file: Annotated[
        Path | None,
        typer.Option("--aime-file", help="Local aime24 jsonl: also evaluate on real AIME 2024."),
    ] = None,
    engine: Annotated[str, typer.Option("--engine", help="hf or vllm (rollouts and eval).")] = "hf",
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """Run the whole loop on the embedded tiny model (no GPU, no downloads).

    Builds the tiny model, trains GRPO/DAPO/FIPO from it, evaluates all side by side, credits
    each trained checkpoint against the base and writes the report. Rerun to resume: stored
    stages are skipped."""
    from rich.console import Console
    from rich.table import Table

    from fipo_bench.demo import make_plan, run_demo

    plan = make_plan(
        workdir=workdir, db_path=db, quick=quick, engine=engine, aime_file=aime_file, seed=seed
    )
    console = Console(highlight=False)
    console.print(
        f"fipo-bench demo ({'quick' if quick else 'full'}): workdir {plan.workdir}, db"
        f" {plan.db_path}, engine {plan.engine}"
    )
    result = run_demo(plan, console)

    stages = Table(title="stages")
    for column in ("stage", "status", "seconds", "detail"):
        stages.add_column(column)
    for s in result.stages:
        stages.add_row(s.name, "reused" if s.reused else "done", f"{s.seconds:.1f}", s.detail)
    console.print(stages)

    rows = [m.row() for m in result.summary.models]
    first = result.summary.models[0]
    summary = Table(
        title=f"synthetic test split, {first.num_problems} problems x {first.n} samples "
        "(± standard error; difference to the base with its paired bootstrap 95% interval)"
    )
    for column in rows[0]:
        summary.add_column(column, justify="left" if column == "model" else "right")
    for row in rows:
        summary.add_row(*row.values())
    console.print(summary)
    console.print(f"[bold]{result.summary.headline}[/bold]")
    for path in result.reports:
        console.print(f"report: {path}")
    # The command as the user typed it (".venv/bin/fipo-bench" when not on PATH)
    exe = sys.argv[0] if Path(sys.argv[0]).name == "fipo-bench" else "fipo-bench"
    console.print(
        f"next: [bold]{shlex.quote(exe)} dashboard --db "
        f"{shlex.quote(str(plan.db_path))}[/bold]  (then open the URL it prints)"
    )


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
