"""`fipo-bench dashboard` as a real server, and headless Chromium pages on it (Debian chromium
through playwright), for the browser tests and the dashboard benchmarks."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
# What a finished page run looks like: Streamlit marks its root element with the script state.
PAGE_DONE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
PAGE_EXCEPTION = '[data-testid="stException"]'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, server: subprocess.Popen, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"dashboard server exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url}/_stcore/health not ready after {timeout_s} s")


def start_dashboard(db: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """`fipo-bench dashboard --db DB --port P` on a free port; returns (process, base url)."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "fipo_bench", "dashboard", "--db", str(db), "--port", str(port),
         "--address", "127.0.0.1"],
        stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, server)
    except BaseException:
        stop(server)
        raise
    return server, url


def stop(server: subprocess.Popen) -> None:
    """Stop the server (the command became it with exec) and anything it started."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    server.wait(20)


@contextlib.contextmanager
def chromium():
    """A headless Chromium browser (playwright's sync API)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def load(page, url: str, timeout_ms: int = 120_000) -> None:
    """Open `url` and wait until the page's script run has finished and drawn its title."""
    page.goto(url)
    page.locator("h1").first.wait_for(timeout=timeout_ms)
    page.locator(PAGE_DONE).wait_for(timeout=timeout_ms)


def page_errors(page) -> list[str]:
    """Texts of the exception boxes Streamlit drew on the page (a crashed script run)."""
    return page.locator(PAGE_EXCEPTION).all_inner_texts()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), timeout=120_000)
    return path


# A drawn Vega-Lite chart: its axes (Vega draws axes and marks in one pass; a one-point line's
# mark has no size, so playwright would call it hidden).
VEGA_DRAWN = '[data-testid="stVegaLiteChart"] svg .role-axis'
