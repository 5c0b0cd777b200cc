"""The dashboard's data -> HTML/figure/table modules, without Streamlit: colour scales by
meaning, the token heatmap, labels, pivot links, the per-problem grid, training-panel notes,
eval states and the hints that name the command filling what is missing."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from dashboard_pages import TOKEN_SPAN

from fipo_dash.heatmap import PIVOT_KINDS, VALUE_COLUMNS, page_scale, pivot_spans, trajectory_html
from fipo_dash.heatmap_js import MARKUP_LIKE, panel_data
from fipo_dash.scales import MID, PALETTE_SIZE, fit_scale, palette


def synthetic_tokens(n: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "pos": pa.array(np.arange(n), pa.int32()),
            "token": [("<" if i % 7 == 0 else chr(97 + i % 26)) for i in range(n)],
            **{c: pa.array(rng.normal(size=n), pa.float32()) for c in VALUE_COLUMNS},
        }
    )


def test_signed_values_diverge_around_zero_symmetrically_with_saturation_marked():
    values = np.concatenate([np.linspace(-1, 1, 999), [5.0, np.nan]])  # one outlier
    scale = fit_scale("future_kl", values)
    assert scale.low == -scale.high and 0.9 < scale.high <= 1.0  # 99th percentile of |value|
    index = scale.index(np.array([-scale.high, 0.0, scale.high, 5.0, np.nan]))
    assert index.tolist() == [0, MID, PALETTE_SIZE - 1, PALETTE_SIZE - 1, -1]
    assert palette("future_kl")[MID] == "#f7f7f7"  # white at 0
    assert scale.saturated(np.array([0.5, 5.0, np.nan])).tolist() == [False, True, False]


def test_entropy_is_sequential_from_zero_and_logp_sequential_non_positive():
    entropy = fit_scale("entropy", np.linspace(0.0, 3.0, 301))
    assert entropy.low == 0.0 and entropy.mid is None and entropy.high == pytest.approx(2.97)
    assert entropy.index(np.array([0.0, entropy.high])).tolist() == [0, PALETTE_SIZE - 1]
    logp = fit_scale("logp", -np.linspace(0.0, 10.0, 1001))
    assert logp.high == 0.0 and logp.low == pytest.approx(-9.9)
    # 0 (a certain token) is the light end, the least likely tokens the dark one
    assert logp.index(np.array([0.0, logp.low])).tolist() == [0, PALETTE_SIZE - 1]
    assert logp.ticks() == [logp.low, 0.0]


def test_influence_weight_uses_the_stored_clip_band_with_its_edges_marked():
    weights = np.array([1.0, 1.0, 1.05, 1.2, 1.2, 0.9])
    scale = fit_scale("influence_weight", weights, band=(1.0, 1.2))
    assert (scale.low, scale.mid, scale.high, scale.edges) == (1.0, 1.0, 1.2, (1.0, 1.2))
    assert scale.index(np.array([1.0, 1.1, 1.2])).tolist() == [MID, 150, PALETTE_SIZE - 1]
    # at an edge: clipped there; below the band (the safety clamp): saturated too
    assert scale.saturated(weights).tolist() == [True, True, False, True, True, True]
    paper_7b = fit_scale("influence_weight", weights, band=(0.8, 1.2))
    assert paper_7b.index(np.array([0.8, 1.0, 1.2])).tolist() == [0, MID, PALETTE_SIZE - 1]


def test_heatmap_has_one_coloured_span_per_token_with_hover_values_and_pivot_anchors():
    tokens = synthetic_tokens(50)
    tokens = tokens.set_column(
        1, "token", pa.array(["<img src=x onerror=alert(1)>", *tokens["token"].to_pylist()[1:]])
    )
    pivots = pa.table(
        {
            "pos": [3, 10],
            "kind": ["credit", "keyword"],
            "label": ["big", "</script><b>wait"],
            "score": [1.0, 2.0],
        }
    )
    scale = page_scale([tokens], "future_kl")
    out = trajectory_html(tokens, pivots, scale, kinds=PIVOT_KINDS, anchor="x")
    (data,) = panel_data(out.html)
    markup = data["html"]
    assert len(TOKEN_SPAN.findall(markup)) == 50
    assert out.n_pivots == 2
    assert 'id="x-p3"' in markup and 'href="#x-p3"' in out.html
    assert 'data-pivot="keyword"' in markup
    assert re.search(r'<span class="tok c\d+">', markup)  # a palette colour class, no title
    # Token text is escaped, never raw markup, and the script holds nothing DOMPurify would
    # take for markup (it drops such a script, and the panel would stay empty).
    assert "&lt;img src=x onerror=alert(1)&gt;</span>" in markup and "<img" not in markup
    script = out.html[out.html.index("<script>") + 8 : out.html.rindex("</script>")]
    assert not MARKUP_LIKE.search(script)
    # Hover: every token's position and all its values (3 significant digits), pivot marks.
    assert data["pos0"] == 0 and data["names"] == list(VALUE_COLUMNS)
    for name, shown in zip(VALUE_COLUMNS, data["values"], strict=True):
        stored = tokens[name].to_numpy().astype(np.float64)
        assert len(shown) == 50
        np.testing.assert_allclose(shown, stored, rtol=5e-3, atol=1e-12)
    assert data["pivots"] == {"3": "credit big", "10": "keyword </script><b>wait"}


def test_heatmap_hover_keeps_positions_that_are_not_contiguous_and_marks_missing_values():
    tokens = synthetic_tokens(4).set_column(0, "pos", pa.array([0, 1, 5, 6], pa.int32()))
    tokens = tokens.set_column(
        tokens.column_names.index("future_kl"),
        "future_kl",
        pa.array([0.5, None, 1.0, -1.0], pa.float32()),
    )
    (data,) = panel_data(trajectory_html(tokens, None, page_scale([tokens], "future_kl")).html)
    assert data["pos0"] is None and data["pos"] == [0, 1, 5, 6]
    assert data["values"][VALUE_COLUMNS.index("future_kl")][1] is None
    assert 'class="tok cn"' in data["html"]  # the no-value colour


def test_heatmap_renders_a_20000_token_trajectory_as_one_string():
    tokens = synthetic_tokens(20_000)
    out = trajectory_html(tokens, None, page_scale([tokens], "influence_weight", (0.8, 1.2)))
    assert out.n_tokens == 20_000
    (data,) = panel_data(out.html)
    assert len(TOKEN_SPAN.findall(data["html"])) == 20_000
    assert all(len(v) == 20_000 for v in data["values"])


def test_eval_labels_name_the_checkpoint_distinctly_and_never_read_nan():
    """Labels are the reports' (analysis.evals): RUN@STEP from the run's name, a checkpoint
    folder RUN_DIR/checkpoints/step-N as RUN_DIR@N, else the model folder; the dataset only
    where two would read the same. pandas' NaN (truthy) in an empty cell never shows."""
    from fipo_dash.naming import eval_labels

    nan = float("nan")
    frame = pd.DataFrame(
        [
            ("ev-base", "synthetic", nan, "/w/base-model", nan, nan, nan),
            ("ev-dir", "synthetic", nan, "/w/runs/tiny-fipo/checkpoints/step-000012", nan, nan,
             nan),
            ("ev-run", "aime24", nan, "/x", "tiny-fipo-1a2b", 12.0, "tiny-fipo"),
        ],
        columns=["eval_id", "dataset", "ckpt_id", "model_path", "model_run_id", "model_step",
                 "run_name"],
    )  # fmt: skip
    assert eval_labels(frame) == {
        "ev-base": "base-model",
        "ev-dir": "tiny-fipo@12 · synthetic",
        "ev-run": "tiny-fipo@12 · aime24",
    }


def test_pivot_links_group_a_keyword_phrase_but_not_separate_hits():
    rows = [{"kind": "keyword", "label": "wait", "score": 1.0, "pos": p} for p in (5, 6, 7, 8)] + [
        {"kind": "keyword", "label": "wait", "score": 2.0, "pos": 9},  # the next hit, adjacent
        {"kind": "entropy", "label": "top", "score": 4.5, "pos": 6},
        {"kind": "credit", "label": None, "score": None, "pos": 2},
    ]
    assert pivot_spans(rows) == [
        ("credit", "", 2, 2),
        ("keyword", "wait", 5, 8),
        ("entropy", "top", 6, 6),
        ("keyword", "wait", 9, 9),
    ]


def test_grid_orders_by_difference_and_keeps_only_problems_that_differ():
    from fipo_dash.compare_data import grid_frame

    points = pd.DataFrame(
        [("a", "p1", 2, 0.5), ("b", "p1", 2, 0.5),   # same accuracy
         ("a", "p2", 2, 1.0), ("b", "p2", 2, 0.0),   # differs by 1
         ("a", "p10", 2, 0.5), ("b", "p10", 2, 0.0)],  # differs by 0.5
        columns=["eval_id", "problem_id", "n", "accuracy"],
    ).assign(mean_tokens=10.0)  # fmt: skip
    assert list(grid_frame(points, ["a", "b"]).index) == ["p1", "p2", "p10"]
    by_spread = grid_frame(points, ["a", "b"], order="largest difference first")
    assert list(by_spread.index) == ["p2", "p10", "p1"]
    assert list(grid_frame(points, ["a", "b"], differs_only=True).index) == ["p2", "p10"]


def test_training_panels_say_when_a_metric_carries_no_information():
    from fipo_dash.charts import ema, flat_note

    assert flat_note(np.zeros(5)) == " (constant 0)"
    assert flat_note(np.array([0.9995, 0.9999, 1.0])).startswith(" (nearly constant: 0.9995")
    assert flat_note(np.array([0.1, 0.5])) == ""
    # smoothing: weight 0 is the raw curve; the debiased EMA starts at the first value
    values = np.array([1.0, 3.0, 3.0])
    assert ema(values, 0.0).tolist() == values.tolist()
    assert ema(values, 0.5)[0] == pytest.approx(1.0)
    assert ema(values, 0.5)[1] == pytest.approx((0.5 * 1 * 0.5 + 0.5 * 3) / 0.75)


@pytest.mark.parametrize("steps", [12, 500])
def test_training_panels_mark_steps_on_short_runs_and_dash_long_ones(steps):
    """Two runs overlaid: a marker per step (its shape per run) while a run is short, a dash
    pattern per run once markers would be thousands of SVG nodes; the smoothed line is the EMA
    of the raw values, which stay beneath."""
    from fipo_dash.charts import MARKER_STEPS, ema, has_markers, training_panels

    rng = np.random.default_rng(0)
    metrics = pd.DataFrame(
        [{"run_id": r, "step": t, "name": "reward/mean", "value": float(rng.normal())}
         for r in ("a", "b") for t in range(1, steps + 1)]
    )  # fmt: skip
    (panel,) = training_panels(metrics, ["reward/mean"], ["a", "b"], {}, {}, smoothing=0.6)
    spec = panel.to_dict()  # validates against the Vega-Lite schema
    assert has_markers(spec) == (steps <= MARKER_STEPS)
    lines = [layer for layer in spec["layer"] if layer["mark"]["type"] == "line"]
    assert [layer["encoding"]["y"]["field"] for layer in lines] == ["raw", "value"]
    assert ("strokeDash" in lines[1]["encoding"]) == (steps > MARKER_STEPS)
    (data,) = spec["datasets"].values()
    a = [row for row in data if row["series"] == "a"]
    raw = np.array([row["raw"] for row in a])
    assert np.allclose([row["value"] for row in a], ema(raw, 0.6))


def eval_row(**values) -> dict:
    row = {"eval_id": "ev-1", "n": 4, "status": "running", "n_samples": 8, "config": None,
           "dataset_problems": 30}  # fmt: skip
    return {**row, **values}


def test_an_evals_target_is_the_evaluators_total_else_n_times_its_problems():
    from fipo_dash.status import expected_samples

    assert expected_samples(eval_row(config='{"total_samples": 120}')) == 120
    assert expected_samples(eval_row(config='{"limit": 10}')) == 40  # --limit 10, n = 4
    assert expected_samples(eval_row(config='{"limit": 100}')) == 120  # capped by the dataset
    assert expected_samples(eval_row()) == 120
    assert expected_samples(eval_row(dataset_problems=0)) is None


def test_a_running_eval_whose_writer_is_gone_reads_interrupted():
    """SIGKILL leaves an eval `running` in the store; the evaluator's recorded pid tells: a
    live pid on this host is running, a pid that no longer exists is interrupted, no record at
    all cannot be told apart."""
    import json
    import os
    import socket
    import subprocess
    import sys

    from fipo_dash.status import eval_progress

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    host = socket.gethostname()

    def writer(pid: int, on: str = host) -> str:
        return json.dumps({"total_samples": 40, "writer": {"host": on, "pid": pid}})

    running = eval_progress(eval_row(config=writer(os.getpid())))
    assert (running.state, running.text) == ("running", "running: 8 of 40 samples (20%) so far")
    killed = eval_progress(eval_row(config=writer(gone.pid)))
    assert killed.state == "interrupted" and "rerun the same `fipo-bench eval`" in killed.text
    assert eval_progress(eval_row(config=writer(gone.pid, on="elsewhere"))).state == "running"
    assert eval_progress(eval_row()).word == "running or interrupted"
    failed = eval_progress(eval_row(status="failed", n_samples=0))
    assert failed.text.startswith("failed at 0 of 120 samples") and failed.partial
    assert not eval_progress(eval_row(status="done", n_samples=120)).partial
    # NULL metrics and config (every running eval's) read as absent, never as a crash.
    assert eval_progress(eval_row(config=float("nan"), n_samples=float("nan"))).stored == 0


def test_the_newest_evals_with_samples_are_chosen_never_an_empty_one():
    from fipo_dash.pickers import default_evals
    from fipo_dash.status import EvalProgress

    progress = {
        "old": EvalProgress("done", 10, 10),
        "newer": EvalProgress("done", 10, 10),
        "partial": EvalProgress("running", 4, 10),
        "empty": EvalProgress("interrupted", 0, 10),
    }
    assert default_evals(progress, 2) == ["old", "newer"]  # finished ones first
    assert default_evals(progress, 3) == ["old", "newer", "partial"]
    assert default_evals(progress, None) == ["old", "newer", "partial"]


def test_missing_credit_names_the_command_that_fills_it():
    from pathlib import Path

    from fipo_dash.hints import credit_command, eval_band, eval_note, pivot_note, run_band

    db = Path("/data/run.duckdb")
    runs = {"fipo-1": {"run_id": "fipo-1", "model_path": "/m/base"}}
    checkpoint = {"eval_id": "ev-9", "model_run_id": "fipo-1"}
    assert (
        credit_command(checkpoint, runs, db)
        == "fipo-bench credit --eval ev-9 --ref /m/base --run fipo-1 --db /data/run.duckdb"
    )
    other = {"eval_id": "ev-8", "model_run_id": float("nan")}
    assert "--ref REFERENCE_MODEL --db" in eval_note(other, {}, runs, "future_kl", db)
    # Credit computed but not for this sample: resume with the stored reference.
    stored = {"credit": {"ref_model": "/m/base#3f2a", "influence_low": 1.0, "influence_high": 1.2}}
    assert "rerun `fipo-bench credit --eval ev-9 --ref /m/base --db" in eval_note(
        checkpoint, stored, runs, "influence_weight", db
    )
    assert eval_band(stored) == (1.0, 1.2)
    assert run_band({"config": '{"loss": {"influence_low": 0.8, "influence_high": 1.2}}'}) == (
        0.8,
        1.2,
    )
    assert pivot_note({}, ("keyword",)).startswith("pivots not analysed")
    assert pivot_note({"pivots": {}}, ("keyword",)) == "analysed: no keyword pivots here"
