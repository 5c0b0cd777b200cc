"""Checkpoints: HF weights + tokenizer + everything needed to continue bit-for-bit.

Layout: RUN_DIR/checkpoints/step-000003/ holds `save_pretrained` output (loads with
`AutoModelForCausalLM` / vLLM unchanged), the tokenizer, and `trainer_state.pt` (optimiser,
scheduler, RNG and data-order state). A checkpoint is written into a temporary sibling folder and
renamed into place, so a folder named step-NNNNNN is always complete: Ctrl-C or kill at any moment
leaves the previous checkpoint usable.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fipo_bench.errors import ModelError

STATE_FILE = "trainer_state.pt"
INFO_FILE = "fipo_bench_checkpoint.json"
_STEP_DIR = re.compile(r"^step-(\d{6,})$")
_TMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class CheckpointRef:
    step: int  # training steps completed when it was written
    path: Path


def checkpoints_root(run_dir: Path) -> Path:
    return run_dir / "checkpoints"


def checkpoint_path(run_dir: Path, step: int) -> Path:
    return checkpoints_root(run_dir) / f"step-{step:06d}"


def list_checkpoints(run_dir: Path) -> list[CheckpointRef]:
    """Complete checkpoints, oldest first (temporary folders of an interrupted save are ignored)."""
    root = checkpoints_root(run_dir)
    if not root.is_dir():
        return []
    refs = []
    for child in root.iterdir():
        match = _STEP_DIR.match(child.name)
        if match and child.is_dir() and (child / STATE_FILE).is_file():
            refs.append(CheckpointRef(step=int(match.group(1)), path=child))
    return sorted(refs, key=lambda ref: ref.step)


def latest_checkpoint(run_dir: Path) -> CheckpointRef | None:
    refs = list_checkpoints(run_dir)
    return refs[-1] if refs else None


def remove_partial_saves(run_dir: Path) -> None:
    """Delete temporary folders left by a save that was killed half-way."""
    root = checkpoints_root(run_dir)
    if root.is_dir():
        for child in root.iterdir():
            if child.name.startswith(_TMP_PREFIX):
                shutil.rmtree(child, ignore_errors=True)


def rng_state() -> dict[str, Any]:
    """Every RNG the trainer touches (generation is seeded per step, but sampling fallbacks and
    dropout-bearing models draw from these)."""
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    run_dir: Path, step: int, model: Any, tokenizer: Any, trainer_state: dict[str, Any]
) -> Path:
    """Write checkpoint `step` atomically and return its final path."""
    final = checkpoint_path(run_dir, step)
    tmp = final.with_name(f"{_TMP_PREFIX}{final.name}-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    torch.save(trainer_state, tmp / STATE_FILE)
    (tmp / INFO_FILE).write_text(json.dumps({"step": step}, indent=2) + "\n")
    _fsync_tree(tmp)
    if final.exists():
        # Rewriting a step (a run resumed from an earlier checkpoint): swap, then delete the old.
        old = final.with_name(f"{_TMP_PREFIX}old-{final.name}-{os.getpid()}")
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
    _fsync_dir(final.parent)
    return final


def load_trainer_state(ref: CheckpointRef) -> dict[str, Any]:
    """The optimiser/scheduler/RNG/data-order state saved with a checkpoint; ModelError (one
    line) when the file is truncated or corrupt."""
    path = ref.path / STATE_FILE
    try:
        # weights_only=False: the state holds Python's RNG tuple and plain dicts we wrote.
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise ModelError(
            f"--resume: {path} is truncated or corrupt ({type(err).__name__}); delete the folder"
            f" {ref.path.name} to resume from the checkpoint before it"
        ) from None
    if not isinstance(state, dict) or not set(state) >= _STATE_KEYS:
        raise ModelError(f"--resume: {path} is not a fipo-bench trainer state; delete {ref.path}")
    return state


_STATE_KEYS = {"step", "optimizer", "scheduler", "rng", "data_order"}


def _fsync_tree(folder: Path) -> None:
    for child in folder.iterdir():
        if child.is_file():
            with open(child, "rb") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
