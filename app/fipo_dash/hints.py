"""What a trajectory panel says when its values are missing, with the exact command that fills
them, and the influence clip band the stored credit was computed with.

Credit (ref_logp, delta, future_kl, influence_weight, entropy) of an eval comes from
`fipo-bench credit`; the settings it ran with are kept per eval (analyses table, kind credit).
Training rollouts get theirs from the trainer as it logs them.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping
from pathlib import Path

from fipo_dash.status import json_field, present

ENGINE_COLUMNS = ("logp",)  # stored by the sampling engine with every token


def _location(ref_identity: str) -> str:
    """The model location of a stored reference identity ('LOCATION#fingerprint')."""
    return ref_identity.split("#", 1)[0]


def credit_command(eval_row: Mapping, runs: Mapping[str, Mapping], db: Path) -> str:
    """`fipo-bench credit` for this eval. A checkpoint of a training run: against the model
    the run started from, with the run's own loss settings; any other model needs the user's
    choice of reference (the model it was trained from)."""
    run_id = eval_row.get("model_run_id") if present(eval_row.get("model_run_id")) else None
    run = runs.get(run_id) if run_id else None
    if run is not None and present(run.get("model_path")):
        ref, extra = str(run["model_path"]), ["--run", str(run_id)]
    else:
        ref, extra = "REFERENCE_MODEL", []
    args = ["fipo-bench", "credit", "--eval", str(eval_row["eval_id"]), "--ref", ref, *extra]
    return shlex.join([*args, "--db", str(db)])


def eval_note(
    eval_row: Mapping,
    analyses: Mapping[str, Mapping],
    runs: Mapping[str, Mapping],
    scalar: str,
    db: Path,
) -> str:
    """Why an eval's sample has no `scalar` values, and what fills them."""
    if scalar in ENGINE_COLUMNS:
        return f"The engine stored no {scalar} for this sample (an import without log-probs)."
    credit = analyses.get("credit")
    if credit is None:
        command = credit_command(eval_row, runs, db)
        more = (
            " (REFERENCE_MODEL: the model this one was trained from)"
            if "REFERENCE_MODEL" in command
            else ""
        )
        return f"No credit computed for this eval: run `{command}`{more}."
    ref = _location(str(credit.get("ref_model", "REFERENCE_MODEL")))
    command = shlex.join(
        ["fipo-bench", "credit", "--eval", str(eval_row["eval_id"]), "--ref", ref, "--db", str(db)]
    )
    return (
        "Credit of this eval is incomplete (the credit run stopped before this sample):"
        f" rerun `{command}` with the same settings to resume."
    )


def rollout_note(run_id: str, scalar: str) -> str:
    if scalar in ENGINE_COLUMNS:
        return f"The trainer stored no {scalar} for this rollout."
    return (
        f"Run {run_id} logged this rollout without {scalar}: the trainer stores credit with the"
        " rollouts it logs (FIPO's Future-KL needs a second update of the same batch)."
    )


def pivot_note(analyses: Mapping[str, Mapping], kinds: tuple[str, ...]) -> str:
    """The pivot line of a panel with no pivot of the shown kinds: analysed (and which kinds
    exist) or never analysed."""
    if "pivots" not in analyses:
        return "pivots not analysed for this eval (`fipo-bench credit` finds them)"
    return f"analysed: no {' / '.join(kinds) or 'pivots of the chosen kinds'} pivots here"


def _band(values: Mapping) -> tuple[float, float] | None:
    low, high = values.get("influence_low"), values.get("influence_high")
    numbers = isinstance(low, int | float) and isinstance(high, int | float)
    if numbers and math.isfinite(low) and math.isfinite(high) and low < high:
        return float(low), float(high)
    return None


def eval_band(analyses: Mapping[str, Mapping]) -> tuple[float, float] | None:
    """The influence clip band an eval's credit was computed with (its stored settings)."""
    credit = analyses.get("credit") or {}
    return _band(credit) or _band(credit.get("loss") or {})


def run_band(run_row: Mapping) -> tuple[float, float] | None:
    """The influence clip band a training run trained with (runs.config loss settings)."""
    config = json_field(run_row.get("config"))
    return _band(config.get("loss") or {}) or _band(config)
