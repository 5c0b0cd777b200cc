"""End to end in headless Chromium on the fixture database served by `fipo-bench dashboard`:
what a user sees on each page (the problem and gold answer, one coloured element per token,
pivots, legends that follow the value's meaning, one colour per run on every page, links that
stay in the tab, no "Page not found" popup, the Export download equal to the CLI's report)."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest
from dashboard_browser import (
    CHROMIUM,
    ROOT,
    VEGA_DRAWN,
    chromium,
    load,
    page_errors,
    screenshot,
    start_dashboard,
    stop,
)
from dashboard_fixture import DashboardDb, cached_dashboard_db

from fipo_bench.store import Store

sys.path.insert(0, str(ROOT / "app"))
from fipo_dash.heatmap import VALUE_COLUMNS

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def dashboard_db(request, tmp_path_factory) -> DashboardDb:
    return cached_dashboard_db(request, tmp_path_factory)


@pytest.fixture(scope="module")
def served(dashboard_db, tmp_path_factory):
    """(base url, browser): one server and one Chromium for the module's tests."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium package")
    pytest.importorskip("playwright.sync_api", reason="python playwright not installed")
    log = tmp_path_factory.mktemp("server") / "server.log"
    server, url = start_dashboard(dashboard_db.path, log)
    try:
        with chromium() as browser:
            yield url, browser
    finally:
        stop(server)


@pytest.fixture
def page(served):
    """A fresh browser context (nothing cached) and its page."""
    _, browser = served
    context = browser.new_context(viewport={"width": 1500, "height": 1000}, accept_downloads=True)
    try:
        yield context.new_page()
    finally:
        context.close()


def test_compare_click_opens_the_problem_with_every_eval_side_by_side(dashboard_db, served, page):
    url, _ = served
    store = Store(dashboard_db.path, read_only=True)
    load(page, f"{url}/compare?evals={','.join(dashboard_db.eval_ids)}&section=Per+problem")
    cell = page.locator(f'table.fipo-grid a.cell[href*="evals={dashboard_db.credited_eval}"]')
    cell.first.wait_for(timeout=60_000)
    n_problems = len(set(store.eval_samples(dashboard_db.credited_eval)["problem_id"]))
    assert page.locator("table.fipo-grid a.cell").count() == 2 * n_problems
    pages_before = len(page.context.pages)
    cell.first.click()

    page.wait_for_url("**/trajectory?**", timeout=60_000)
    assert len(page.context.pages) == pages_before  # the same tab, no new window
    left = page.locator(".fipo-traj#t0")
    left.locator(".tok").first.wait_for(timeout=60_000)
    problem = re.search(r"problem=([^&]+)", page.url).group(1)
    stored = next(p for p in store.problems("synthetic").to_pylist() if p["problem_id"] == problem)
    body = page.locator("body").inner_text()
    assert " ".join(stored["problem"].split())[:40] in " ".join(body.split())
    assert "Gold answer:" in body and stored["answer"] in body
    sample = store.eval_samples(dashboard_db.credited_eval, problem_id=problem).to_pylist()[0]

    # One coloured element per stored token.
    tokens = left.locator(".tok")
    assert tokens.count() == sample["n_tokens"]
    backgrounds = tokens.evaluate_all("els => els.map(e => getComputedStyle(e).backgroundColor)")
    assert all(b not in ("", "transparent", "rgba(0, 0, 0, 0)") for b in backgrounds)
    assert len(set(backgrounds)) > 1  # the scale actually varies

    # Keyword and credit pivots are underlined in their kind's colour; the token keeps its own
    # background (the mark does not cover it); jump links land on the token.
    pivots = [p for p in store.pivots(sample["sample_id"]).to_pylist() if p["kind"] != "entropy"]
    marked = left.locator(".tok.pv")
    assert marked.count() == len({p["pos"] for p in pivots})
    if pivots:
        first = pivots[0]["pos"]
        style = left.locator(f"#t0-p{first}").evaluate(
            "e => [getComputedStyle(e).textDecorationLine, getComputedStyle(e).backgroundColor]"
        )
        assert style[0] == "underline" and style[1] == backgrounds[first]
        left.locator(f'a[href="#t0-p{first}"]').click()
        assert page.evaluate("location.hash") == f"#t0-p{first}"

    # Hover shows the token's position, text and every stored value.
    stored_tokens = store.trajectory(sample["sample_id"]).to_pylist()
    tip = left.locator(".tip")
    pos = len(stored_tokens) - 1
    left.locator(".tok").nth(pos).hover()
    tip.wait_for(state="visible", timeout=10_000)
    head, *lines = tip.inner_text().splitlines()
    assert head.startswith(f"#{pos} ")
    shown = dict(line.split(" ", 1) for line in lines if not line.startswith("pivot:"))
    for name in VALUE_COLUMNS:
        value = stored_tokens[pos][name]
        if value is None:
            assert shown[name] == "-"
        else:
            assert float(shown[name]) == pytest.approx(value, rel=5e-3, abs=1e-12)

    # The other compared eval sits beside it on the same problem.
    assert page.locator(".fipo-traj#t1 .tok").count() > 0
    page.evaluate("window.scrollTo(0, 0)")
    shot = screenshot(page, "dashboard.png")
    if os.environ.get("FIPO_BENCH_UPDATE_SCREENSHOT") == "1":  # the README's screenshot
        shutil.copyfile(shot, ROOT / "docs" / "dashboard.png")


def test_legends_follow_what_each_value_means(dashboard_db, served, page):
    url, _ = served
    store = Store(dashboard_db.path, read_only=True)
    sample = store.eval_samples(dashboard_db.credited_eval).to_pylist()[0]
    base = f"{url}/trajectory?evals={dashboard_db.credited_eval}&problem={sample['problem_id']}"

    def legend(scalar: str) -> tuple[str, str]:
        load(page, f"{base}&scalar={scalar}")
        bar = page.locator(".fipo-legend").first
        bar.wait_for(timeout=60_000)
        ends = bar.locator("span").all_inner_texts()
        return ends[0], bar.inner_text()

    low, _ = legend("entropy")
    assert float(low) == 0.0  # entropy starts at 0, never below
    _, text = legend("logp")
    assert re.search(r"\b0\s*\(ticks", text)  # log-probs end at 0
    settings = store.get_analysis(dashboard_db.credited_eval, "credit")["settings"]
    low, text = legend("influence_weight")
    band = f"clip band [{settings['influence_low']:g}, {settings['influence_high']:g}]"
    assert band in text and float(low) == pytest.approx(settings["influence_low"])
    low, text = legend("future_kl")
    high = float(re.search(r"\s(-?[\d.e+-]+)\s*\(ticks", text).group(1))
    assert float(low) == pytest.approx(-high)  # signed: symmetric around 0
    screenshot(page, "legend-future_kl.png")


def series_colours(page) -> dict[str, str]:
    """Series name -> the colour its key shows, from every legend on the page (the Vega-Lite
    charts' SVG legends and the Training panels' shared HTML legend), after checking that
    each chart's lines are drawn in its legend's colours."""
    return page.evaluate(
        """() => {
          const out = {};
          for (const svg of document.querySelectorAll('[data-testid="stVegaLiteChart"] svg')) {
            const labels = [...svg.querySelectorAll('.role-legend-label text')];
            const symbols = [...svg.querySelectorAll('.role-legend-symbol path')];
            labels.forEach((t, i) => { out[t.textContent] = symbols[i].getAttribute('fill'); });
          }
          const rgb = c => '#' + c.match(/\\d+/g).slice(0, 3)
            .map(v => Number(v).toString(16).padStart(2, '0')).join('');
          for (const item of document.querySelectorAll('.fipo-series')) {
            const name = item.textContent.trim().split(' ').slice(1).join(' ');
            out[name] = rgb(getComputedStyle(item.firstElementChild).color);
          }
          return out;
        }"""
    )


def line_colours(page) -> set[str]:
    """The stroke colour of every line drawn in the page's Vega-Lite charts."""
    return set(
        page.evaluate(
            """() => [...document.querySelectorAll(
                '[data-testid="stVegaLiteChart"] svg .mark-line path')]
              .map(p => p.getAttribute('stroke'))"""
        )
    )


def test_one_colour_per_run_on_every_page(dashboard_db, served, page):
    url, _ = served
    load(page, f"{url}/training")
    page.locator(VEGA_DRAWN).first.wait_for(timeout=60_000)
    training = series_colours(page)
    assert set(dashboard_db.run_ids) <= set(training)  # fixture runs are named by their ids
    # Every line on the Training page is one of the runs' legend colours, and each run's is.
    assert line_colours(page) == {training[r] for r in dashboard_db.run_ids}
    load(page, f"{url}/compare?evals={','.join(dashboard_db.eval_ids)}")
    page.locator(VEGA_DRAWN).first.wait_for(timeout=60_000)
    compare = series_colours(page)
    assert line_colours(page) == set(compare.values())
    fipo = training["fixture-fipo"]
    # fixture-fipo@4 is the run's last evaluated checkpoint: the run's own colour.
    assert any(name.startswith("fixture-fipo@4") and c == fipo for name, c in compare.items())
    assert training["fixture-dapo"] != fipo
    screenshot(page, "compare-pass-at-k.png")


def test_training_hover_names_the_metric_and_every_runs_value_at_the_step(
    dashboard_db, served, page
):
    url, _ = served
    load(page, f"{url}/training")
    page.locator(VEGA_DRAWN).first.wait_for(timeout=60_000)
    box = page.locator('[data-testid="stVegaLiteChart"]').first.bounding_box()
    tooltip = page.locator("#vg-tooltip-element")
    for share in (0.5, 0.55):  # a move onto the plot, then along it: the nearest step follows
        page.mouse.move(box["x"] + box["width"] * share, box["y"] + box["height"] * 0.5)
    tooltip.wait_for(state="visible", timeout=30_000)
    lines = [line.strip() for line in tooltip.inner_text().splitlines() if line.strip()]
    title = page.locator('[data-testid="stVegaLiteChart"] svg .role-title-text').first
    assert lines[:2] == ["metric", title.text_content().split(" (")[0]]  # the panel's metric
    assert lines[2] == "step" and lines[3].isdigit()
    for run_id in dashboard_db.run_ids:  # every run's value at that step, by its full name
        assert run_id in lines
    screenshot(page, "training-hover.png")


def test_runs_page_at_its_own_url_has_no_error_popup_and_links_stay_in_the_tab(
    dashboard_db, served, page
):
    url, _ = served
    for path in ("/", "/runs"):
        load(page, url + path)
        assert page.locator("h1").first.inner_text() == "Runs"
        assert "Page not found" not in page.locator("body").inner_text()
        assert not page_errors(page)
    pages_before = len(page.context.pages)
    page.get_by_text("Compare all 2 finished evals").click()
    page.wait_for_url("**/compare?**", timeout=60_000)
    page.locator("h1", has_text="Compare").wait_for(timeout=60_000)
    assert len(page.context.pages) == pages_before  # the same tab, no new window
    from urllib.parse import parse_qs, urlparse

    shown = parse_qs(urlparse(page.url).query)["evals"][0].split(",")
    assert set(shown) == set(dashboard_db.eval_ids)


def test_export_download_is_the_file_the_report_command_writes(dashboard_db, served, page):
    from fipo_bench.cli import main

    url, _ = served
    evals, runs = ",".join(dashboard_db.eval_ids), ",".join(dashboard_db.run_ids)
    load(page, f"{url}/export?evals={evals}&runs={runs}")
    button = page.get_by_role("button", name="Download report.md")
    button.wait_for(timeout=60_000)
    with page.expect_download(timeout=60_000) as download:
        button.click()
    served_bytes = Path(download.value.path()).read_bytes()
    out = Path(download.value.path()).with_name("cli-report.md")
    args = ["report", "--db", str(dashboard_db.path), "--format", "md", "--out", str(out)]
    args += [f"--eval={e}" for e in dashboard_db.eval_ids]
    args += [f"--run={r}" for r in dashboard_db.run_ids]
    assert main(args) in (0, None)
    assert served_bytes == out.read_bytes()
