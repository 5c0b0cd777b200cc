"""`fipo-bench credit`: per-token Future-KL credit of an eval's trajectories against a reference
model, then its self-reflection pivots (keyword, credit, entropy)."""

from __future__ import annotations

from typing import Annotated

import typer

from fipo_bench.store.paths import DB_ENV_VAR


def credit_command(
    eval_id: Annotated[str, typer.Option("--eval", help="Eval id whose samples are scored.")],
    ref: Annotated[
        str,
        typer.Option(
            "--ref",
            help="Reference (old policy): the base or an earlier checkpoint dir, run_id:step,"
            " or a hub id. Must share the evaluated model's tokenizer.",
        ),
    ],
    half_life: Annotated[
        float, typer.Option("--half-life", help="Future-KL decay half-life in tokens (> 0).")
    ] = 32.0,
    influence_low: Annotated[
        float, typer.Option("--influence-low", help="Lower clip of the influence weight.")
    ] = 1.0,
    influence_high: Annotated[
        float, typer.Option("--influence-high", help="Upper clip of the influence weight.")
    ] = 1.2,
    dual_clip_c: Annotated[
        float, typer.Option("--dual-clip-c", help="Dual-clip / outlier threshold c (> 1).")
    ] = 10.0,
    dtype: Annotated[
        str, typer.Option("--dtype", help="float32, bfloat16 or auto (the checkpoint's).")
    ] = "float32",
    batch_tokens: Annotated[
        int,
        typer.Option("--batch-tokens", help="Padded tokens scored together; longer ones go alone."),
    ] = 4096,
    credit_top_percent: Annotated[
        float, typer.Option("--credit-top-percent", help="Credit pivots: top |future_kl| %.")
    ] = 1.0,
    entropy_top_percent: Annotated[
        float, typer.Option("--entropy-top-percent", help="Entropy pivots: top entropy % of eval.")
    ] = 20.0,
    lexicon: Annotated[
        str | None,
        typer.Option("--lexicon", help="Text file of reflection phrases, one per line."),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option("--db", help=f"DuckDB file (default: ${DB_ENV_VAR}, else fipo_bench.duckdb)."),
    ] = None,
) -> None:
    """Per-token Future-KL credit of an eval's trajectories against a reference, then pivots.

    Scores every stored trajectory under the evaluated model and the reference; stores the logp
    shift, Future-KL, influence weight and entropy per token, then the pivots.

    Rerunning with the same settings resumes; other settings recompute everything."""
    from pathlib import Path

    from rich.console import Console

    from fipo_bench.analysis.credit import plan_credit, run_credit
    from fipo_bench.analysis.pivots import find_pivots
    from fipo_bench.analysis.settings import CreditSettings, PivotSettings
    from fipo_bench.errors import ConfigError
    from fipo_bench.eval.console import RichProgress
    from fipo_bench.store import Store, default_db_path

    settings = CreditSettings(
        ref_model=ref,
        half_life=half_life,
        influence_low=influence_low,
        influence_high=influence_high,
        dual_clip_c=dual_clip_c,
        dtype=dtype,  # type: ignore[arg-type]  # validated by CreditSettings
        batch_tokens=batch_tokens,
    )
    pivot_kwargs = {}
    if lexicon is not None:
        path = Path(lexicon)
        if not path.is_file():
            raise ConfigError(f"--lexicon {lexicon} is not a file; allowed: a text file")
        phrases = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        pivot_kwargs["lexicon"] = tuple(phrases)
    pivot_settings = PivotSettings(
        credit_top_percent=credit_top_percent,
        entropy_top_percent=entropy_top_percent,
        **pivot_kwargs,  # type: ignore[arg-type]
    )
    plan = plan_credit(default_db_path(db), eval_id, settings)
    out = Console(highlight=False)
    out.print(
        f"credit of eval {eval_id}: policy {plan.policy_location} vs ref {plan.ref_location};"
        f" half-life {half_life:g}, influence [{influence_low:g}, {influence_high:g}],"
        f" dual-clip c {dual_clip_c:g}"
    )
    with RichProgress(out) as progress:
        result = run_credit(plan, progress=progress)
    if result.cleared_samples:
        out.print(f"cleared credit of {result.cleared_samples} samples stored with other settings")
    out.print(
        f"{result.scored_samples} samples scored ({result.scored_tokens} tokens),"
        f" {result.reused_samples} already stored, in {result.wall_s:.1f} s"
    )
    summary = find_pivots(Store(plan.db_path), eval_id, pivot_settings)
    counts = ", ".join(f"{k} {v}" for k, v in summary.rows_written.items())
    out.print(
        f"pivots: {counts} token rows; reflection rate {100 * summary.reflection_rate:.1f}%"
        f" of {len(summary.reflection_counts)} samples"
    )


def register(app: typer.Typer) -> None:
    app.command("credit")(credit_command)
