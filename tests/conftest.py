"""Shared fixtures. Real benchmark files live beside the project in ../shared (never committed)."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_BENCHMARKS = PROJECT_ROOT.parent / "shared" / "data" / "benchmarks"


@pytest.fixture(scope="session")
def shared_benchmarks() -> Path:
    """Folder with the real AIME/AMC/MATH-500/DAPO files; skips the test where it is absent."""
    if not SHARED_BENCHMARKS.is_dir():
        pytest.skip(f"real benchmark files not found at {SHARED_BENCHMARKS} (../shared is absent)")
    return SHARED_BENCHMARKS


# ------------------------------------------------------------------ the embedded tiny model

TINY_MODEL_CACHE = PROJECT_ROOT / ".fipo-cache"
# Everything that decides the built weights: a change in any of these files is a new cache key.
TINY_MODEL_SOURCES = (
    "fipo_bench/models/*.py",
    "fipo_bench/tasks/synthetic.py",
    "data/synthetic_levels.toml",
)


def _tiny_model_key(settings_dict: dict) -> str:
    import hashlib
    import json

    digest = hashlib.sha256(json.dumps(settings_dict, sort_keys=True).encode())
    for pattern in TINY_MODEL_SOURCES:
        for path in sorted(PROJECT_ROOT.glob(pattern)):
            digest.update(path.relative_to(PROJECT_ROOT).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """The warmed-up tiny model (default build settings), built once and cached across runs
    under .fipo-cache/tiny-model-<key>. Treat it as read-only: copy it before changing it."""
    import fcntl

    from fipo_bench.models.build import BuildSettings, build_tiny_model

    settings = BuildSettings()
    key = _tiny_model_key(settings.as_dict())
    target = TINY_MODEL_CACHE / f"tiny-model-{key}"
    TINY_MODEL_CACHE.mkdir(exist_ok=True)
    # Two test sessions on one machine wait for one build instead of running two.
    with open(TINY_MODEL_CACHE / f"tiny-model-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        build_tiny_model(target, settings)
    return target


@pytest.fixture(scope="session")
def tiny_model_quick(tmp_path_factory) -> Path:
    """An untrained model of the same shape and tokenizer (seconds to build; random outputs)."""
    from fipo_bench.models.build import BuildSettings, build_tiny_model

    settings = BuildSettings(eval_problems=0).with_steps(0)
    return build_tiny_model(tmp_path_factory.mktemp("tiny-quick") / "model", settings).path
