"""`fipo-bench credit`: per-token Future-KL credit of an eval's trajectories against a reference
model, then its self-reflection pivots (keyword, credit, entropy)."""

from __future__ import annotations

from typing import Annotated

import typer

from fipo_bench.commands.options import DbOption


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
    preset: Annotated[
        str | None,
        typer.Option(
            "--preset", help="Credit with this preset's loss config (`fipo-bench presets`)."
        ),
    ] = None,
    run: Annotated[
        str | None,
        typer.Option("--run", help="Credit with the loss config this training run trained with."),
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Override a loss setting, e.g. --set loss.half_life=16 (after --preset/--run;"
            " without either the defaults are the paper's: half-life 32, band [1.0, 1.2]).",
        ),
    ] = None,
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
    db: DbOption = None,
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
    from fipo_bench.config import validate
    from fipo_bench.eval.console import RichProgress
    from fipo_bench.store import Store, default_db_path

    db_path = default_db_path(db)
    loss = credit_loss_config(db_path, preset=preset, run=run, overrides=overrides or [])
    settings = validate(
        CreditSettings,
        {"ref_model": ref, "loss": loss.model_dump(mode="json"), "dtype": dtype,
         "batch_tokens": batch_tokens},
        what="credit settings",
    )  # fmt: skip
    pivot_values: dict = {
        "credit_top_percent": credit_top_percent,
        "entropy_top_percent": entropy_top_percent,
    }
    if lexicon is not None:
        pivot_values["lexicon"] = read_lexicon(Path(lexicon))
    pivot_settings = validate(PivotSettings, pivot_values, what="pivot settings")
    plan = plan_credit(db_path, eval_id, settings)
    out = Console(highlight=False)
    out.print(
        f"credit of eval {eval_id}: policy {plan.policy_location} vs ref {plan.ref_location};"
        f" half-life {loss.half_life:g}, influence [{loss.influence_low:g},"
        f" {loss.influence_high:g}], dual-clip c {loss.dual_clip_c}, safety threshold"
        f" {loss.safety_threshold:g} ({loss.safety_mode})"
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


def credit_loss_config(db_path, *, preset: str | None, run: str | None, overrides: list[str]):
    """The loss config credit uses: a preset's or a run's, then `--set loss.*` overrides."""
    from fipo_bench.algos.losses import LossConfig
    from fipo_bench.analysis.credit import loss_config_of_run
    from fipo_bench.config import get_preset, loss_with_overrides
    from fipo_bench.errors import ConfigError

    if preset is not None and run is not None:
        raise ConfigError(
            f"--preset {preset} and --run {run} both name a loss config; allowed: one of them"
        )
    if preset is not None:
        loss = get_preset(preset).loss
    elif run is not None:
        loss = loss_config_of_run(db_path, run)
    else:
        loss = LossConfig(mode="fipo")
    return loss_with_overrides(loss, overrides)


def read_lexicon(path) -> tuple[str, ...]:
    """Reflection phrases from a UTF-8 text file, one per line (`#` lines are comments)."""
    from fipo_bench.errors import ConfigError
    from fipo_bench.resources import phrase_lines

    if not path.is_file():
        raise ConfigError(f"--lexicon {path} is not a file; allowed: a UTF-8 text file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(
            f"--lexicon {path} is not readable UTF-8 text ({type(err).__name__}); allowed: a"
            " text file of phrases, one per line"
        ) from None
    if "\x00" in text:
        raise ConfigError(f"--lexicon {path} is a binary file; allowed: a text file of phrases")
    phrases = phrase_lines(text)
    if not phrases:
        raise ConfigError(f"--lexicon {path} holds no phrase; allowed: one phrase per line")
    return phrases


def register(app: typer.Typer) -> None:
    app.command("credit")(credit_command)
