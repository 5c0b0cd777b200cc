"""`fipo-bench report`: evals side by side (accuracy with standard errors, differences against
the first eval with 95% intervals, length, length-quartile accuracy, accuracy-length fits,
reflection, influence weights) and training runs over steps, as CSV, Markdown or HTML; with
--figures the HTML adds the FIPO paper's figures, pass@k curves and the pivot event study."""

from __future__ import annotations

from typing import Annotated

import typer

from fipo_bench.analysis.stats import DEFAULT_RESAMPLES
from fipo_bench.commands.options import DbOption


def report_command(
    out: Annotated[str, typer.Option("--out", help="Output file (its folder must exist).")],
    eval_ids: Annotated[
        list[str] | None,
        typer.Option(
            "--eval", help="Eval id; repeat for side by side (the first is the baseline)."
        ),
    ] = None,
    run_ids: Annotated[
        list[str] | None, typer.Option("--run", help="Training run id; repeat for several.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv, md or html.")] = "md",
    figures: Annotated[
        bool,
        typer.Option(
            "--figures",
            help="html only: add the paper's Figures 1, 3-5 for the runs, pass@k curves, the"
            " reflection panel and the pivot event study of evals with credit.",
        ),
    ] = False,
    stages: Annotated[
        str | None,
        typer.Option(
            "--stages",
            help="Step ranges of the runs, e.g. 0-100,100-300: accuracy against mean length of"
            " the checkpoints in each (a-b holds a <= step < b; the last range also holds b).",
        ),
    ] = None,
    resamples: Annotated[
        int, typer.Option("--resamples", help="Bootstrap/permutation resamples of differences.")
    ] = DEFAULT_RESAMPLES,
    seed: Annotated[int, typer.Option("--seed", help="Seed of every resampling.")] = 0,
    window: Annotated[
        int, typer.Option("--window", help="Event study: tokens either side of a pivot.")
    ] = 64,
    db: DbOption = None,
) -> None:
    """Write a report of stored evals and training runs (read-only on the database)."""
    from pathlib import Path

    from rich.console import Console

    from fipo_bench.analysis.compare import check_resamples
    from fipo_bench.analysis.events import check_window
    from fipo_bench.analysis.length_accuracy import parse_stages
    from fipo_bench.analysis.report_render import check_output, write_report
    from fipo_bench.analysis.reports import build_report
    from fipo_bench.errors import ConfigError
    from fipo_bench.store import Store, default_db_path

    out_path = Path(out)
    check_output(out_path, fmt, figures=figures)
    if not eval_ids and not run_ids:
        raise ConfigError("nothing to report; give one or more --eval EVAL_ID or --run RUN_ID")
    parsed_stages = parse_stages(stages) if stages is not None else ()
    check_resamples(resamples)
    check_window(window)
    store = Store(default_db_path(db), read_only=True)
    paper = None
    with store.reading():
        report = build_report(
            store, eval_ids or [], run_ids or [], stages=parsed_stages, resamples=resamples,
            seed=seed,
        )  # fmt: skip
        if figures:
            from fipo_bench.analysis.figures import collect_paper_figures

            paper = collect_paper_figures(store, report, window=window, seed=seed)
    write_report(report, fmt, out_path, paper)
    console = Console(highlight=False, stderr=True)
    for note in report.notes:
        console.print(f"note: {note}")
    Console(highlight=False).print(
        f"wrote {fmt} report of {len(report.details)} eval(s) and {len(report.run_infos)} run(s)"
        f" to {out_path}"
    )


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)
