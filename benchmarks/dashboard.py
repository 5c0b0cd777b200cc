"""Dashboard speed in headless Chromium and the page queries on a 10,000,000-token store.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/dashboard.py --demo-db DEMO_DB \
        [--big-db /tmp/fipo_dash_bench.duckdb] [--repeats 5] [--no-browser]

For each database every page is opened in a fresh browser context (nothing cached, Streamlit's
JS fetched again) `--repeats` times; the time is from navigation until the page's main content
is visible (PAGE_MAIN), the median is printed with its ratio to the goal (< 1 is within goal).
Goals: every page <= 2.0 s on the demo database, <= 3.0 s on the 10,000,000-token store, the
20,000-token heatmap <= 2.0 s. The big store is built once with the store's bulk insert
(Store.write_samples with Arrow batches) and reused while it holds the expected rows; its page
queries are timed too (goal <= 0.5 s each).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "app"), str(ROOT / "tests")]  # the app's modules, the browser helpers

from fipo_bench.store import Store, sample_id  # noqa: E402
from fipo_bench.store import dashboard_queries as dq  # noqa: E402

EVALS = ("bench-base", "bench-fipo")
PROBLEMS = 100
N = 10  # samples per problem and eval
TOKENS_PER_SAMPLE = 5_000  # 2 evals x 100 problems x 10 samples x 5,000 = 10,000,000 rows
LONG_TOKENS = 20_000  # one extra sample of this length: the heatmap benchmark
QUERY_GOAL_S = 0.5
HEATMAP_GOAL_S = 2.0
VOCAB = np.array([*"0123456789+-*/=() abcdefghijklmnopqrstuvwxyz", "\n", " Wait", ","])


def _tokens(sid: int, n: int, rng: np.random.Generator) -> pa.Table:
    delta = rng.normal(0, 0.05, n).astype(np.float32)
    # future_kl as the store would hold it: a discounted reverse sum of delta (half-life 32).
    gamma = 2.0 ** (-1 / 32)
    fkl = np.empty(n, np.float32)
    acc = 0.0
    for t in range(n - 1, -1, -1):
        acc = delta[t] + gamma * acc
        fkl[t] = acc
    return pa.table(
        {
            "sample_id": pa.array(np.full(n, sid), pa.int64()),
            "pos": pa.array(np.arange(n), pa.int32()),
            "token_id": pa.array(rng.integers(0, len(VOCAB), n), pa.int32()),
            "token": pa.array(VOCAB[rng.integers(0, len(VOCAB), n)]),
            "logp": pa.array(-rng.exponential(1.0, n), pa.float32()),
            "ref_logp": pa.array(-rng.exponential(1.0, n), pa.float32()),
            "delta": pa.array(delta),
            "future_kl": pa.array(fkl),
            "influence_weight": pa.array(np.clip(np.exp(fkl), 0.8, 1.2).astype(np.float32)),
            "entropy": pa.array(rng.exponential(1.0, n), pa.float32()),
        }
    )


RUN_STEPS = 500  # the training run's logged steps (the Training page's curves)
RUN_METRICS = ("reward/mean", "acc/mean", "response_length/mean", "entropy", "policy_kl",
               "influence_weight/mean", "grad_norm", "clip_ratio/high")  # fmt: skip


def build(db: Path) -> int:
    """Write the benchmark database; returns the long sample's id."""
    store = Store(db)
    rng = np.random.default_rng(0)
    store.upsert_run("bench-run", kind="train", name="bench-run", algo="fipo", preset="bench")
    for step in range(1, RUN_STEPS + 1):
        store.write_train_metrics(
            "bench-run", step, {name: float(rng.normal()) for name in RUN_METRICS}
        )
    for eval_id in EVALS:
        store.upsert_eval(
            eval_id,
            dataset="bench",
            n=N,
            temperature=1.0,
            top_p=0.7,
            max_tokens=LONG_TOKENS,
            seed=0,
            engine="hf",
        )
        for p0 in range(0, PROBLEMS, 10):  # 10 problems x 10 samples = 500,000 tokens a batch
            rows, tokens = [], []
            for p in range(p0, p0 + 10):
                for k in range(N):
                    sid = sample_id(eval_id, f"p{p}", k)
                    n = TOKENS_PER_SAMPLE
                    rows.append(
                        dict(
                            sample_id=sid,
                            eval_id=eval_id,
                            dataset="bench",
                            problem_id=f"p{p}",
                            sample_idx=k,
                            text="x" * 64,
                            n_tokens=n,
                            correct=bool(rng.random() < 0.4),
                            extracted=str(rng.integers(0, 5)),
                        )
                    )
                    tokens.append(_tokens(sid, n, rng))
            store.write_samples(pa.Table.from_pylist(rows), pa.concat_tables(tokens))
        store.set_eval_status(eval_id, "done")
    long_id = sample_id(EVALS[1], "long", 0)
    store.write_samples(
        pa.Table.from_pylist(
            [
                dict(
                    sample_id=long_id,
                    eval_id=EVALS[1],
                    dataset="bench",
                    problem_id="long",
                    sample_idx=0,
                    text="x",
                    n_tokens=LONG_TOKENS,
                    correct=False,
                    extracted=None,
                )
            ]
        ),
        _tokens(long_id, LONG_TOKENS, rng),
    )
    positions = np.sort(rng.choice(LONG_TOKENS, 40, replace=False))
    store.write_pivots(
        pa.table(
            {
                "sample_id": pa.array(np.full(40, long_id), pa.int64()),
                "pos": pa.array(positions, pa.int32()),
                "kind": ["credit"] * 40,
                "label": ["bench"] * 40,
                "score": np.ones(40),
            }
        )
    )
    return long_id


def timed(fn, repeats: int = 5) -> tuple[float, float]:
    """(first call, median of the next `repeats`) wall seconds."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return first, statistics.median(times)


def page_queries(db: Path, long_id: int) -> None:
    from fipo_bench.analysis.reports import build_report
    from fipo_dash.compare_data import problem_points

    store = Store(db, read_only=True)

    def compare() -> None:
        # What the Compare page reads and computes (one read-only connection, as the app).
        with store.reading() as s:
            dq.eval_overview(s)
            outcomes = dq.eval_outcomes(s, list(EVALS)).to_pandas()
        problem_points(outcomes)

    def compare_statistics() -> None:
        # The Compare page's statistics (cached per eval until it changes): the report's.
        build_report(store, list(EVALS))

    def trajectory() -> None:
        with store.reading() as s:
            dq.eval_overview(s)
            dq.eval_outcomes(s, [EVALS[1]])
            dq.eval_outcomes(s, [EVALS[1]], "long")
            tokens = s.trajectory(long_id)
            s.pivots(long_id)
            assert tokens.num_rows == LONG_TOKENS

    def heatmap_html() -> None:
        from fipo_dash.heatmap import page_scale, trajectory_html

        with store.reading() as s:
            tokens, pivots = s.trajectory(long_id), s.pivots(long_id)
        trajectory_html(tokens, pivots, page_scale([tokens], "future_kl"))

    counts = store.table_counts()
    print(f"database: {counts['tokens']:,} token rows, {counts['samples']:,} samples")
    for name, fn, goal in (
        ("compare page queries", compare, QUERY_GOAL_S),
        ("compare statistics (first view, then cached)", compare_statistics, None),
        ("trajectory page queries", trajectory, QUERY_GOAL_S),
        ("trajectory queries + 20k-token HTML", heatmap_html, QUERY_GOAL_S),
    ):
        first, median = timed(fn, repeats=5 if goal else 1)
        ratio = f"  ratio to {goal} s goal: {median / goal:.2f}" if goal else ""
        print(f"{name:46s} first {first:6.3f} s  median {median:6.3f} s{ratio}")


from dashboard_browser import VEGA_DRAWN  # noqa: E402  (tests/: the browser helpers)

# What "main content visible" means per page: its primary element is drawn (Compare: the
# pass@k chart under the statistics tables; Training: the first metric panel).
PAGE_MAIN = {
    "runs": '[data-testid="stDataFrame"]',
    "compare": VEGA_DRAWN,
    "samples": '[data-testid="stDataFrame"]',
    "trajectory": ".fipo-traj .tok",
    "training": VEGA_DRAWN,
    "export": '[data-testid="stDownloadButton"]',
}
DEMO_GOAL_S, BIG_GOAL_S = 2.0, 3.0


def fresh_load_seconds(browser, url: str, main: str, repeats: int) -> list[float]:
    """Seconds from navigation until `main` is visible, each in a fresh browser context
    (nothing cached, Streamlit's JS fetched again)."""
    times = []
    for _ in range(repeats):
        context = browser.new_context(viewport={"width": 1500, "height": 1000})
        page = context.new_page()
        t0 = time.perf_counter()
        page.goto(url)
        page.locator(main).first.wait_for(timeout=120_000)
        times.append(time.perf_counter() - t0)
        context.close()
    return times


# Streamlit's own floor on this machine, measured in the same run: a page that only draws a
# title and a small table, one that draws a two-point plotly chart (the browser loads
# plotly.js for it) and one with a two-point Vega-Lite chart (what the dashboard draws).
FLOOR_APP = """
import streamlit as st
st.title("floor")
kind = st.query_params.get("kind")
if kind == "plotly":
    import plotly.graph_objects as go
    st.plotly_chart(go.Figure(go.Scatter(x=[1, 2], y=[1, 2])))
elif kind == "vega":
    st.line_chart({"a": [1, 2]})
else:
    st.dataframe({"a": [1, 2]})
"""


def time_floor(repeats: int) -> None:
    """Median seconds to the floor pages' one element, fresh browser context each time."""
    import tempfile

    from dashboard_browser import chromium, free_port, stop, wait_healthy

    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "floor.py"
        script.write_text(FLOOR_APP)
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true",
             "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(base, server)
            with chromium() as browser:
                for name, query, main in (
                    ("table", "", '[data-testid="stDataFrame"]'),
                    ("plotly chart", "?kind=plotly", ".js-plotly-plot"),
                    ("Vega-Lite chart", "?kind=vega", VEGA_DRAWN),
                ):
                    times = fresh_load_seconds(browser, f"{base}/{query}", main, repeats)
                    print(f"{'floor':10s} {name:18s} median {statistics.median(times):5.2f} s"
                          "  (a bare Streamlit page with one such element)")  # fmt: skip
        finally:
            stop(server)


def page_urls(db: Path, long_sample: bool = False) -> dict[str, str]:
    """Each page with a query string a researcher would open: the evals that hold samples (at
    most four), the first problem of a credited eval with those evals beside it."""
    from urllib.parse import urlencode

    store = Store(db, read_only=True)
    with store.reading() as s:
        evals = [r for r in dq.eval_overview(s).to_pylist() if r["n_samples"]][-4:]
        credited = {r["eval_id"] for r in dq.analyses(s).to_pylist() if r["kind"] == "credit"}
        ids = [r["eval_id"] for r in evals]
        focus = next((e for e in ids if e in credited), ids[-1])
        problem = "long" if long_sample else dq.eval_outcomes(s, [focus])["problem_id"][0].as_py()
    side = [focus, *(e for e in ids if e != focus and not long_sample)]
    return {
        "runs": "runs",
        "compare": "compare?" + urlencode({"evals": ",".join(ids)}),
        "samples": "samples?" + urlencode({"evals": ",".join(ids)}),
        "trajectory": "trajectory?" + urlencode({"evals": ",".join(side), "problem": problem}),
        "training": "training",
        "export": "export?" + urlencode({"evals": ",".join(ids)}),
    }


def time_pages(db: Path, urls: dict[str, str], goal: float, repeats: int, label: str) -> None:
    """Median seconds to main content per page, fresh browser context each time."""
    from dashboard_browser import chromium, start_dashboard, stop

    server, base = start_dashboard(db, Path("/tmp") / f"fipo_dash_bench_{os.getpid()}.log")
    try:
        with chromium() as browser:
            for name, path in urls.items():
                times = fresh_load_seconds(browser, f"{base}/{path}", PAGE_MAIN[name], repeats)
                median = statistics.median(times)
                spread = f"{min(times):.2f}-{max(times):.2f}"
                print(
                    f"{label:10s} {name:18s} median {median:5.2f} s (range {spread} s)"
                    f"  ratio to {goal} s goal: {median / goal:.2f}"
                )
    finally:
        stop(server)


def _holds(db: Path, expected_tokens: int) -> bool:
    """Whether db is a readable benchmark database with the expected rows (an older schema or
    another row count means: build it again)."""
    from fipo_bench.errors import FipoBenchError

    if not db.exists():
        return False
    from fipo_bench.store.schema import SCHEMA_VERSION

    try:
        store = Store(db, read_only=True)
        counts = store.table_counts()
    except FipoBenchError:
        return False
    if store.file_schema_version != SCHEMA_VERSION:
        return False
    return counts["tokens"] == expected_tokens and counts["train_metrics"] == RUN_STEPS * len(
        RUN_METRICS
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--demo-db", type=Path, help="the demo's database (fipo-bench demo)")
    parser.add_argument("--big-db", type=Path, default=Path("/tmp/fipo_dash_bench.duckdb"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    expected = len(EVALS) * PROBLEMS * N * TOKENS_PER_SAMPLE + LONG_TOKENS
    long_id = sample_id(EVALS[1], "long", 0)
    if not _holds(args.big_db, expected):
        args.big_db.unlink(missing_ok=True)
        t0 = time.perf_counter()
        build(args.big_db)
        print(f"built {args.big_db} in {time.perf_counter() - t0:.1f} s")
    page_queries(args.big_db, long_id)
    if args.no_browser:
        return
    time_floor(args.repeats)
    if args.demo_db is not None:
        time_pages(args.demo_db, page_urls(args.demo_db), DEMO_GOAL_S, args.repeats, "demo")
    time_pages(args.big_db, page_urls(args.big_db), BIG_GOAL_S, args.repeats, "10M tokens")
    heatmap = {"trajectory": page_urls(args.big_db, long_sample=True)["trajectory"]}
    time_pages(args.big_db, heatmap, HEATMAP_GOAL_S, args.repeats, "20k heatmap")


if __name__ == "__main__":
    main()
