"""Dashboard soak: every page loaded again and again while a real `fipo-bench eval` and a real
`fipo-bench train` write to the same DuckDB file, then after the eval is killed with SIGKILL,
then after the trainer is killed too. Goal: zero page exceptions over 500 loads of every page.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/dashboard_soak.py --db DEMO_DB --model BASE_DIR \\
        [--loads 500] [--work /tmp/fipo_dash_soak]

--db is copied (the copy gets the writers; the original is not touched); --model is the model
the writers use (e.g. the demo's base-model folder). A load is one fresh Streamlit session
running the page through Home.py's navigation (streamlit.testing's AppTest: the same script
runner the server uses), with a query string that puts the live and dead evals and runs on the
page. It counts page exceptions (a crashed script run) and error boxes (st.error: e.g. a read
that waited out its lock) per phase and page, and prints the load times' median.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "app")]

from dashboard_live import eval_row, read, start_live  # noqa: E402

from fipo_bench.store import dashboard_queries as dq  # noqa: E402

PAGES = (
    "views/runs.py",
    "views/compare.py",
    "views/samples.py",
    "views/trajectory.py",
    "views/training.py",
    "views/export.py",
)


def page_queries(live) -> dict[str, dict[str, str]]:
    """Each page's query string: every eval (running, killed, failed ones included), the live
    eval's first problem in Trajectory, every training run."""
    evals = read(live.db, dq.eval_overview).to_pylist()
    every = ",".join(r["eval_id"] for r in evals)
    running = eval_row(live.db, live.running_seed)["eval_id"]
    killed = eval_row(live.db, live.killed_seed)["eval_id"]
    problem = read(live.db, lambda s: dq.eval_outcomes(s, [running]))["problem_id"][0].as_py()
    runs = ",".join(read(live.db, lambda s: s.list_runs(kind="train"))["run_id"].to_pylist())
    return {
        "views/runs.py": {},
        "views/compare.py": {"evals": every},
        "views/samples.py": {"evals": every},
        "views/trajectory.py": {"evals": f"{running},{killed}", "problem": problem},
        "views/training.py": {"runs": runs},
        "views/export.py": {"evals": every, "runs": runs},
    }


_COMPONENTS = []  # AppTest's custom-component registry, scanned once (see load_page)


def load_page(page: str, query: dict[str, str]) -> tuple[float, list[str], list[str]]:
    """(seconds, exception messages, error-box messages) of one fresh page load."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app" / "Home.py"), default_timeout=300)
    if _COMPONENTS:
        # Each AppTest scans every installed package for Streamlit components (~2 s here) before
        # its first run; the app uses none, so the harness shares one scan. The page itself
        # still runs in a fresh session every time.
        at._bidi_component_manager = _COMPONENTS[0]
    for key, value in query.items():
        at.query_params[key] = value
    at.switch_page(page)
    t0 = time.perf_counter()
    at.run()
    if not _COMPONENTS and at._bidi_component_manager is not None:
        _COMPONENTS.append(at._bidi_component_manager)
    return (
        time.perf_counter() - t0,
        [str(e.value).splitlines()[0] for e in at.exception],
        [str(e.value) for e in at.error],
    )


def soak(live, loads_per_page: int) -> int:
    """Run the three phases; returns the number of page exceptions."""
    per_phase = [loads_per_page // 3 + (1 if i < loads_per_page % 3 else 0) for i in range(3)]
    phases = ("eval + train writing", "eval killed, train writing", "both killed")
    failures = 0
    print(f"{'phase':28s} {'page':11s} {'loads':>5s} {'exceptions':>10s} {'errors':>6s}"
          f" {'median s':>8s} {'writers alive':>13s}")  # fmt: skip
    for phase, count in zip(phases, per_phase, strict=True):
        if phase.startswith("eval killed"):
            live.running.signal(signal.SIGKILL)
        elif phase == "both killed":
            live.train.signal(signal.SIGKILL)
        queries = page_queries(live)
        stats = {page: ([], [], []) for page in PAGES}
        alive_all = True
        for _ in range(count):
            for page in PAGES:
                seconds, exceptions, errors = load_page(page, queries[page])
                times, excs, errs = stats[page]
                times.append(seconds)
                excs += exceptions
                errs += errors
            if phase.startswith("eval + train"):
                alive_all &= live.running.alive() and live.train.alive()
            elif phase.startswith("eval killed"):
                alive_all &= live.train.alive()
        for page, (times, excs, errs) in stats.items():
            failures += len(excs)
            print(
                f"{phase:28s} {Path(page).stem:11s} {len(times):5d} {len(excs):10d}"
                f" {len(errs):6d} {statistics.median(times):8.2f} {alive_all!s:>13s}"
            )
            for message in sorted(set(excs + errs))[:3]:
                print(f"    {message[:150]}")
    return failures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", type=Path, required=True, help="a fipo-bench database (copied)")
    parser.add_argument("--model", type=Path, required=True, help="model dir for the writers")
    parser.add_argument("--loads", type=int, default=500, help="loads of every page, in all")
    parser.add_argument("--work", type=Path, default=Path("/tmp/fipo_dash_soak"))
    args = parser.parse_args()
    if not args.db.is_file() or not (args.model / "config.json").is_file():
        parser.error(f"--db {args.db} must be a file and --model {args.model} a model folder")
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    db = args.work / "soak.duckdb"
    shutil.copyfile(args.db, db)
    os.environ["FIPO_BENCH_DB"] = str(db)
    t0 = time.perf_counter()
    # SIGTERM (timeout, kill) ends the soak through its finally, which stops the writers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # 200 problems x 32 samples: the eval outlives the writing phase on a loaded machine.
    live = start_live(db, args.model.resolve(), args.work, running_n=32)
    print(f"writers started in {time.perf_counter() - t0:.0f} s on {db}")
    try:
        failures = soak(live, args.loads)
    finally:
        live.stop()
    total = args.loads * len(PAGES)
    print(f"{failures} page exceptions in {total} page loads ({args.loads} of each of"
          f" {len(PAGES)} pages); goal 0")  # fmt: skip
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
