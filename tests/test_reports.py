"""Reports: every number equals an independent DuckDB/pandas computation over the same stored
rows or the library function that defines it; columns carry run/checkpoint labels; the HTML
file loads nothing from outside; bad input writes nothing."""

from __future__ import annotations

import io
import os
import re
from stat import S_IMODE

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from fipo_bench.analysis.compare import compare_evals
from fipo_bench.analysis.report_render import render_html, write_report
from fipo_bench.analysis.reports import build_report
from fipo_bench.cli import main
from fipo_bench.store import Store, sample_id

N = 4  # samples per problem
LABELS = {"ev-a": "tiny-fipo@12", "ev-b": "tiny-dapo@12"}
LOW, HIGH = 0.8, 1.2
TEXTS = ("Wait, 2+2 is 4.", "So 4.", "Hmm. Let me re-check: 5.", "It is 5, no mistake.")


def _eval_rows(eval_id: str, seed: int) -> tuple[pa.Table, pa.Table]:
    rng = np.random.default_rng(seed)
    rows, tokens = [], []
    lengths = rng.permutation(np.arange(10, 10 + 5 * N * 6, 5))  # distinct lengths
    for p in range(6):
        for k in range(N):
            length = int(lengths[p * N + k])
            correct = bool(rng.random() < 0.3 + 0.002 * length)
            sid = sample_id(eval_id, f"q{p}", k)
            rows.append(
                {
                    "sample_id": sid, "eval_id": eval_id, "dataset": "toy",
                    "problem_id": f"q{p}", "sample_idx": k, "text": TEXTS[(p + k) % 4],
                    "n_tokens": length, "correct": correct,
                    "extracted": str(p) if correct else str(100 + (k % 2)),
                }
            )  # fmt: skip
            tokens.append(
                {
                    "sample_id": [sid] * length, "pos": list(range(length)),
                    "token_id": [0] * length, "token": ["x"] * length,
                    # Weights drawn on [0.8, 1.2] with many exactly at a bound (as clipping does).
                    "influence_weight": np.clip(rng.normal(1.0, 0.2, length), LOW, HIGH),
                }
            )  # fmt: skip
    samples = pa.Table.from_pylist(rows).cast(
        pa.schema(
            [("sample_id", pa.int64()), ("eval_id", pa.string()), ("dataset", pa.string()),
             ("problem_id", pa.string()), ("sample_idx", pa.int32()), ("text", pa.string()),
             ("n_tokens", pa.int32()), ("correct", pa.bool_()), ("extracted", pa.string())]
        )
    )  # fmt: skip
    token_table = pa.table(
        {
            "sample_id": pa.array(np.concatenate([t["sample_id"] for t in tokens]), pa.int64()),
            "pos": pa.array(np.concatenate([t["pos"] for t in tokens]), pa.int32()),
            "token_id": pa.array(np.concatenate([t["token_id"] for t in tokens]), pa.int32()),
            "token": pa.array(np.concatenate([t["token"] for t in tokens]), pa.string()),
            "influence_weight": pa.array(
                np.concatenate([t["influence_weight"] for t in tokens]), pa.float32()
            ),
        }
    ).sort_by([("sample_id", "ascending"), ("pos", "ascending")])
    return samples, token_table


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "r.duckdb"
    store = Store(path)
    for i, eval_id in enumerate(("ev-a", "ev-b")):
        run = LABELS[eval_id].split("@")[0]  # a trainer's checkpoint folder names its run
        store.upsert_eval(
            eval_id, dataset="toy", n=N, temperature=1.0, top_p=1.0, max_tokens=200, seed=0,
            engine="hf", model_path=f"/runs/{run}/checkpoints/step-000012",
        )  # fmt: skip
        samples, tokens = _eval_rows(eval_id, seed=i)
        store.write_samples(samples, tokens)
        store.set_eval_status(eval_id, "done")
    # Only ev-a has credit; its record holds the bounds the report measures against.
    store.upsert_analysis("ev-a", "credit", {"influence_low": LOW, "influence_high": HIGH})
    store.upsert_run("run-1", kind="train", algo="fipo", name="tiny-fipo")
    for step in (1, 2, 3):
        store.write_train_metrics(
            "run-1", step,
            {f"response_length/{s}": 10.0 * step + j for j, s in
             enumerate(("min", "q25", "mean", "median", "q75", "max"))} | {"acc/mean": 0.5},
        )  # fmt: skip
    return path


def _sql(db, query: str, params=()) -> pd.DataFrame:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(query, list(params)).df()
    finally:
        con.close()


def test_eval_numbers_equal_independent_duckdb_and_pandas(db):
    report = build_report(Store(db, read_only=True), ["ev-a", "ev-b"], resamples=500)
    assert list(report.evals.columns) == ["tiny-fipo@12", "tiny-dapo@12"]
    for eval_id in ("ev-a", "ev-b"):
        col = report.evals[LABELS[eval_id]]
        assert col["eval id"] == eval_id
        s = _sql(db, "SELECT * FROM samples WHERE eval_id = ?", [eval_id])
        per_problem = s.groupby("problem_id")["correct"].mean()
        assert col["avg@k"] == pytest.approx(per_problem.mean())
        assert col["pass@1"] == pytest.approx(per_problem.mean())
        assert col[f"pass@{N}"] == pytest.approx((per_problem > 0).mean())

        # Majority vote over extracted answers; a tie goes to the answer seen first by index.
        def vote(group: pd.DataFrame) -> bool:
            group = group.sort_values("sample_idx")
            counts = group["extracted"].value_counts()
            tied = set(counts[counts == counts.max()].index)
            winner = group[group["extracted"].isin(tied)].iloc[0]
            return bool(winner["correct"])

        cons = s.groupby("problem_id")[["sample_idx", "extracted", "correct"]].apply(vote)
        assert col["cons@k"] == pytest.approx(cons.mean())
        stats = _sql(
            db,
            """SELECT min(n_tokens) AS min, quantile_cont(n_tokens, 0.25) AS q25,
                      avg(n_tokens) AS mean, median(n_tokens) AS median,
                      quantile_cont(n_tokens, 0.75) AS q75, max(n_tokens) AS max,
                      regr_slope(CAST(correct AS DOUBLE), n_tokens) AS slope,
                      regr_r2(CAST(correct AS DOUBLE), n_tokens) AS r2
               FROM samples WHERE eval_id = ?""",
            [eval_id],
        ).iloc[0]
        for stat in ("min", "q25", "mean", "median", "q75", "max"):
            assert col[f"response length {stat}"] == pytest.approx(stats[stat])
        assert col["w per 1k tokens (per sample)"] == pytest.approx(1000 * stats["slope"])
        assert col["R^2 (per sample)"] == pytest.approx(stats["r2"])
        low = col["w per 1k tokens (per sample) ci_low"]
        assert (
            low < col["w per 1k tokens (per sample)"] < col["w per 1k tokens (per sample) ci_high"]
        )
        per_problem = _sql(
            db,
            """SELECT regr_slope(acc, len) AS slope, regr_r2(acc, len) AS r2 FROM (
                   SELECT avg(CAST(correct AS DOUBLE)) AS acc, avg(n_tokens) AS len
                   FROM samples WHERE eval_id = ? GROUP BY problem_id)""",
            [eval_id],
        ).iloc[0]
        assert col["w per 1k tokens (per problem)"] == pytest.approx(1000 * per_problem["slope"])
        assert col["R^2 (per problem)"] == pytest.approx(per_problem["r2"])
        # Length quartiles: 24 distinct lengths -> four groups of six by rank.
        s["quartile"] = pd.qcut(s["n_tokens"].rank(method="first"), 4, labels=[1, 2, 3, 4])
        by_quartile = s.groupby("quartile", observed=True)["correct"].mean()
        for q in range(1, 5):
            assert col[f"accuracy length quartile {q}"] == pytest.approx(by_quartile[q])
        reflective = s["text"].str.contains(r"(?i)\b(?:wait|hmm|mistake)\b")
        assert col["reflection rate"] == pytest.approx(reflective.mean())
        assert col["accuracy reflective"] == pytest.approx(s.loc[reflective, "correct"].mean())
        assert col["accuracy direct"] == pytest.approx(s.loc[~reflective, "correct"].mean())
        assert col["avg@k SE"] == pytest.approx(per_problem_sd(s) / np.sqrt(6))
    w = _sql(
        db,
        """SELECT avg(influence_weight) AS mean,
                  avg(CAST(influence_weight >= ? AS DOUBLE)) AS upper,
                  avg(CAST(influence_weight <= ? AS DOUBLE)) AS lower
           FROM tokens JOIN samples USING (sample_id) WHERE eval_id = 'ev-a'""",
        [HIGH - 1e-6, LOW + 1e-6],
    ).iloc[0]
    col = report.evals["tiny-fipo@12"]
    assert col["influence weight mean"] == pytest.approx(w["mean"])
    assert (
        col["influence weight share at upper bound"] == pytest.approx(w["upper"]) and w["upper"] > 0
    )
    assert (
        col["influence weight share at lower bound"] == pytest.approx(w["lower"]) and w["lower"] > 0
    )
    assert np.isnan(report.evals.loc["influence weight mean", "tiny-dapo@12"])  # no credit


def per_problem_sd(samples: pd.DataFrame) -> float:
    return float(samples.groupby("problem_id")["correct"].mean().std(ddof=1))


def test_differences_are_the_compare_command_numbers(db):
    store = Store(db, read_only=True)
    report = build_report(store, ["ev-a", "ev-b"], resamples=500, seed=4)
    assert report.comparison is not None
    assert (
        report.comparison.records()
        == compare_evals(store, ["ev-a", "ev-b"], resamples=500, seed=4).records()
    )


def test_training_run_lengths_per_step_come_from_train_metrics(db):
    report = build_report(Store(db, read_only=True), [], ["run-1"])
    expected = _sql(
        db,
        """SELECT 'tiny-fipo' AS run, run_id, step,
                  replace(name, 'response_length/', '') AS stat, value
           FROM train_metrics WHERE name LIKE 'response_length/%' ORDER BY stat, step""",
    )
    got = report.runs.sort_values(["stat", "step"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


@pytest.mark.parametrize("fmt", ["csv", "md", "html"])
def test_cli_writes_each_format_with_the_report_numbers(db, tmp_path, fmt):
    out = tmp_path / f"report.{fmt}"
    argv = ["report", "--eval", "ev-a", "--eval", "ev-b", "--run", "run-1", "--format", fmt,
            "--out", str(out), "--db", str(db), "--resamples", "500"]  # fmt: skip
    assert main(argv) == 0
    text = out.read_text()
    report = build_report(Store(db, read_only=True), ["ev-a", "ev-b"], ["run-1"], resamples=500)
    if fmt == "csv":
        rows = pd.read_csv(io.StringIO(text))
        avg = rows[(rows["metric"] == "avg@k") & (rows["id"] == "tiny-dapo@12")]["value"]
        assert float(avg.item()) == pytest.approx(report.evals.loc["avg@k", "tiny-dapo@12"])
        assert set(rows[rows["section"] == "eval"]["source_id"]) == {"ev-a", "ev-b"}
        assert len(rows[rows["section"] == "run"]) == 3 * 6
        delta = rows[(rows["section"] == "compare") & (rows["metric"] == f"avg@{N} delta")]
        record = report.comparison.records()[0]
        assert float(delta["value"].item()) == pytest.approx(record["delta"])
    else:
        assert "tiny-fipo@12" in text and "tiny-dapo@12" in text and "reflection rate" in text
        assert "Differences" in text and "95% CI" in text and "tiny-fipo" in text
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left behind
    # An ordinary file: the user's umask decides, as for any file they create (not 0600).
    umask = os.umask(0)
    os.umask(umask)
    assert S_IMODE(out.stat().st_mode) == 0o666 & ~umask


def test_html_report_is_self_contained(db):
    report = build_report(Store(db, read_only=True), ["ev-a", "ev-b"], ["run-1"], resamples=200)
    page = render_html(report)
    assert page.count("plotly.js v") == 1  # plotly.js inlined exactly once
    assert page.count("Plotly.newPlot(") == 3
    # Outside plotly.js's own inlined source (whose strings name URLs it never fetches here),
    # nothing refers to the network.
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", page, flags=re.S)
    library = max(scripts, key=len)
    rest = page.replace(library, "")
    assert "http" not in rest.lower() and "cdn" not in rest.lower()
    assert not re.search(r"<script[^>]+src\s*=", page, flags=re.I)
    assert not re.search(r"<link[^>]+href\s*=", page, flags=re.I)
    assert "@import" not in rest and "url(" not in rest


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--eval", "nope"], "eval 'nope' is not in"),
        (["--run", "nope"], "run 'nope' is not in"),
        (["--eval", "ev-a", "--format", "pdf"], "--format 'pdf' is unknown"),
        ([], "nothing to report"),
    ],
)
def test_bad_report_input_exits_2_and_writes_nothing(db, tmp_path, capsys, args, message):
    out = tmp_path / "r.md"
    assert main(["report", *args, "--out", str(out), "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_output_in_a_missing_folder_is_refused(db, tmp_path, capsys):
    out = tmp_path / "missing" / "r.html"
    argv = ["report", "--eval", "ev-a", "--format", "html", "--out", str(out), "--db", str(db)]
    assert main(argv) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not out.parent.exists()
    with pytest.raises(Exception, match="does not exist"):
        write_report(build_report(Store(db, read_only=True), ["ev-a"]), "md", out)


def test_the_same_data_render_the_same_html_bytes(db):
    """The dashboard's Export compares its download with the CLI's file byte for byte."""
    store = Store(db, read_only=True)
    first = render_html(build_report(store, ["ev-a", "ev-b"], ["run-1"], resamples=200))
    again = render_html(build_report(store, ["ev-a", "ev-b"], ["run-1"], resamples=200))
    assert first == again
