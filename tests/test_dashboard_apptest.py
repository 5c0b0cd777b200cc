"""The dashboard's pages under Streamlit's AppTest (through Home.py's navigation), on a database
built by the real pipeline; empty, missing, non-DuckDB and locked databases."""

from __future__ import annotations

import re
import subprocess
import sys

import pandas as pd
import pytest
from dashboard_fixture import DashboardDb, cached_dashboard_db
from dashboard_pages import TOKEN_SPAN, page_html, run_page, token_markup, widget

from fipo_bench.store import Store
from fipo_bench.store import dashboard_queries as dq
from fipo_bench.store.analysis_queries import token_columns
from fipo_dash.charts import DEFAULT_TRAINING_METRICS
from fipo_dash.compare_data import problem_points
from fipo_dash.grid import grid_html
from fipo_dash.heatmap import PIVOT_KINDS
from fipo_dash.naming import colours, eval_labels

# ---- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def dashboard_db(request, tmp_path_factory) -> DashboardDb:
    return cached_dashboard_db(request, tmp_path_factory)


@pytest.mark.slow
def test_grid_links_every_cell_to_its_problem_with_every_compared_eval(dashboard_db):
    from fipo_bench.store.dashboard_queries import eval_outcomes
    from fipo_dash.compare_data import grid_frame

    store = Store(dashboard_db.path, read_only=True)
    ids = list(dashboard_db.eval_ids)
    points = problem_points(eval_outcomes(store, ids).to_pandas())
    html = grid_html(grid_frame(points, ids), ids, {})
    problems = sorted(set(points["problem_id"]))
    links = re.findall(r'href="trajectory\?evals=([^&]+)&amp;problem=([^"&]+)"', html)
    assert len(links) == len(problems) * len(ids)
    # the clicked eval first, then the one it is compared with (never only the base)
    opened = {(evals.replace("%2C", ","), p) for evals, p in links}
    expected = {(",".join([e, *(o for o in ids if o != e)]), p) for e in ids for p in problems}
    assert opened == expected
    assert 'target="_self"' in html  # the same tab


@pytest.mark.slow
def test_fixture_credit_and_pivots_are_the_analysis_pipelines(dashboard_db):
    """The pages below show what `fipo_bench.analysis` stores (run_credit, find_pivots), not
    numbers made up for the test: each eval records both analyses' settings, every token of
    the credited eval has credit, and its stored pivots are the ones the pivot rules give."""
    from fipo_bench.analysis.pivots import credit_pivots

    store = Store(dashboard_db.path, read_only=True)
    for eval_id in dashboard_db.eval_ids:
        credit = store.get_analysis(eval_id, "credit")
        pivots = store.get_analysis(eval_id, "pivots")
        assert credit is not None and pivots is not None, eval_id
        assert credit["settings"]["ref_model"].startswith(str(dashboard_db.base_dir.resolve()))
    settings = store.get_analysis(dashboard_db.credited_eval, "pivots")["settings"]
    ids = store.eval_samples(dashboard_db.credited_eval)["sample_id"].to_pylist()
    tokens = token_columns(store, ids, ["future_kl"])
    assert tokens.num_rows > 0 and tokens["future_kl"].null_count == 0
    for sid in ids:
        labels = set(store.pivots(sid, "keyword")["label"].to_pylist())
        assert labels <= set(settings["lexicon"])
        expected = credit_pivots(
            store.trajectory(sid)["future_kl"].to_numpy(),
            top_percent=settings["credit_top_percent"],
            sign_changes=settings["credit_sign_changes"],
        )
        assert store.pivots(sid, "credit")["pos"].to_pylist() == [p for p, _, _ in expected]


# ---- pages on the fixture database ------------------------------------------------------------


@pytest.mark.slow
def test_runs_page_lists_training_runs_and_evals(dashboard_db, monkeypatch):
    at = run_page("views/runs.py", dashboard_db.path, monkeypatch)
    runs, evals = (d.value for d in at.dataframe)
    assert set(runs["run_id"]) == set(dashboard_db.run_ids)
    assert set(evals["eval_id"]) == set(dashboard_db.eval_ids)
    assert set(evals["status"]) == {"done"}
    store = Store(dashboard_db.path, read_only=True)
    for row in evals.to_dict("records"):
        stored = store.get_eval(row["eval_id"])["metrics"]
        n = row["n"]
        assert row["avg@n"] == pytest.approx(stored[f"avg@{n}"])
        # pass@n with n samples per problem: the share of problems with any correct sample
        samples = store.eval_samples(row["eval_id"]).to_pandas()
        solved = samples.groupby("problem_id")["correct"].any().mean()
        assert row["pass@n"] == pytest.approx(stored.get(f"pass@{n}", solved))
        assert row["pass@n"] == pytest.approx(solved)
        assert row["mean length (tokens)"] == pytest.approx(stored["response_length/mean"])
    # Both evals are done: one same-tab link compares them.
    (link,) = at.get("page_link")
    assert link.proto.page.endswith("compare") or "compare" in link.proto.page


@pytest.mark.slow
def test_compare_page_shows_the_compare_commands_numbers_figures_and_a_linked_grid(
    dashboard_db, monkeypatch, capsys
):
    """The statistics on screen are the analysis layer's: each eval's avg@n as the evaluator
    stored it, and every difference, interval and p-value as `fipo-bench compare --format
    json` prints them for the same evals."""
    import json

    from fipo_bench.cli import main

    base, other = dashboard_db.eval_ids
    at = run_page("views/compare.py", dashboard_db.path, monkeypatch, evals=f"{base},{other}")
    each, against = at.dataframe[0].value, at.dataframe[1].value
    store = Store(dashboard_db.path, read_only=True)
    n = store.get_eval(base)["n"]
    for eval_id, row in zip((base, other), each.to_dict("records"), strict=True):
        assert row["avg@n"] == pytest.approx(store.get_eval(eval_id)["metrics"][f"avg@{n}"])
    assert "w per 1k tokens (per sample)" in each.columns  # one slope, named by its basis
    capsys.readouterr()
    assert main(["compare", "--eval", base, "--eval", other, "--format", "json",
                 "--db", str(dashboard_db.path)]) in (0, None)  # fmt: skip
    records = json.loads(capsys.readouterr().out)
    assert len(against) == len(records)
    for row, record in zip(against.to_dict("records"), records, strict=True):
        assert row["metric"] == record["metric"].replace("@k", f"@{record['k']}")
        assert row["difference"] == pytest.approx(record["delta"])
        assert row["p"] == pytest.approx(record["p_value"])
        assert row["95% interval"] == f"[{record['ci_low']:+.3f}, {record['ci_high']:+.3f}]"
        assert row["supported"] == ("yes" if record["excludes_zero"] else "")
    # The pass@k curves (Vega-Lite: no plotly.js to load for the first tab); the other tabs wait.
    assert len(at.get("vega_lite_chart")) == 1 and not at.get("plotly_chart")
    assert at.query_params["evals"] == f"{base},{other}" and at.query_params["baseline"] == base
    # Each tab draws its figures when opened, and the URL remembers the open one.
    query = {"evals": f"{base},{other}"}
    lengths = run_page("views/compare.py", dashboard_db.path, monkeypatch, **query,
                       section="Lengths")  # fmt: skip
    # Length distribution, quartiles, w fits; Vega-Lite, as every chart of the dashboard.
    assert len(lengths.get("vega_lite_chart")) == 3 and not lengths.get("plotly_chart")
    # Each eval in its one colour (the palette every page and the HTML report use), in the
    # compared order: baseline first.
    overview = dq.eval_overview(store).to_pandas()
    palette, labels = colours(store.list_runs().to_pandas(), overview), eval_labels(overview)
    for chart in lengths.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        layers = spec.get("layer") or [spec.get("spec", spec)]
        scale = next(layer["encoding"]["color"]["scale"] for layer in layers)
        assert scale["range"] == [palette.eval(e) for e in (base, other)]
        # The report's labels (run@step only) or the page's (with the dataset where needed).
        assert scale["domain"][0] in (labels[base], labels[base].split(" · ")[0])
    reflection = run_page("views/compare.py", dashboard_db.path, monkeypatch, **query,
                          section="Reflection and credit")  # fmt: skip
    # The reflection panel, then an event study for each credited eval with keyword pivots on
    # credited tokens (how many the fixture's model wrote is up to its samples), and for each
    # other credited eval a caption saying why there is none.
    from fipo_bench.analysis.events import event_study

    studied = [e for e in (base, other) if not event_study(store, e).empty]
    assert studied, "the fixture holds no credited eval with keyword pivots to study"
    assert len(reflection.get("vega_lite_chart")) == 1 + len(studied)
    assert not reflection.get("plotly_chart")
    captions = " ".join(str(c.value) for c in reflection.caption)
    assert captions.count("no keyword pivot on credited tokens") == 2 - len(studied)
    grid = run_page("views/compare.py", dashboard_db.path, monkeypatch, **query,
                    section="Per problem")  # fmt: skip
    n_problems = len(set(store.eval_samples(base)["problem_id"].to_pylist()))
    assert page_html(grid).count('class="cell"') == 2 * n_problems
    assert grid.query_params["section"] == "Per problem"


def pivot_hits(rows: list[dict]) -> int:
    """Jump links a sample's pivots make: a keyword phrase's tokens (same kind, label, score,
    adjacent positions) share one; every other stored pivot has its own."""
    hits, previous = 0, None
    for row in sorted(rows, key=lambda r: (r["kind"], r["label"] or "", r["score"], r["pos"])):
        this = (row["kind"], row["label"] or "", row["score"])
        hits += not (this == previous[0] and row["pos"] == previous[1] + 1) if previous else 1
        previous = (this, row["pos"])
    return hits


@pytest.mark.slow
def test_trajectory_page_shows_the_problem_and_every_evals_sample_side_by_side(
    dashboard_db, monkeypatch
):
    store = Store(dashboard_db.path, read_only=True)
    credited = store.eval_samples(dashboard_db.credited_eval).to_pylist()[0]
    other = dashboard_db.eval_ids[0]
    problem = credited["problem_id"]
    at = run_page(
        "views/trajectory.py", dashboard_db.path, monkeypatch,
        evals=f"{dashboard_db.credited_eval},{other}", problem=problem,
        samples=f"{dashboard_db.credited_eval}:0,{other}:1", scalar="influence_weight",
    )  # fmt: skip
    html = page_html(at)
    # The question on top: the stored problem text and its gold answer.
    stored = next(r for r in store.problems("synthetic").to_pylist() if r["problem_id"] == problem)
    assert stored["problem"].strip()[:40] in html and f"<code>{stored['answer']}</code>" in html
    # Both evals' chosen samples, every token of each.
    other_sample = store.eval_samples(other, problem_id=problem).to_pylist()[1]
    expected_tokens = credited["n_tokens"] + other_sample["n_tokens"]
    assert len(TOKEN_SPAN.findall(token_markup(html))) == expected_tokens
    # Pivots: keyword and credit ones by default (entropy pivots are many and say little).
    rows = [r for r in store.pivots(credited["sample_id"]).to_pylist() if r["kind"] != "entropy"]
    assert rows
    assert len(re.findall(r'id="t0-p\d+"', token_markup(html))) == len({r["pos"] for r in rows})
    assert html.count('href="#t0-p') == pivot_hits(rows)
    # Influence weight on the stored clip band, its edges named in the legend.
    band = store.get_analysis(dashboard_db.credited_eval, "credit")["settings"]
    assert f"clip band [{band['influence_low']:g}, {band['influence_high']:g}]" in html
    # Every kind on request; choices go back to the URL.
    at.multiselect(key="traj_kinds").set_value(list(PIVOT_KINDS)).run()
    every = store.pivots(credited["sample_id"]).to_pylist()
    assert page_html(at).count('href="#t0-p') == pivot_hits(every)
    at.selectbox(key="traj_scalar").set_value("entropy").run()
    assert at.query_params["scalar"] == "entropy"
    assert at.query_params["samples"] == f"{dashboard_db.credited_eval}:0,{other}:1"
    assert at.query_params["pivots"] == ",".join(PIVOT_KINDS)


@pytest.mark.slow
def test_samples_page_lists_every_sample_with_problem_gold_and_filters(dashboard_db, monkeypatch):
    from fipo_bench.reflection import default_lexicon

    store = Store(dashboard_db.path, read_only=True)
    ids = list(dashboard_db.eval_ids)
    at = run_page("views/samples.py", dashboard_db.path, monkeypatch, evals=",".join(ids))
    table = at.dataframe[0].value
    stored = [s for e in ids for s in store.eval_samples(e).to_pylist()]
    assert len(table) == len(stored)
    gold = {r["problem_id"]: r["answer"] for r in store.problems("synthetic").to_pylist()}
    assert all(table["gold"] == table["problem_id"].map(gold))
    by_key = {(s["eval_id"], s["problem_id"], s["sample_idx"]): s for s in stored}
    for row in table.to_dict("records"):
        sample = by_key[(row["eval_id"], row["problem_id"], row["sample"])]
        assert row["correct"] == bool(sample["correct"]) and row["tokens"] == sample["n_tokens"]
        assert row["reflections"] == default_lexicon().count(sample["text"])
    # "where the evals differ": exactly the problems whose accuracy is not the same in both.
    at.radio(key="samples_mode").set_value("problems where the evals differ").run()
    shown = set(at.dataframe[0].value["problem_id"])
    frame = pd.DataFrame(stored).assign(correct=lambda f: f["correct"].astype(float))
    accuracy = frame.pivot_table(index="problem_id", columns="eval_id", values="correct")
    assert shown == set(accuracy.index[accuracy[ids[0]] != accuracy[ids[1]]])


@pytest.mark.slow
def test_training_page_overlays_runs_and_shows_rollout_credit(dashboard_db, monkeypatch):
    import json

    at = run_page("views/training.py", dashboard_db.path, monkeypatch)
    assert not at.get("plotly_chart")  # Vega-Lite only: the browser never loads plotly.js
    panels = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    store = Store(dashboard_db.path, read_only=True)
    logged = set(dq.metric_names(store, dashboard_db.run_ids))
    shown = [name for name in DEFAULT_TRAINING_METRICS if name in logged]
    assert [p["title"]["text"].split(" (")[0] for p in panels[: len(shown)]] == shown
    palette = colours(store.list_runs().to_pandas(), dq.eval_overview(store).to_pandas())
    for panel in panels[: len(shown)]:
        marks = {layer["mark"]["type"]: layer for layer in panel["layer"]}
        line, rule = marks["line"], marks["rule"]
        assert "point" in marks  # the fixture's short runs: a marker per step
        scale = line["encoding"]["color"]["scale"]
        # One colour per run, the palette's, fixture runs named by their ids.
        assert scale["domain"] == list(dashboard_db.run_ids)
        assert scale["range"] == [palette.run(r) for r in dashboard_db.run_ids]
        x, y = line["encoding"]["x"], line["encoding"]["y"]
        assert x["axis"]["title"] == "step" and x["axis"]["format"] == "d"  # whole steps
        assert y["axis"]["format"] == ".3~g"  # no SI prefixes ("200μ")
        # Hover: the nearest step, every run's value there with the metric's name.
        (param,) = panel["params"]
        assert param["select"]["nearest"] and param["select"]["fields"] == ["step"]
        tips = [t.get("title", t["field"]) for t in rule["encoding"]["tooltip"]]
        assert tips == ["metric", "step", *dashboard_db.run_ids]
    run_id = widget(at, "selectbox", "Run").value
    step = widget(at, "selectbox", "Step").value
    first = dq.step_outcomes(store, run_id, step).to_pylist()[0]
    assert len(TOKEN_SPAN.findall(token_markup(page_html(at)))) == first["n_tokens"]
    assert widget(at, "selectbox", "Rollout").value == first["sample_id"]


@pytest.mark.slow
def test_training_rollout_box_follows_the_run_and_a_reload_keeps_every_choice(
    dashboard_db, monkeypatch
):
    at = run_page("views/training.py", dashboard_db.path, monkeypatch)
    other = dashboard_db.run_ids[1]
    widget(at, "selectbox", "Run").set_value(other).run()
    box = widget(at, "selectbox", "Rollout")
    step = widget(at, "selectbox", "Step").value
    store = Store(dashboard_db.path, read_only=True)
    rollouts = dq.step_outcomes(store, other, step).to_pylist()
    # The box lists the new run's rollouts, labelled by them (not the previous run's label).
    assert box.value == rollouts[0]["sample_id"]
    assert box.options[0].startswith(f"{rollouts[0]['problem_id']} #0 ")
    box.set_value(rollouts[-1]["sample_id"]).run()
    widget(at, "slider", "Smoothing (EMA)").set_value(0.6).run()
    widget(at, "selectbox", "Colour by").set_value("entropy").run()
    # A reload (a new session on the same URL) shows the same choices.
    again = run_page("views/training.py", dashboard_db.path, monkeypatch, **at.query_params)
    assert widget(again, "selectbox", "Run").value == other
    assert widget(again, "selectbox", "Rollout").value == rollouts[-1]["sample_id"]
    assert widget(again, "slider", "Smoothing (EMA)").value == pytest.approx(0.6)
    assert widget(again, "selectbox", "Colour by").value == "entropy"
    metrics = widget(at, "multiselect", "Metrics").value
    assert widget(again, "multiselect", "Metrics").value == metrics


PLOTLY_DIV_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def figure_ids_as_one(text: str) -> str:
    """plotly names each figure's <div> with a fresh uuid4 per render: the one part of an HTML
    report that differs between two renders of the same data."""
    return PLOTLY_DIV_ID.sub("FIGURE-ID", text)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["csv", "md", "html"])
def test_export_serves_exactly_what_the_report_command_writes(dashboard_db, monkeypatch, fmt):
    from fipo_bench.cli import main
    from fipo_dash.export import report_text

    at = run_page("views/export.py", dashboard_db.path, monkeypatch)
    at.radio(key="export_format").set_value(fmt).run()
    assert not at.exception
    assert len(at.get("download_button")) == 1
    evals = at.multiselect(key="export_evals").value
    runs = at.multiselect(key="export_runs").value
    assert set(evals) == set(dashboard_db.eval_ids) and set(runs) == set(dashboard_db.run_ids)
    out = dashboard_db.path.parent / f"cli-report-{fmt}.{fmt}"
    args = ["report", "--db", str(dashboard_db.path), "--format", fmt, "--out", str(out)]
    code = main([*args, *(f"--eval={e}" for e in evals), *(f"--run={r}" for r in runs)])
    assert code in (0, None)
    written = out.read_text(encoding="utf-8")
    store = Store(dashboard_db.path, read_only=True)
    assert figure_ids_as_one(report_text(store, evals, runs, fmt)) == figure_ids_as_one(written)
    if fmt == "md":  # the preview is the report itself
        assert any(m.value.strip() == written.strip() for m in at.markdown)
    if fmt == "csv":
        import io

        import pandas as pd

        preview = at.dataframe[0].value
        pd.testing.assert_frame_equal(preview, pd.read_csv(io.StringIO(written)))
    # The page shows the command that writes the same file.
    shown = [m.value for m in at.markdown if "`fipo-bench report" in m.value]
    assert any(f"--format {fmt}" in text for text in shown)


@pytest.mark.slow
def test_home_navigates_to_runs_by_default(dashboard_db, monkeypatch):
    at = run_page("Home.py", dashboard_db.path, monkeypatch)
    assert at.title[0].value == "Runs"


# ---- empty, missing and locked databases ------------------------------------------------------


@pytest.mark.parametrize(
    ("page", "command"),
    [
        ("views/runs.py", "fipo-bench eval"),
        ("views/compare.py", "fipo-bench eval"),
        ("views/samples.py", "fipo-bench eval"),
        ("views/trajectory.py", "fipo-bench eval"),
        ("views/training.py", "fipo-bench train"),
        ("views/export.py", "fipo-bench eval"),
    ],
)
def test_empty_database_pages_say_which_command_fills_them(page, command, tmp_path, monkeypatch):
    db = tmp_path / "empty.duckdb"
    Store(db)  # schema only
    at = run_page(page, db, monkeypatch)
    assert any(command in i.value for i in at.info), [i.value for i in at.info]


def test_missing_and_non_duckdb_files_are_one_line_messages(tmp_path, monkeypatch):
    at = run_page("views/runs.py", tmp_path / "nope.duckdb", monkeypatch)
    assert "does not exist" in at.error[0].value
    bad = tmp_path / "bad.duckdb"
    bad.write_text("not a database\n")
    at = run_page("views/compare.py", bad, monkeypatch)
    assert "not a DuckDB database file" in at.error[0].value


HOLD_WRITE_LOCK = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("ready", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def test_pages_wait_for_a_writer_instead_of_failing(tmp_path, monkeypatch):
    """A writer process holding the file (as a trainer does while it flushes) delays the page;
    the read-only open retries and the page renders once the writer lets go."""
    db = tmp_path / "busy.duckdb"
    Store(db)
    # A plain subprocess, not multiprocessing: AppTest replaces __main__ with the page script,
    # which a spawned child would re-run.
    writer = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITE_LOCK, str(db), "1.5"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout.readline().strip() == "ready"
        at = run_page("views/runs.py", db, monkeypatch)
        assert not at.error
        assert any("fipo-bench eval" in i.value for i in at.info)
    finally:
        writer.wait(30)
