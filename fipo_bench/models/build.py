"""Build the embedded tiny model: tokenizer + Qwen2 shape + warm-up + sampled-accuracy check.

The output is a plain Hugging Face checkpoint (config.json, model.safetensors, tokenizer.json,
tokenizer_config.json, generation_config.json) plus fipo_build.json, the record of how it was
built and the SHA-256 of every file. It is written into a temporary sibling directory
(`.NAME.tmp-PID-*`) and renamed into place at the end. A later call reuses a build only when its
settings match and every file still has its recorded checksum; a damaged build is rebuilt, and
staging directories of killed builds are removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from fipo_bench.errors import ConfigError, ModelError
from fipo_bench.models.config import TinyModelConfig
from fipo_bench.models.warmup import WarmupConfig

BUILD_INFO_FILE = "fipo_build.json"
BUILD_KIND = "fipo-bench-tiny-model"
BUILD_FORMAT = 2  # bump when the meaning of the saved settings changes
# Files every build holds besides fipo_build.json (a build also saves a chat template).
CHECKPOINT_FILES = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
)

# (stage, done, total, loss): stage is "warmup" (done = steps) or "eval".
ProgressFn = Callable[[str, int, int, float | None], None]


@dataclass(frozen=True)
class BuildSettings:
    seed: int = 0
    model: TinyModelConfig = field(default_factory=TinyModelConfig)
    warmup: WarmupConfig = field(default_factory=WarmupConfig)
    eval_problems: int = 200  # synthetic test problems sampled once each; 0 skips the check
    # One intra-op thread: the weights then do not depend on the machine's core count, and on a
    # shared CPU two threads measured 8x slower per step than one (they spin waiting for each
    # other); with the CPU to itself two threads are at most ~2x faster on matrices this small.
    threads: int = 1

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ConfigError(f"tiny model seed={self.seed} is invalid; allowed: >= 0")
        if self.threads < 1:
            raise ConfigError(f"tiny model threads={self.threads} is invalid; allowed: >= 1")
        if self.eval_problems < 0:
            raise ConfigError(
                f"tiny model eval_problems={self.eval_problems} is invalid; allowed: >= 0"
            )

    def with_steps(self, steps: int) -> BuildSettings:
        return replace(self, warmup=replace(self.warmup, steps=steps))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready settings; equal dicts mean the same build."""
        settings = asdict(self)
        settings["warmup"]["levels"] = list(self.warmup.levels)
        return {"format": BUILD_FORMAT, **settings}


@dataclass(frozen=True)
class BuildResult:
    path: Path
    info: dict[str, Any]  # the content of fipo_build.json
    reused: bool  # True when an existing build with the same settings was kept
    repaired: str | None = None  # what was wrong with the damaged build this one replaced


def read_build_info(directory: str | Path) -> dict[str, Any] | None:
    """fipo_build.json of a complete tiny-model build, or None for anything else."""
    path = Path(directory) / BUILD_INFO_FILE
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and info.get("kind") == BUILD_KIND else None


def file_digests(directory: Path) -> dict[str, str]:
    """SHA-256 of every file of a build directory except the build record itself."""
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.iterdir())
        if path.is_file() and path.name != BUILD_INFO_FILE
    }


def build_damage(directory: str | Path, info: dict[str, Any]) -> str | None:
    """What is wrong with a recorded build's files (missing, changed), or None when intact."""
    directory = Path(directory)
    recorded = info.get("files")
    if not isinstance(recorded, dict) or not set(CHECKPOINT_FILES) <= set(recorded):
        return f"{BUILD_INFO_FILE} records no checksums of {', '.join(CHECKPOINT_FILES)}"
    for name, digest in sorted(recorded.items()):
        path = directory / name
        if not path.is_file():
            return f"{name} is missing"
        if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            return f"{name} differs from the file the build wrote (truncated or changed)"
    return None


def _existing_build(out_dir: Path, settings: BuildSettings) -> dict[str, Any] | None:
    """The matching build in out_dir (its files unchecked), None when out_dir is absent or
    empty, else ModelError."""
    if not out_dir.exists():
        return None
    if not out_dir.is_dir():
        raise ModelError(f"--out {out_dir} is a file; allowed: a new or empty directory")
    if not any(out_dir.iterdir()):
        return None
    info = read_build_info(out_dir)
    if info is None:
        raise ModelError(
            f"--out {out_dir} is not empty and holds no tiny-model build; allowed: a new or "
            "empty directory, or an earlier build-tiny output"
        )
    if info.get("settings") != settings.as_dict():
        old = info.get("settings", {})
        raise ModelError(
            f"--out {out_dir} holds a tiny-model build with other settings (seed="
            f"{old.get('seed')}, steps={old.get('warmup', {}).get('steps')}); allowed: the "
            "same settings, or a new or empty directory"
        )
    return info


def build_tiny_model(
    out_dir: str | Path,
    settings: BuildSettings | None = None,
    *,
    on_progress: ProgressFn | None = None,
) -> BuildResult:
    """Build (or reuse) the tiny model in out_dir; see the module docstring for the layout."""
    settings = settings or BuildSettings()
    out_dir = Path(out_dir)
    existing = _existing_build(out_dir, settings)
    damage = None if existing is None else build_damage(out_dir, existing)
    if existing is not None and damage is None:
        return BuildResult(out_dir, existing, reused=True)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(out_dir)
    staging = _sibling(out_dir, "tmp")
    staging.mkdir()
    try:
        info = _build_into(staging, settings, on_progress)
        (staging / BUILD_INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
        if damage is not None:
            _replace(out_dir, staging)
            return BuildResult(out_dir, info, reused=False, repaired=damage)
        return _publish(staging, out_dir, settings, info)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _sibling(out_dir: Path, kind: str) -> Path:
    """A hidden working directory beside out_dir, named for this process."""
    return out_dir.parent / f".{out_dir.name}.{kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_staging(out_dir: Path) -> list[Path]:
    """Remove the working directories that killed builds of out_dir left behind (their process
    is gone); a build still running keeps its own. Returns what was removed."""
    removed = []
    for path in out_dir.parent.glob(f".{out_dir.name}.*-*-*"):
        kind, _, rest = path.name.removeprefix(f".{out_dir.name}.").partition("-")
        pid_text = rest.partition("-")[0]
        if kind in ("tmp", "old") and pid_text.isdigit() and not _process_alive(int(pid_text)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _replace(out_dir: Path, staging: Path) -> None:
    """Swap a damaged build for the fresh one by two renames. A kill between them leaves no
    build and two stale siblings, which the next call removes before it builds again."""
    old = _sibling(out_dir, "old")
    out_dir.rename(old)
    staging.rename(out_dir)
    shutil.rmtree(old, ignore_errors=True)


def _build_into(
    directory: Path, settings: BuildSettings, on_progress: ProgressFn | None
) -> dict[str, Any]:
    import torch
    from transformers import GenerationConfig, Qwen2ForCausalLM

    from fipo_bench.models.evaluate import sampled_accuracy
    from fipo_bench.models.tokenizer import build_char_tokenizer, save_char_tokenizer
    from fipo_bench.models.warmup import warmup
    from fipo_bench.tasks import synthetic

    started_wall, started_cpu = time.perf_counter(), time.process_time()
    saved_rng, saved_threads = torch.random.get_rng_state(), torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    try:
        torch.manual_seed(settings.seed)  # fixes the initial weights
        model = Qwen2ForCausalLM(settings.model.to_qwen2_config())
        tokenizer = build_char_tokenizer()
        steps = settings.warmup.steps
        losses = warmup(
            model,
            tokenizer,
            settings.warmup,
            seed=settings.seed,
            on_step=(lambda step, loss: on_progress("warmup", step + 1, steps, loss))
            if on_progress
            else None,
        )
        model.generation_config = GenerationConfig(
            eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
        )
        model.save_pretrained(directory, safe_serialization=True)
        save_char_tokenizer(directory)

        accuracy = None
        if settings.eval_problems:
            if on_progress:
                on_progress("eval", 0, settings.eval_problems, None)
            problems = synthetic.load_problems(
                "test", n=settings.eval_problems, seed=settings.seed, levels=settings.warmup.levels
            )
            accuracy = sampled_accuracy(model, tokenizer, problems, seed=settings.seed)
            if on_progress:
                on_progress("eval", settings.eval_problems, settings.eval_problems, None)
    finally:
        torch.random.set_rng_state(saved_rng)
        torch.set_num_threads(saved_threads)

    return {
        "kind": BUILD_KIND,
        "settings": settings.as_dict(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "final_loss": sum(losses[-20:]) / len(losses[-20:]) if losses else None,
        # Sampled once per problem at temperature 1.0 on the synthetic test split.
        "test_accuracy": accuracy,
        "eval_problems": settings.eval_problems,
        "files": file_digests(directory),
        "build_seconds": round(time.perf_counter() - started_wall, 2),
        # CPU seconds tell the cost apart from waiting on a shared machine.
        "build_cpu_seconds": round(time.process_time() - started_cpu, 2),
    }


def _publish(
    staging: Path, out_dir: Path, settings: BuildSettings, info: dict[str, Any]
) -> BuildResult:
    """Rename the staging directory (fipo_build.json written last) into place."""
    if out_dir.is_dir() and not any(out_dir.iterdir()):
        out_dir.rmdir()
    try:
        staging.rename(out_dir)
    except OSError:
        # Another process published first (e.g. two test sessions): keep theirs if it matches.
        existing = _existing_build(out_dir, settings)
        if existing is None:
            raise
        return BuildResult(out_dir, existing, reused=True)
    return BuildResult(out_dir, info, reused=False)
