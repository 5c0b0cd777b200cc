"""`fipo-bench report --figures` and the report's handling of partial evals, training stages
and unwritable outputs, on evals and runs written through the real store."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from stats_fixture import write_eval

from fipo_bench.analysis.figures import collect_paper_figures, report_figures
from fipo_bench.analysis.length_accuracy import parse_stages
from fipo_bench.analysis.reports import build_report
from fipo_bench.cli import main
from fipo_bench.store import Store

STEPS = (0, 20, 40, 60)


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """A run 'tiny-fipo' with validation evals at four steps (longer and more accurate as it
    trains), its training metrics, and an eval left running (killed)."""
    path = tmp_path_factory.mktemp("figures") / "f.duckdb"
    store = Store(path)
    store.upsert_run("run-fipo-1a2b", kind="train", name="tiny-fipo", algo="fipo")
    rng = np.random.default_rng(0)
    for i, step in enumerate(STEPS):
        correct = rng.random((12, 4)) < 0.2 + 0.15 * i
        lengths = rng.integers(50, 100, (12, 4)) + 40 * i
        write_eval(store, f"val-{step}", correct, lengths=lengths, run_id="run-fipo-1a2b",
                   step=step)  # fmt: skip
    for step in range(0, 61, 5):
        store.write_train_metrics(
            "run-fipo-1a2b", step,
            {"response_length/min": 10.0 + step, "response_length/q25": 20.0 + step,
             "response_length/mean": 30.0 + step, "response_length/median": 30.0 + step,
             "response_length/q75": 40.0 + step, "reward/mean": 0.01 * step,
             "num_gen_batches": 1.0, "advantage/length_weighted_mean": -0.1 + 0.002 * step,
             "policy_kl": 1e-4 * step, "grad_norm": 0.5, "entropy": 0.3},
        )  # fmt: skip
    write_eval(store, "killed", rng.random((12, 4)) < 0.5, status="running",
               model_path="/models/base")  # fmt: skip
    return path


def _traces(page: str) -> list[dict]:
    """Every trace of every Plotly.newPlot call in an HTML report."""
    traces = []
    for match in re.finditer(r"Plotly\.newPlot\(\s*\"[^\"]+\",\s*(\[.*?\])\s*,\s*\{", page, re.S):
        traces.extend(json.loads(match.group(1)))
    return traces


def test_figures_cover_the_papers_analyses_named_by_run_and_checkpoint(db, tmp_path):
    out = tmp_path / "r.html"
    argv = ["report", "--run", "run-fipo-1a2b", "--eval", "val-0", "--eval", "val-60",
            "--stages", "0-40,40-60", "--figures", "--format", "html", "--out", str(out),
            "--db", str(db), "--resamples", "300"]  # fmt: skip
    assert main(argv) == 0
    page = out.read_text()
    for title in ("Figure 1", "Figure 3(a-e)", "Figure 3(f)", "Figure 4", "Figure 5",
                  "pass@k curves", "Reflection"):  # fmt: skip
        assert f"<h2>{title}</h2>" in page
    assert page.count("plotly.js v") == 1
    names = {t.get("name") for t in _traces(page) if t.get("showlegend", True) is not False}
    names.discard(None)
    assert names and not any(n.startswith(("val-", "run-fipo-1a2b")) for n in names)
    assert "tiny-fipo@0" in names and "tiny-fipo@60" in names
    assert any(n.startswith("tiny-fipo steps 0-40") and "w = " in n for n in names)


def test_length_boxes_sit_at_their_own_positions_and_tables_have_no_index_leftovers(db):
    report = build_report(Store(db, read_only=True), ["val-0", "val-20", "val-40"], resamples=200)
    figures = dict(report_figures(report, None))
    boxes = figures["Response length"].data
    assert [list(b.x) for b in boxes] == [["tiny-fipo@0"], ["tiny-fipo@20"], ["tiny-fipo@40"]]
    from fipo_bench.analysis.report_render import render_html

    report = build_report(Store(db, read_only=True), [], ["run-fipo-1a2b"])
    tables = render_html(report).split("<h2>Training response length</h2>")[0]
    assert "run_id" not in tables and ">stat<" not in tables and "run_id/step" not in tables


def test_stage_fits_follow_the_named_steps(db):
    store = Store(db, read_only=True)
    report = build_report(store, [], ["run-fipo-1a2b"], stages=parse_stages("0-40,40-60"))
    fits = {f.stage.name: f for f in report.stage_fits}
    assert [p.step for p in fits["steps 0-40"].points] == [0, 20]
    assert [p.step for p in fits["steps 40-60"].points] == [40, 60]  # the last stage holds 60
    paper = collect_paper_figures(store, report, window=8, seed=0)
    ((run, points),) = paper.points
    assert run.label == "tiny-fipo" and [p.step for p in points] == list(STEPS)
    assert set(paper.curves["name"]) >= {"advantage/length_weighted_mean", "policy_kl"}


def test_a_killed_eval_is_reported_as_partial(db, tmp_path, capsys):
    out = tmp_path / "r.md"
    argv = ["report", "--eval", "killed", "--out", str(out), "--db", str(db)]
    assert main(argv) == 0
    text = out.read_text()
    assert "partial numbers" in text and "not finished" in text
    assert "running (partial)" in text
    assert "partial numbers" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--figures", "--format", "md"], "--figures draws plots: it needs --format html"),
        (["--stages", "5-1"], "--stages part '5-1' is invalid"),
        (["--window", "0"], "--window 0 is invalid"),
        (["--resamples", "0"], "--resamples 0 is invalid"),
    ],
)
def test_bad_options_exit_2_before_writing(db, tmp_path, capsys, args, message):
    out = tmp_path / "r.md"
    argv = ["report", "--run", "run-fipo-1a2b", *args, "--out", str(out), "--db", str(db)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def read_only_dir(tmp_path):
    """A folder nobody may write to: a read-only tmpfs mount when running as root (root
    ignores permission bits), else a folder with mode 0555."""
    import os
    import subprocess

    folder = tmp_path / "locked"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "none", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_an_out_on_a_read_only_mount_is_one_line_exit_2(db, read_only_dir, capsys):
    argv = ["report", "--eval", "val-0", "--out", str(read_only_dir / "r.md"), "--db", str(db)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "is not writable" in err and len(err.splitlines()) == 1
    assert list(read_only_dir.iterdir()) == []


def test_figures_colour_runs_and_checkpoints_as_the_dashboard_does(db):
    """The same colours as analysis.series_style over the whole database, whatever the
    report selects: a run's checkpoints in shades of the run's colour."""
    from fipo_bench.analysis.series_style import series_colours
    from fipo_bench.store.analysis_queries import eval_rows

    store = Store(db, read_only=True)
    report = build_report(store, ["val-20", "val-60"], ["run-fipo-1a2b"], resamples=100)
    paper = collect_paper_figures(store, report, window=8, seed=0)
    figures = dict(report_figures(report, paper))
    expected = series_colours(
        store.list_runs()["run_id"].to_pylist(),
        eval_rows(store, store.list_evals()["eval_id"].to_pylist()).to_pylist(),
    )
    curves = {t.name: t.line.color for t in figures["pass@k curves"].data if t.name}
    assert curves["tiny-fipo@60"] == expected.eval("val-60") == expected.run("run-fipo-1a2b")
    assert curves["tiny-fipo@20"] == expected.eval("val-20") != curves["tiny-fipo@60"]
    runs = {t.line.color for t in figures["Figure 4"].data if t.name == "tiny-fipo"}
    assert runs == {expected.run("run-fipo-1a2b")}
