"""Resolve what the user typed after --model into something an engine loads and an eval keys on.

A model is a checkpoint or base-model directory, `run_id:step` of a stored training run, or a
hub id (handed to the engine as is). Everything here only reads: it runs before any write, so
a bad model leaves the database untouched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fipo_bench.errors import ModelError
from fipo_bench.eval.fingerprint import model_dir_fingerprint

ModelKind = Literal["dir", "checkpoint", "hub", "live"]  # live: an engine the caller holds

_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
_RUN_STEP = re.compile(r"(?P<run_id>[^:/\\]+):(?P<step>\d+)")


@dataclass(frozen=True)
class ModelRef:
    spec: str  # as typed on the command line
    kind: ModelKind
    location: str  # absolute directory, or the hub id, handed to the engine
    fingerprint: str  # content hash of a directory; "" for a hub id
    run_id: str | None = None
    ckpt_id: str | None = None

    @property
    def identity(self) -> str:
        """What the eval_id keys on: where the model is and what is in it."""
        if self.kind == "hub":
            return f"hub:{self.location}"
        return f"{self.location}#{self.fingerprint}"

    @property
    def label(self) -> str:
        """Short name for tables and progress bars."""
        return self.spec


def check_causal_lm_dir(model_dir: Path, spec: str) -> None:
    """Refuse a directory transformers cannot load as a causal LM, before any write.

    The config check is the engines' own (one rule for what a model is); weights are checked
    here too, so a directory holding only a config fails now rather than after the eval row
    is written."""
    from fipo_bench.engines import resolve_model_source

    try:
        resolve_model_source(model_dir)
    except ModelError as exc:
        raise ModelError(f"--model {spec}: {exc}") from None
    if not any(model_dir.glob("*.safetensors")) and not any(model_dir.glob("*.bin")):
        raise ModelError(f"--model {spec}: {model_dir} has no *.safetensors or *.bin weights")


def _dir_ref(spec: str, model_dir: Path, **extra) -> ModelRef:
    model_dir = model_dir.resolve()
    check_causal_lm_dir(model_dir, spec)
    return ModelRef(
        spec=spec,
        kind=extra.pop("kind", "dir"),
        location=str(model_dir),
        fingerprint=model_dir_fingerprint(model_dir),
        **extra,
    )


def resolve_model(spec: str, *, db_path: Path) -> ModelRef:
    """A directory wins over the other readings; then `run_id:step`; then a hub id."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return _dir_ref(spec, path)
    if path.exists():
        raise ModelError(
            f"--model {spec} is a file; expected a model directory, run_id:step or hub id"
        )
    match = _RUN_STEP.fullmatch(spec)
    if match:
        run_id, step = match["run_id"], int(match["step"])
        ckpt = _stored_checkpoint(db_path, run_id, step)
        if ckpt is None:
            raise ModelError(
                f"--model {spec}: no checkpoint of run {run_id!r} at step {step} in {db_path}; "
                "see `fipo-bench db info`"
            )
        ckpt_id, ckpt_path = ckpt
        if not Path(ckpt_path).is_dir():
            raise ModelError(f"--model {spec}: stored checkpoint path {ckpt_path} does not exist")
        return _dir_ref(spec, Path(ckpt_path), kind="checkpoint", run_id=run_id, ckpt_id=ckpt_id)
    # "org/name" is a hub id unless "org" is a local folder: then it is a missing directory.
    if _HUB_ID.fullmatch(spec) and not path.parent.is_dir():
        return ModelRef(spec=spec, kind="hub", location=spec, fingerprint="")
    raise ModelError(
        f"--model {spec} does not exist; expected a model directory, run_id:step of a stored run, "
        "or a hub id like Qwen/Qwen2.5-Math-7B"
    )


def _stored_checkpoint(db_path: Path, run_id: str, step: int) -> tuple[str, str] | None:
    """(ckpt_id, path) of a stored checkpoint, read-only: resolving never creates the file."""
    if not db_path.exists():
        return None
    from fipo_bench.store import Store

    rows = Store(db_path, read_only=True).checkpoints(run_id).to_pylist()
    for row in rows:
        if int(row["step"]) == step:
            return str(row["ckpt_id"]), str(row["path"])
    return None
