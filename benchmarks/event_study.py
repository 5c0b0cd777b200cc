"""How long the pivot event study takes over 1,000,000 credited tokens (goal: <= 5 s).

Writes an eval of 500 trajectories x 2,000 credited tokens with ~6 keyword pivots each
through the real store, then times `analysis.events.event_study` (K = 64, 1,000 bootstrap
resamples: DuckDB windows + mass share + 3-gram credit, and the trajectory bootstrap) and each
of its store queries alone. Prints the numbers and the ratio to the goal. Run:
  PYTHONPATH=$PWD python benchmarks/event_study.py [--trajectories 500] [--length 2000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

GOAL_S = 5.0


def _write(path: Path, n_traj: int, length: int) -> None:
    from fipo_bench.store import Store, sample_id

    store = Store(path)
    store.upsert_eval(
        "ev", dataset="toy", n=1, temperature=1.0, top_p=1.0, max_tokens=length, seed=0,
        engine="hf",
    )  # fmt: skip
    rng = np.random.default_rng(0)
    alphabet = np.array(list("abcdefgh "))
    for start in range(0, n_traj, 100):  # 100 trajectories (200k tokens) per transaction
        ids = [sample_id("ev", f"p{i}", 0) for i in range(start, min(start + 100, n_traj))]
        samples = pa.table(
            {
                "sample_id": pa.array(ids, pa.int64()),
                "eval_id": ["ev"] * len(ids),
                "dataset": ["toy"] * len(ids),
                "problem_id": [f"p{i}" for i in range(start, start + len(ids))],
                "sample_idx": pa.array([0] * len(ids), pa.int32()),
                "text": ["-"] * len(ids),
                "n_tokens": pa.array([length] * len(ids), pa.int32()),
                "correct": [bool(rng.random() < 0.5) for _ in ids],
            }
        )
        n = len(ids) * length
        tokens = pa.table(
            {
                "sample_id": pa.array(np.repeat(ids, length), pa.int64()),
                "pos": pa.array(np.tile(np.arange(length), len(ids)), pa.int32()),
                "token_id": pa.array(np.zeros(n), pa.int32()),
                "token": pa.array(alphabet[rng.integers(0, alphabet.size, n)]),
                "future_kl": pa.array(rng.normal(0, 0.05, n), pa.float32()),
                "influence_weight": pa.array(rng.uniform(1.0, 1.2, n), pa.float32()),
                "delta": pa.array(rng.normal(0, 0.01, n), pa.float32()),
                "entropy": pa.array(rng.exponential(0.5, n), pa.float32()),
            }
        )
        store.write_samples(samples, tokens)
        pivot_rows = {"sample_id": [], "pos": [], "kind": [], "label": [], "score": []}
        for sid in ids:
            hits = np.sort(rng.choice(length - 4, size=6, replace=False))
            for number, pos in enumerate(hits, start=1):
                for j in range(4):  # a hit covers the 4 tokens of "wait"
                    for key, value in zip(
                        pivot_rows, (sid, int(pos) + j, "keyword", "wait", float(number)),
                        strict=True,
                    ):  # fmt: skip
                        pivot_rows[key].append(value)
        store.write_pivots(
            pa.table(
                {
                    "sample_id": pa.array(pivot_rows["sample_id"], pa.int64()),
                    "pos": pa.array(pivot_rows["pos"], pa.int32()),
                    "kind": pivot_rows["kind"],
                    "label": pivot_rows["label"],
                    "score": pa.array(pivot_rows["score"], pa.float64()),
                }
            )
        )


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _cpu(fn) -> float:
    """CPU seconds of this process (all threads, DuckDB's included) spent in fn: on a busy
    machine the wall time waits for other work, the CPU time does not."""
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trajectories", type=int, default=500)
    parser.add_argument("--length", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from fipo_bench.analysis.events import event_study
    from fipo_bench.store import Store
    from fipo_bench.store.analysis_queries import (
        credit_mass_near_pivots,
        credit_ngrams,
        event_windows,
    )

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "events.duckdb"
        _write(db, args.trajectories, args.length)
        store = Store(db, read_only=True)
        with store.reading():
            event_study(store, "ev", resamples=10)  # warm: imports and the file cache
            total = min(_timed(lambda: event_study(store, "ev")) for _ in range(args.repeats))
            cpu = min(_cpu(lambda: event_study(store, "ev")) for _ in range(args.repeats))
            windows = _timed(lambda: event_windows(store, "ev", window=64, seed=0))
            mass = _timed(lambda: credit_mass_near_pivots(store, "ev", window=64))
            grams = _timed(lambda: credit_ngrams(store, "ev", n=3, min_trajectories=3, top=10))
            study = event_study(store, "ev")
    tokens = args.trajectories * args.length
    print(f"event study over {tokens:,} credited tokens, {study.n_pivots} pivots, K = 64")
    print(f"  event_study (all of it, best of {args.repeats}): {total:6.3f} s"
          f"  ratio to the {GOAL_S:g} s goal: {total / GOAL_S:.2f}")  # fmt: skip
    print(f"  CPU time of event_study (all threads):       {cpu:6.3f} s; / {os.cpu_count()} cores"
          f" = {cpu / os.cpu_count():.3f} s, the wall time of an idle machine at best")  # fmt: skip
    print(f"  load average while measuring: {os.getloadavg()[0]:.1f}")
    print(f"    windows around pivots + random positions: {windows:6.3f} s")
    print(f"    |Future-KL| mass near pivots:             {mass:6.3f} s")
    print(f"    3-gram credit:                            {grams:6.3f} s")


if __name__ == "__main__":
    main()
