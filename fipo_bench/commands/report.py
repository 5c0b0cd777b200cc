"""`fipo-bench report`: evals side by side (accuracy, length, length-quartile accuracy, reflection,
influence weights) and training runs' response length per step, as CSV, Markdown or HTML."""

from __future__ import annotations

from typing import Annotated

import typer

from fipo_bench.store.paths import DB_ENV_VAR


def report_command(
    out: Annotated[str, typer.Option("--out", help="Output file (its folder must exist).")],
    eval_ids: Annotated[
        list[str] | None, typer.Option("--eval", help="Eval id; repeat for side by side.")
    ] = None,
    run_ids: Annotated[
        list[str] | None, typer.Option("--run", help="Training run id; repeat for several.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv, md or html.")] = "md",
    db: Annotated[
        str | None,
        typer.Option("--db", help=f"DuckDB file (default: ${DB_ENV_VAR}, else fipo_bench.duckdb)."),
    ] = None,
) -> None:
    """Write a report of stored evals and training runs (read-only on the database)."""
    from pathlib import Path

    from rich.console import Console

    from fipo_bench.analysis.report_render import check_output, write_report
    from fipo_bench.analysis.reports import build_report
    from fipo_bench.errors import ConfigError
    from fipo_bench.store import Store, default_db_path

    out_path = Path(out)
    check_output(out_path, fmt)
    if not eval_ids and not run_ids:
        raise ConfigError("nothing to report; give one or more --eval EVAL_ID or --run RUN_ID")
    store = Store(default_db_path(db), read_only=True)
    with store.reading():
        report = build_report(store, eval_ids or [], run_ids or [])
    write_report(report, fmt, out_path)
    Console(highlight=False).print(
        f"wrote {fmt} report of {len(eval_ids or [])} eval(s) and {len(run_ids or [])} run(s)"
        f" to {out_path}"
    )


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)
