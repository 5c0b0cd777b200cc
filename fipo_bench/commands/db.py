"""`fipo-bench db info|export|migrate|merge`: look into the DuckDB file without writing SQL, and
merge the Parquet shards of a sharded eval into it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from fipo_bench.commands.options import DbOption
from fipo_bench.store import EXPORT_FORMATS, TABLES, Store, default_db_path


def _size(n_bytes: int) -> str:
    size = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def info(db: DbOption = None) -> None:
    """Tables, row counts, schema version and file size of the database."""
    store = Store(default_db_path(db), read_only=True)
    facts = store.info()
    out = Console(highlight=False)
    out.print(f"database       {facts.path}")
    out.print(f"file size      {_size(facts.file_size_bytes)}")
    note = ""
    if facts.schema_version < facts.code_schema_version:
        note = f" (older than {facts.code_schema_version}: run `fipo-bench db migrate`)"
    out.print(f"schema version {facts.schema_version}{note}")
    table = Table("table", "rows")
    table.columns[1].justify = "right"
    for name in TABLES:
        count = facts.table_counts.get(name)
        table.add_row(name, "-" if count is None else f"{count:,}")
    out.print(table)


def export(
    table: Annotated[str, typer.Option("--table", help=f"One of: {', '.join(TABLES)}.")],
    out: Annotated[Path, typer.Option("--out", help="Output file (its folder must exist).")],
    fmt: Annotated[
        str, typer.Option("--format", help=f"One of: {', '.join(EXPORT_FORMATS)}.")
    ] = "parquet",
    db: DbOption = None,
) -> None:
    """Export one table to parquet or csv (written to a temp file, then renamed)."""
    # Validate everything before opening the file so that bad input never touches it.
    from fipo_bench.store.export import check_export

    check_export(table, fmt, out)
    written = Store(default_db_path(db), read_only=True).export_table(table, fmt, out)
    Console(highlight=False).print(f"wrote {written}")


def migrate(db: DbOption = None) -> None:
    """Bring the database to this fipo-bench's schema version (forward migrations only)."""
    path = default_db_path(db)
    from fipo_bench.errors import StoreError

    if not path.exists():
        raise StoreError(f"database {path} does not exist; nothing to migrate")
    store = Store(path)
    Console(highlight=False).print(f"{path}: schema version {store.file_schema_version}")


def merge(
    shard_dir: Annotated[
        Path, typer.Argument(help="The --out-dir that `fipo-bench eval --shard K/N` wrote.")
    ],
    db: DbOption = None,
    partial: Annotated[
        bool,
        typer.Option(
            "--partial",
            help="Merge the finished units of whatever shards are there; evals not finished"
            " in every shard stay running.",
        ),
    ] = False,
) -> None:
    """Merge eval shards into the database (the single writer); rerunning adds nothing."""
    from fipo_bench.eval.stored import metrics_json, stored_eval_metrics
    from fipo_bench.store.merge import scan_shards

    out = Console(highlight=False)
    plan = scan_shards(shard_dir, partial=partial)  # every check before the file is opened
    out.print(
        f"{shard_dir}: {len(plan.shards)} of {plan.num_shards} shards, {len(plan.evals)} eval(s),"
        f" {plan.samples:,} samples, {plan.tokens:,} token rows"
    )
    if plan.orphan_units:
        out.print(f"skipped {plan.orphan_units} unit(s) a killed shard left without samples")
    store = Store(default_db_path(db))
    result = store.merge_shards(plan)
    # Metrics are recomputed over the merged samples, as an unsharded eval computes them.
    for eval_id in result.complete_eval_ids:
        metrics = stored_eval_metrics(store, eval_id)
        store.set_eval_status(eval_id, "done", metrics=metrics_json(metrics))
    running = [e for e in result.eval_ids if e not in result.complete_eval_ids]
    out.print(f"merged into {store.path}: {len(result.complete_eval_ids)} eval(s) done")
    if running:
        out.print(f"still running (shards unfinished): {', '.join(running)}")


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Inspect and export the DuckDB store.", no_args_is_help=True)
    group.command("info")(info)
    group.command("export")(export)
    group.command("migrate")(migrate)
    group.command("merge")(merge)
    app.add_typer(group, name="db")
