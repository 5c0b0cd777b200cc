"""Every page against a database that real `fipo-bench eval` and `fipo-bench train` processes
are writing to, and after they are killed with SIGKILL: no page may crash, and an eval that is
running, was killed or failed shows as such with its progress so far (AppTest and Chromium).

The database is a copy of the dashboard fixture's; dashboard_live.start_live adds an eval
killed before its first unit (0 samples, status left `running`), one interrupted with SIGINT
(`failed`, 0 samples), and keeps an eval and a training run writing.
"""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import pytest
from dashboard_browser import (
    CHROMIUM,
    chromium,
    load,
    page_errors,
    screenshot,
    start_dashboard,
    stop,
)
from dashboard_fixture import cached_dashboard_db
from dashboard_live import RUNNING_N, TEST_PROBLEMS, LiveEvals, eval_row, read, start_live
from dashboard_pages import run_page

from fipo_bench.store import dashboard_queries as dq
from fipo_dash.status import eval_progress, json_field

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(request, tmp_path_factory) -> LiveEvals:
    fixture = cached_dashboard_db(request, tmp_path_factory)
    work = tmp_path_factory.mktemp("live")
    db = work / "live.duckdb"
    shutil.copyfile(fixture.path, db)
    writers = start_live(db, fixture.base_dir, work)
    yield writers
    writers.stop()


def page_urls(live: LiveEvals) -> dict[str, dict[str, str]]:
    """Each page with the query string that puts the live and dead evals and runs on it."""
    evals = read(live.db, dq.eval_overview).to_pylist()
    every = ",".join(r["eval_id"] for r in evals)
    running = eval_row(live.db, live.running_seed)
    killed = eval_row(live.db, live.killed_seed)
    problem = read(live.db, lambda s: dq.eval_outcomes(s, [running["eval_id"]]))["problem_id"][0]
    runs = ",".join(read(live.db, lambda s: s.list_runs(kind="train"))["run_id"].to_pylist())
    return {
        "views/runs.py": {},
        "views/compare.py": {"evals": every},
        "views/samples.py": {"evals": every},
        "views/trajectory.py": {"evals": f"{running['eval_id']},{killed['eval_id']}",
                                "problem": problem.as_py()},
        "views/training.py": {"runs": runs},
        "views/export.py": {"evals": every, "runs": runs},
    }  # fmt: skip


def apptest_page(db: Path, page: str, query: dict[str, str], monkeypatch):
    return run_page(page, db, monkeypatch, check=False, **query)


def assert_pages_load(live: LiveEvals, monkeypatch) -> None:
    for page, query in page_urls(live).items():
        at = apptest_page(live.db, page, query, monkeypatch)
        assert not at.exception, (page, [e.value for e in at.exception])
        assert not at.error, (page, [e.value for e in at.error])


def writer_recorded(row: dict) -> bool:
    """Whether the evaluator stored its process (host, pid) with the eval."""
    return isinstance(json_field(row["config"]).get("writer"), dict)


def status_cells(at) -> dict[str, str]:
    """eval_id -> what the Runs page says of its state: the status and samples cells, and
    the note under the table for an unfinished eval."""
    table = at.dataframe[1].value
    notes = [c.value for c in at.caption]
    out = {}
    for row in table.to_dict("records"):
        note = next((n for n in notes if n.startswith(row["eval"] + ": ")), "")
        out[row["eval_id"]] = f"{row['status']} | {row['samples']} | {note}"
    return out


def test_pages_load_while_an_eval_and_a_training_run_write(live, monkeypatch):
    assert live.running.alive() and live.train.alive(), "the writers must still be writing"
    assert_pages_load(live, monkeypatch)
    assert live.running.alive() and live.train.alive(), "pages loaded after a writer stopped"


def test_runs_page_shows_running_killed_and_failed_evals_with_progress(live, monkeypatch):
    at = apptest_page(live.db, "views/runs.py", {}, monkeypatch)
    cells = status_cells(at)
    running = eval_row(live.db, live.running_seed)
    # With the writer's pid on record the page knows whether it still runs; without, it
    # cannot tell a live eval from a killed one (both stay `running` in the store).
    live_prefix = "running |" if writer_recorded(running) else "running or interrupted |"
    assert cells[running["eval_id"]].startswith(live_prefix), cells[running["eval_id"]]
    assert f" of {TEST_PROBLEMS * RUNNING_N:,} samples" in cells[running["eval_id"]]
    failed = eval_row(live.db, live.failed_seed)
    assert failed["status"] == "failed" and failed["n_samples"] == 0
    assert cells[failed["eval_id"]].startswith("failed | 0 of 400 samples (0%) |")
    assert "failed at 0 of 400 samples" in cells[failed["eval_id"]]
    killed = eval_row(live.db, live.killed_seed)
    assert killed["status"] == "running" and killed["n_samples"] == 0  # SIGKILL: no last word
    expected = "interrupted |" if writer_recorded(killed) else "running or interrupted | 0 of"
    assert cells[killed["eval_id"]].startswith(expected), cells[killed["eval_id"]]
    assert "rerun" in cells[failed["eval_id"]]


def test_a_panel_without_credit_names_the_command_that_fills_it(live, monkeypatch):
    urls = page_urls(live)
    running = eval_row(live.db, live.running_seed)
    at = apptest_page(live.db, "views/trajectory.py", urls["views/trajectory.py"], monkeypatch)
    warnings = [w.value for w in at.warning]
    command = (
        f"No credit computed for this eval: run `fipo-bench credit --eval {running['eval_id']}"
    )
    (note,) = [w for w in warnings if command in w]
    # A run's checkpoint (the fixture stores the base as step 0 of its runs) is credited
    # against the model the run started from, with that run's loss settings; any other
    # model's reference is the user's to name.
    run_id = running["model_run_id"]
    if run_id:
        (run,) = [
            r for r in read(live.db, lambda s: s.list_runs()).to_pylist() if r["run_id"] == run_id
        ]
        assert f"--ref {run['model_path']} --run {run_id} --db {live.db}`" in note
    else:
        assert f"--ref REFERENCE_MODEL --db {live.db}`" in note


def test_compare_and_export_leave_out_evals_without_samples_and_say_so(live, monkeypatch):
    urls = page_urls(live)
    killed = eval_row(live.db, live.killed_seed)
    for page in ("views/compare.py", "views/samples.py", "views/export.py"):
        at = apptest_page(live.db, page, urls[page], monkeypatch)
        warnings = " ".join(w.value for w in at.warning)
        assert "has no stored samples yet" in warnings and "left out" in warnings, page
        assert not at.exception
    assert eval_progress(killed).stored == 0


@pytest.mark.browser
def test_browser_pages_have_no_exception_while_writers_run(live, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium package")
    pytest.importorskip("playwright.sync_api", reason="python playwright not installed")
    assert live.running.alive() and live.train.alive()
    browse_every_page(live, tmp_path, "live")


def test_pages_load_after_each_writer_is_killed(live, monkeypatch):
    live.running.signal(signal.SIGKILL)
    assert_pages_load(live, monkeypatch)
    live.train.signal(signal.SIGKILL)
    assert_pages_load(live, monkeypatch)
    at = apptest_page(live.db, "views/runs.py", {}, monkeypatch)
    running = eval_row(live.db, live.running_seed)
    assert running["n_samples"] > 0
    cell = status_cells(at)[running["eval_id"]]
    assert f"{running['n_samples']:,} of " in cell
    assert cell.startswith("interrupted |" if writer_recorded(running) else "running or"), cell


@pytest.mark.browser
def test_browser_pages_have_no_exception_after_the_writers_were_killed(live, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium package")
    pytest.importorskip("playwright.sync_api", reason="python playwright not installed")
    live.stop()
    browse_every_page(live, tmp_path, "killed")


def browse_every_page(live: LiveEvals, tmp_path: Path, tag: str) -> None:
    """Each page in a fresh browser context: drawn to the end, no exception box; the Runs
    page lists every eval's status."""
    from urllib.parse import urlencode

    server, url = start_dashboard(live.db, tmp_path / "server.log")
    try:
        with chromium() as browser:
            for page_path, query in page_urls(live).items():
                name = Path(page_path).stem
                context = browser.new_context(viewport={"width": 1500, "height": 1000})
                page = context.new_page()
                load(page, f"{url}/{name}?{urlencode(query)}")
                shot = screenshot(page, f"live-{tag}-{name}.png")
                assert not page_errors(page), (name, page_errors(page), shot)
                if name == "runs":
                    body = page.locator("body").inner_text()
                    assert "Page not found" not in body
                context.close()
    finally:
        stop(server)
