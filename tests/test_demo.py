"""`fipo-bench demo --quick`: the whole loop on the embedded default, end to end, for real."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from fipo_bench.demo import make_plan, run_demo
from fipo_bench.store import Store


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "fipo_bench", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )


@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("demo") / "work"
    done = _cli("demo", "--quick", "--workdir", str(workdir), cwd=workdir.parent)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "fipo-bench dashboard --db" in done.stdout
    return workdir


@pytest.mark.slow
def test_quick_demo_stores_the_whole_loop(quick_demo: Path) -> None:
    """Three training runs with checkpoints, four evals (base + 3 final checkpoints), per-token
    credit of every trained checkpoint's eval (not only FIPO's; training rollouts carry the
    trainer's own credit and are left out here) and pivots, both report files."""
    store = Store(quick_demo / "fipo_bench.duckdb", read_only=True)
    runs = store.list_runs().to_pylist()
    train_runs = [r for r in runs if r["kind"] == "train"]
    assert sorted(r["algo"] for r in train_runs) == ["dapo", "fipo", "grpo"]
    for run in train_runs:
        assert store.checkpoints(run["run_id"]).num_rows >= 1
    evals = store.list_evals().to_pylist()
    assert len(evals) == 4
    assert {e["dataset"] for e in evals} == {"synthetic"}
    assert all(e["n_samples"] > 0 for e in evals)
    credited = store.read_table(
        "SELECT s.eval_id, count(*) AS n FROM tokens t JOIN samples s USING (sample_id)"
        " WHERE t.future_kl IS NOT NULL AND s.eval_id IS NOT NULL GROUP BY s.eval_id"
    ).to_pylist()
    trained = {
        e["eval_id"] for e in evals if e["model_path"] != str(quick_demo / "base-model-quick")
    }
    assert {row["eval_id"] for row in credited if row["n"] > 0} == trained
    assert store.table_counts()["pivots"] > 0
    for suffix in (".html", ".md"):
        report = quick_demo / f"report-quick{suffix}"
        assert report.is_file() and report.stat().st_size > 0


@pytest.fixture(scope="module")
def rerun(quick_demo: Path):
    plan = make_plan(
        workdir=quick_demo, db_path=None, quick=True, engine="hf", aime_file=None, seed=0
    )
    with open(os.devnull, "w") as sink:
        return run_demo(plan, Console(file=sink))


@pytest.mark.slow
def test_second_quick_demo_reuses_every_stored_stage(rerun) -> None:
    """Rerunning finds every stage's result stored: no build, no training, no sampling."""
    redone = [s.name for s in rerun.stages if not s.reused and s.name != "report"]
    assert redone == []
    assert set(rerun.eval_ids) == {"base", "grpo", "dapo", "fipo"}


@pytest.mark.slow
def test_summary_agrees_with_the_store(quick_demo: Path, rerun) -> None:
    """Every summary number is the stored evals' own: avg@n and mean length as the eval metrics
    compute them, the difference to the base with an interval around it, the reflection rate
    as the project's lexicon counts the stored texts, style shares summing to 1, and a headline
    that names each trained algorithm."""
    from fipo_bench.eval.stored import stored_eval_metrics
    from fipo_bench.reflection import has_reflection

    store = Store(quick_demo / "fipo_bench.duckdb", read_only=True)
    summary = rerun.summary
    assert [m.model for m in summary.models] == ["base", "grpo", "dapo", "fipo"]
    base = summary.models[0]
    assert base.vs_base is None
    for model in summary.models:
        metrics = stored_eval_metrics(store, model.eval_id)
        assert model.eval_id == rerun.eval_ids[model.model]
        assert (model.n, model.num_problems) == (metrics.n, metrics.num_problems)
        assert model.avg == pytest.approx(metrics.avg_at_n, abs=1e-12)
        assert model.mean_length == pytest.approx(metrics.response_length["mean"], abs=1e-9)
        texts = store.eval_samples(model.eval_id).column("text").to_pylist()
        assert model.reflection_rate == pytest.approx(sum(map(has_reflection, texts)) / len(texts))
        assert sum(model.styles.values()) == pytest.approx(1.0)
        assert model.se >= 0
        row = model.row()
        assert row[f"avg@{model.n}"].startswith(f"{100 * model.avg:.1f}")
        if model.vs_base is not None:
            d = model.vs_base
            assert d.delta == pytest.approx(model.avg - base.avg, abs=1e-12)
            assert d.ci_low <= d.delta <= d.ci_high
            assert row["vs base"] == f"{100 * d.delta:+.1f}"
            assert model.model.upper() in summary.headline or "all three" in summary.headline
    fipo, dapo = summary.models[3], summary.models[2]
    assert summary.fipo_vs_dapo.delta == pytest.approx(fipo.avg - dapo.avg, abs=1e-12)
    assert "FIPO vs DAPO" in summary.headline


BAD_FILES = {
    "garbage.jsonl": "hello\n",
    "no-problem-field.jsonl": '{"x": 1}\n',
    "empty.jsonl": "",
    "not-duckdb.duckdb": "junk\n",
}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--engine", "tpu"], "--engine 'tpu'"),
        (["--aime-file", "no/such/aime.jsonl"], "no/such/aime.jsonl"),
        (["--aime-file", "garbage.jsonl"], "not valid JSON"),
        (["--aime-file", "no-problem-field.jsonl"], "no problem field"),
        (["--aime-file", "empty.jsonl"], "file is empty"),
        (["--db", "not-duckdb.duckdb"], "not a DuckDB database"),
        (["--db", "no/such/folder/x.duckdb"], "does not exist"),
        (["--seed", "-1"], "--seed -1"),
    ],
)
def test_demo_bad_input_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, args: list[str], needle: str
) -> None:
    """Every bad flag value, also a damaged --aime-file or --db that only its contents show, is
    refused in one line with exit 2 before the demo builds or trains anything."""
    for name, text in BAD_FILES.items():
        (tmp_path / name).write_text(text)
    workdir = tmp_path / "work"
    done = _cli("demo", "--quick", "--workdir", str(workdir), *args, cwd=tmp_path)
    assert done.returncode == 2
    assert needle in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not workdir.exists()
    assert (tmp_path / "not-duckdb.duckdb").read_text() == "junk\n"


def _model(label: str, delta: float | None, low: float = 0.0, high: float = 0.0):
    from fipo_bench.analysis.stats import Difference
    from fipo_bench.demo.summary import ModelSummary

    d = None
    if delta is not None:
        d = Difference("avg@k", 4, 0.3, 0.3 + delta, delta, low, high, 0.01, 1, 1, 1, 3)
    return ModelSummary(label, f"ev-{label}", 4, 100, 0.3, 0.02, d, 0.1, 40.0, {})


@pytest.mark.parametrize(
    ("deltas", "expected"),
    [
        (
            [(0.2, 0.1, 0.3), (0.15, 0.05, 0.25), (0.18, 0.08, 0.28)],
            "all three beat the base (+20.0, +15.0, +18.0 points avg@4)",
        ),
        (
            [(0.2, 0.1, 0.3), (0.01, -0.05, 0.07), (-0.1, -0.2, -0.01)],
            "GRPO beat the base (+20.0 points avg@4); FIPO fell below the base; DAPO: no"
            " significant difference from the base",
        ),
    ],
)
def test_headline_says_which_models_beat_the_base(deltas, expected):
    """The headline follows the intervals: above 0 beats the base, below 0 fell below it,
    straddling 0 is no significant difference; FIPO vs DAPO is judged the same way."""
    from fipo_bench.analysis.stats import Difference
    from fipo_bench.demo.summary import headline

    models = [_model("base", None)] + [
        _model(label, *d) for label, d in zip(["grpo", "dapo", "fipo"], deltas, strict=True)
    ]
    tie = Difference("avg@k", 4, 0.3, 0.31, 0.01, -0.04, 0.06, 0.6, 1, 1, 1, 3)
    text = headline(models, tie)
    assert text.startswith(expected)
    assert text.endswith(
        "FIPO vs DAPO: no significant difference (+1.0 points, 95% CI [-4.0, +6.0])."
    )
