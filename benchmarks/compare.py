"""How long `fipo-bench compare` takes: 4 evals x 30 problems x 32 samples, 10,000 resamples.

Goal: <= 2 s on 2 cores. Writes a fresh database through the real store, then times
  1. compare_evals in this process (database read + statistics, imports already done),
  2. the statistics alone (3 paired comparisons, bootstrap + permutation test),
  3. `python -m fipo_bench compare ... --format json` as a user runs it (a new process:
     interpreter start and imports included), and that process importing only the modules.
Prints the numbers and their ratio to the goal. Run:
  PYTHONPATH=$PWD python benchmarks/compare.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

GOAL_S = 2.0


def _write_db(path: Path, n_evals: int, n_problems: int, n: int) -> list[str]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from stats_fixture import write_eval

    from fipo_bench.store import Store

    store = Store(path)
    rng = np.random.default_rng(0)
    difficulty = rng.uniform(0, 1, (n_problems, 1))
    ids = []
    for i in range(n_evals):
        correct = rng.random((n_problems, n)) < np.clip(difficulty + 0.05 * i, 0, 1)
        lengths = rng.integers(100, 4000, (n_problems, n))
        ids.append(write_eval(store, f"ev-{i}", correct, lengths=lengths))
    return ids


def _best(fn, repeats: int, clock=time.perf_counter) -> float:
    """Best of `repeats` by `clock` (wall time; or process_time: CPU seconds of all threads,
    which a busy machine does not inflate)."""
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--resamples", type=int, default=10_000)
    args = parser.parse_args()

    from fipo_bench.analysis.compare import compare_evals, compare_scored, score
    from fipo_bench.analysis.evals import load_evals
    from fipo_bench.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        ids = _write_db(db, n_evals=4, n_problems=30, n=32)
        store = Store(db, read_only=True)
        compare_evals(store, ids, resamples=100)  # warm up imports and the file cache
        run = lambda: compare_evals(store, ids, resamples=args.resamples)  # noqa: E731
        in_process = _best(run, args.repeats)
        cpu = _best(run, args.repeats, clock=time.process_time)
        scored = [score(e) for e in load_evals(store, ids)]
        stats_only = _best(lambda: compare_scored(scored, resamples=args.resamples), args.repeats)
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        evals = [arg for e in ids for arg in ("--eval", e)]
        argv = [sys.executable, "-m", "fipo_bench", "compare", *evals, "--db", str(db),
                "--format", "json", "--resamples", str(args.resamples)]  # fmt: skip
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        cli = _best(lambda: subprocess.run(argv, env=env, check=True, capture_output=True), 1)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cli_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        imports = [
            sys.executable,
            "-c",
            "import fipo_bench.cli, fipo_bench.analysis.compare, scipy.stats",
        ]
        import_s = _best(lambda: subprocess.run(imports, env=env, check=True), 1)

    print(f"4 evals x 30 problems x 32 samples, {args.resamples} resamples, 3 comparisons")
    print(f"  statistics only (bootstrap + permutation): {stats_only:6.3f} s")
    print(f"  compare_evals in process (read + stats):    {in_process:6.3f} s"
          f"  ratio to the {GOAL_S:g} s goal: {in_process / GOAL_S:.2f}")  # fmt: skip
    print(f"  compare_evals CPU time (all threads):       {cpu:6.3f} s")
    print(f"  CLI, new process (start + imports + work):  {cli:6.3f} s"
          f"  ratio to the {GOAL_S:g} s goal: {cli / GOAL_S:.2f}")  # fmt: skip
    print(f"  CLI CPU time (user + system, all threads):  {cli_cpu:6.3f} s")
    print(f"    of which interpreter start + imports:     {import_s:6.3f} s (wall)")
    print(f"  load average while measuring: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
