"""`fipo-bench compare`: stored evals on the same problems, each against a baseline, with 95%
intervals (paired bootstrap over problems), permutation-test p-values and win/tie/loss counts."""

from __future__ import annotations

from typing import Annotated

import typer

from fipo_bench.analysis.stats import DEFAULT_RESAMPLES
from fipo_bench.commands.options import DbOption


def compare_command(
    eval_ids: Annotated[
        list[str],
        typer.Option("--eval", help="Eval id; give two or more (same problems)."),
    ],
    baseline: Annotated[
        str | None,
        typer.Option("--baseline", help="The eval the others are compared to (default: first)."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    resamples: Annotated[
        int, typer.Option("--resamples", help="Bootstrap and permutation resamples.")
    ] = DEFAULT_RESAMPLES,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the resampling.")] = 0,
    db: DbOption = None,
) -> None:
    """Compare evals of the same problems: differences of avg@k, cons@k and pass@k against the
    baseline with their 95% interval, p-value and per-problem wins/ties/losses (read-only)."""
    import sys

    from rich.console import Console

    from fipo_bench.analysis import compare_render
    from fipo_bench.analysis.compare import check_compare_args, compare_evals
    from fipo_bench.errors import ConfigError
    from fipo_bench.store import Store, default_db_path

    if fmt not in compare_render.COMPARE_FORMATS:
        raise ConfigError(
            f"--format {fmt!r} is unknown; allowed: {', '.join(compare_render.COMPARE_FORMATS)}"
        )
    check_compare_args(eval_ids, baseline, resamples)
    store = Store(default_db_path(db), read_only=True)
    with store.reading():
        comparison = compare_evals(
            store, eval_ids, baseline=baseline, resamples=resamples, seed=seed
        )
    err = Console(stderr=True, highlight=False)
    for note in comparison.notes:
        err.print(f"warning: {note}")
    if fmt == "table":
        out = Console(highlight=False)
        out.print(compare_render.evals_table(comparison))
        out.print(compare_render.differences_table(comparison))
    else:
        render = compare_render.render_json if fmt == "json" else compare_render.render_csv
        sys.stdout.write(render(comparison))


def register(app: typer.Typer) -> None:
    app.command("compare")(compare_command)
