"""The wheel is the product: built from this tree and installed outside it, it reads its data
and serves the dashboard (no source checkout needed)."""

from __future__ import annotations

import ast
import os
import socket
import subprocess
import sys
import sysconfig
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_every_python_package_folder_is_listed_for_the_wheel():
    """pyproject lists packages explicitly (data/ and app/ are mapped into fipo_bench): a new
    package folder missing from the list would silently be left out of the wheel."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed, mapped = set(setuptools["packages"]), setuptools["package-dir"]
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in ROOT.glob("fipo_bench/**/*.py")}
    for name, folder in mapped.items():
        found |= {
            ".".join((name, *p.parent.relative_to(ROOT / folder).parts))
            for p in (ROOT / folder).glob("**/*.py")
        }
    assert found - listed == set()
    assert listed - found == set()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv outside the repo with the built wheel installed (its dependencies come from
    the test environment's site-packages through a .pth line, so nothing is downloaded)."""
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(work / "dist"), str(ROOT)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    (wheel,) = (work / "dist").glob("fipo_bench-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    # A plain path line: the test env's packages become importable, but its .pth files (the
    # editable install of this checkout) are not run, so fipo_bench comes from the wheel.
    (Path(site) / "test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "-q", str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return venv


def _run(venv: Path, code: str, cwd: Path) -> str:
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code],
        cwd=cwd, check=True, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": ""},
    )  # fmt: skip
    return out.stdout.strip()


@pytest.mark.slow  # builds a wheel and a venv, starts Streamlit
def test_installed_wheel_reads_its_data_and_serves_the_dashboard(installed, tmp_path):
    where = _run(installed, "import fipo_bench; print(fipo_bench.__file__)", tmp_path)
    assert str(ROOT) not in where and "site-packages" in where
    phrases = ast.literal_eval(
        _run(installed, "from fipo_bench.reflection import default_lexicon as d;"
                        " print(repr(d().phrases))", tmp_path)
    )  # fmt: skip
    assert "wait" in phrases
    db = tmp_path / "empty.duckdb"
    _run(installed, f"from fipo_bench.store import Store; Store({str(db)!r})", tmp_path)
    port = _free_port()
    server = subprocess.Popen(
        [str(installed / "bin" / "fipo-bench"), "dashboard", "--db", str(db), "--port", str(port)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": ""}, start_new_session=True,
    )  # fmt: skip
    try:
        deadline, status = time.monotonic() + 90, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://localhost:{port}/", timeout=5) as page:
                    status = page.status
                    break
            except OSError:
                time.sleep(0.5)
        assert status == 200, server.stdout.read().decode() if server.poll() is not None else ""
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
