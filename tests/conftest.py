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
