"""End to end in headless Chromium: `fipo-bench dashboard` serves the fixture database, Compare
opens with two evals, a click on the correctness grid opens that problem's trajectories, and the
heatmap shows one coloured element per stored token with the stored pivots marked."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from dashboard_fixture import DashboardDb, cached_dashboard_db

from fipo_bench.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))
from fipo_dash.heatmap import VALUE_COLUMNS

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="session")
def dashboard_db(request, tmp_path_factory) -> DashboardDb:
    return cached_dashboard_db(request, tmp_path_factory)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, server: subprocess.Popen, timeout_s: float = 90.0) -> None:
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
    """Terminate the command and its `streamlit run` child: the command waits on the child
    without forwarding SIGTERM, so terminating only the command leaves the server running."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    server.wait(20)


@pytest.fixture
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium package")
    sync_api = pytest.importorskip("playwright.sync_api", reason="python playwright not installed")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def test_compare_click_opens_a_token_heatmap_with_pivots(dashboard_db, browser, tmp_path):
    store = Store(dashboard_db.path, read_only=True)
    server, url = start_dashboard(dashboard_db.path, tmp_path / "server.log")
    try:
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.goto(f"{url}/compare?evals={','.join(dashboard_db.eval_ids)}")
        cell = page.locator(f'table.fipo-grid a.cell[href*="a={dashboard_db.credited_eval}"]')
        cell.first.wait_for(timeout=60_000)
        n_cells = page.locator("table.fipo-grid a.cell").count()
        n_problems = len(set(store.eval_samples(dashboard_db.credited_eval)["problem_id"]))
        assert n_cells == 2 * n_problems
        cell.first.click()

        page.wait_for_url("**/trajectory?**", timeout=60_000)
        left = page.locator(".fipo-traj#a")
        left.locator(".tok").first.wait_for(timeout=60_000)
        params = dict(p.split("=", 1) for p in page.url.split("?", 1)[1].split("&"))
        assert params["a"] == dashboard_db.credited_eval
        sample = store.eval_samples(params["a"], problem_id=params["problem"]).to_pylist()[0]

        # One coloured element per stored token.
        tokens = left.locator(".tok")
        assert tokens.count() == sample["n_tokens"]
        backgrounds = tokens.evaluate_all(
            "els => els.map(e => getComputedStyle(e).backgroundColor)"
        )
        assert all(b not in ("", "transparent", "rgba(0, 0, 0, 0)") for b in backgrounds)
        assert len(set(backgrounds)) > 1  # the scale actually varies

        # Stored pivots are marked, by kind, and their jump links land on the token.
        pivots = store.pivots(sample["sample_id"]).to_pylist()
        marked = left.locator(".tok.pv")
        assert marked.count() == len({p["pos"] for p in pivots})
        kinds = set(" ".join(marked.evaluate_all("els => els.map(e => e.dataset.pivot)")).split())
        assert kinds == {p["kind"] for p in pivots}
        first = pivots[0]["pos"]
        left.locator(f'a[href="#a-p{first}"]').click()
        assert page.evaluate("location.hash") == f"#a-p{first}"

        # Hover shows the token's position, text, every stored value and its pivot marks.
        stored = store.trajectory(sample["sample_id"]).to_pylist()
        tip = left.locator(".tip")
        for pos in (first, len(stored) - 1):
            left.locator(".tok").nth(pos).hover()
            tip.wait_for(state="visible", timeout=10_000)
            head, *lines = tip.inner_text().splitlines()
            assert head.startswith(f"#{pos} ")
            shown = dict(line.split(" ", 1) for line in lines if not line.startswith("pivot:"))
            for name in VALUE_COLUMNS:
                value = stored[pos][name]
                if value is None:
                    assert shown[name] == "-"
                else:
                    assert float(shown[name]) == pytest.approx(value, rel=5e-3, abs=1e-12)
            marked_here = [p["kind"] for p in pivots if p["pos"] == pos]
            assert any(line.startswith("pivot: ") for line in lines) == bool(marked_here)

        # The right panel shows the same problem from the other checkpoint.
        right = page.locator(".fipo-traj#b")
        assert right.locator(".tok").count() > 0

        page.evaluate("window.scrollTo(0, 0)")
        page.locator(".fipo-legend").first.scroll_into_view_if_needed()
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "dashboard.png"
        page.screenshot(path=str(shot))
        if os.environ.get("FIPO_BENCH_UPDATE_SCREENSHOT") == "1":  # the README's screenshot
            shutil.copyfile(shot, ROOT / "docs" / "dashboard.png")
    finally:
        stop(server)
