"""The store at study scale: a 200,000,000-row tokens table (ten checkpoints x two benchmarks x
30 problems x 32 samples of ~10,400 tokens, every row with credit), built with DuckDB's own SQL.

    nice -n 10 .venv/bin/python benchmarks/store_scale.py [--rows 200000000] [--dir /tmp/x]

Measures, on one machine in one run:
1. bytes per token row on disk: the database file / token rows, for the v4 layout (seq-ordered
   token_rows + token_ranges behind the `tokens` view) and, on --before-rows rows from the
   same generator, for the v3 layout (one flat `tokens` table);
2. one 20,000-token trajectory through `Store.trajectory` (open + query + close, and inside
   `Store.reading()`), median of --fetches samples, next to the same rows selected by
   sample_id alone (what zone maps give without the seq range); goal <= 50 ms;
3. the Compare and Trajectory pages' store queries (the calls app/fipo_dash/source.py makes,
   through store/dashboard_queries.py as it is), median of 5; goal <= 0.5 s;
4. the peak resident memory (VmHWM) of a fresh process that runs those two pages with
   Streamlit's AppTest (the dashboard's own page code) on the database; goal <= 2 GiB.
The database is deleted at the end unless --keep. Values: logp ~ -exp(N(-3, 2.5)), ref_logp
and delta close to it, future_kl ~ N(0, 0.05), influence_weight = clip(exp(future_kl), 0.8,
1.2), entropy ~ lognormal; token ids Zipf-like over a 151,000-token vocabulary; all float32
with full mantissas, as models produce them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import duckdb
import numpy as np
import pyarrow as pa

from fipo_bench.store import Store, sample_id
from fipo_bench.store import dashboard_queries as dq
from fipo_bench.store.connection import migrate
from fipo_bench.store.schema import MIGRATIONS

ROOT = Path(__file__).resolve().parents[1]
VOCAB = 151_000
EVALS = [f"ckpt{c}-{b}" for c in range(10) for b in ("aime24", "aime25")]
PROBLEMS = 30
N = 32
LONG = 20_000
FETCH_GOAL_S, PAGE_GOAL_S, MEMORY_GOAL_B = 0.05, 0.5, 2 * 2**30

# Per-row values from uniform draws u1..u6 (DuckDB's random(); Box-Muller for normals).
_VALUES = """
    (floor(exp(u5 * ln({vocab}.0))) - 1)::INTEGER AS token_id,
    greatest(-exp(-3 + 2.5 * z1), -30)::FLOAT AS logp,
    least(greatest(-exp(-3 + 2.5 * z1), -30) + 0.05 * z2, 0)::FLOAT AS ref_logp,
    (0.02 * z3)::FLOAT AS delta,
    (0.05 * z4)::FLOAT AS future_kl,
    least(greatest(exp(0.05 * z4), 0.8), 1.2)::FLOAT AS influence_weight,
    least(exp(-1.5 + 1.05 * z1 + 0.7 * z3), 8)::FLOAT AS entropy"""
_NORMALS = """
    sqrt(-2 * ln(u1 + 1e-12)) * cos(2 * pi() * u2) AS z1,
    sqrt(-2 * ln(u1 + 1e-12)) * sin(2 * pi() * u2) AS z2,
    sqrt(-2 * ln(u3 + 1e-12)) * cos(2 * pi() * u4) AS z3,
    sqrt(-2 * ln(u3 + 1e-12)) * sin(2 * pi() * u4) AS z4"""
_VOCAB_SQL = f"""
    SELECT i::INTEGER AS token_id,
           CASE WHEN i % 3 = 0 THEN ' ' ELSE '' END
           || substr(md5(i::VARCHAR), 1, 2 + (hash(i) % 7)::INTEGER) AS token
    FROM range({VOCAB}) r(i)"""


def plan_samples(total_rows: int) -> pa.Table:
    """Samples in write order (eval, then one unit per problem, sample_id order inside it),
    with lengths averaging total_rows / samples; each eval's first sample is LONG tokens."""
    rng = np.random.default_rng(0)
    n_samples = len(EVALS) * PROBLEMS * N
    mean = total_rows / n_samples
    lengths = rng.integers(int(mean * 0.08), int(mean * 1.92) + 1, n_samples)
    rows = []
    for eval_id in EVALS:
        for p in range(PROBLEMS):
            unit = sorted((sample_id(eval_id, f"p{p}", i), i) for i in range(N))
            for sid, i in unit:
                k = len(rows)
                n = LONG if (p == 0 and i == 0) else int(min(lengths[k], LONG))
                rows.append((sid, eval_id, f"p{p}", i, n, bool(rng.random() < 0.3)))
    cols = list(zip(*rows, strict=True))
    n_tokens = np.array(cols[4], np.int64)
    start = np.r_[0, np.cumsum(n_tokens)[:-1]]
    return pa.table(
        {
            "sample_id": pa.array(cols[0], pa.int64()),
            "eval_id": pa.array(cols[1]),
            "problem_id": pa.array(cols[2]),
            "sample_idx": pa.array(cols[3], pa.int32()),
            "n_tokens": pa.array(n_tokens, pa.int32()),
            "correct": pa.array(cols[5]),
            "token_start": pa.array(start, pa.int64()),
            "token_stop": pa.array(start + n_tokens, pa.int64()),
        }
    )


def _rows_sql(ranges: str) -> str:
    """One row per token of the samples in relation `ranges`, in seq order, its text last."""
    return f"""
        SELECT t.*, v.token FROM (
            SELECT seq, sample_id, pos, {_VALUES.format(vocab=VOCAB)} FROM (
                SELECT *, {_NORMALS} FROM (
                    SELECT r.token_start + p AS seq, r.sample_id, p::INTEGER AS pos,
                           random() AS u1, random() AS u2, random() AS u3, random() AS u4,
                           random() AS u5
                    FROM (SELECT *, unnest(range(token_stop - token_start)) AS p FROM {ranges}) r
                )
            )
        ) t LEFT JOIN vocab v USING (token_id) ORDER BY seq"""


def build_v4(path: Path, plan: pa.Table) -> float:
    """The database as the store's writers leave it, filled by SQL; returns seconds."""
    started = time.perf_counter()
    store = Store(path)
    store.upsert_problems(
        [SimpleNamespace(dataset="bench", problem_id=f"p{p}", problem="?", answer="1", meta={})
         for p in range(PROBLEMS)]
    )  # fmt: skip
    for eval_id in EVALS:
        store.upsert_eval(
            eval_id, dataset="bench", n=N, temperature=1.0, top_p=1.0, max_tokens=LONG,
            seed=0, engine="vllm",
        )  # fmt: skip
    samples = plan.select(["sample_id", "eval_id", "problem_id", "sample_idx", "n_tokens"])
    samples = samples.append_column("dataset", pa.array(["bench"] * plan.num_rows))
    samples = samples.append_column("text", pa.array(["x" * 200] * plan.num_rows))
    samples = samples.append_column("correct", plan["correct"])
    samples = samples.append_column("verify_status", pa.array(["ok"] * plan.num_rows))
    store.write_samples(samples, None)
    con = duckdb.connect(str(path))
    try:
        con.execute("SET threads = 2; SELECT setseed(0.5)")
        con.execute(f"CREATE TEMP TABLE vocab AS {_VOCAB_SQL}")
        for eval_id in EVALS:  # one eval (~10M rows) per transaction, as an eval would write
            part = plan.filter(pa.compute.equal(plan["eval_id"], eval_id))
            con.register("part", part.select(["sample_id", "token_start", "token_stop"]))
            con.execute("INSERT INTO token_ranges SELECT * FROM part")
            con.execute(
                "INSERT INTO token_rows (seq, sample_id, pos, token_id, logp, ref_logp, delta,"
                " future_kl, influence_weight, entropy, token)" + _rows_sql("part")
            )
            # Pivots of the credit analysis: about 1 row in 200, by (sample_id, pos).
            con.execute(
                """
                INSERT INTO pivots SELECT r.sample_id, r.pos, 'entropy', NULL, r.entropy
                FROM token_rows r SEMI JOIN part p ON r.sample_id = p.sample_id
                WHERE hash(r.seq) % 200 = 0 ORDER BY r.sample_id, r.pos
                """
            )
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return time.perf_counter() - started


def bytes_per_row_v3(path: Path, plan: pa.Table, rows: int) -> float:
    """The v3 layout (flat tokens table, text per row) on the first `rows` rows of `plan`."""
    stop = int(np.searchsorted(plan["token_stop"].to_numpy(), rows)) + 1
    con = duckdb.connect(str(path))
    try:
        migrate(con, path, MIGRATIONS[:3])
        con.execute("SET threads = 2; SELECT setseed(0.5)")
        con.execute(f"CREATE TEMP TABLE vocab AS {_VOCAB_SQL}")
        con.register("part", plan.slice(0, stop).select(["sample_id", "token_start", "token_stop"]))
        con.execute(
            "INSERT INTO tokens (sample_id, pos, token_id, logp, ref_logp, delta, future_kl,"
            " influence_weight, entropy, token) SELECT * EXCLUDE (seq) FROM ("
            + _rows_sql("part")
            + ")"
        )
        con.execute("CHECKPOINT")
        n = con.execute("SELECT count(*) FROM tokens").fetchall()[0][0]
    finally:
        con.close()
    return path.stat().st_size / n


def median_s(fn, repeats: int) -> float:
    fn()  # warm the OS page cache and DuckDB's metadata once
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def fetches(path: Path, plan: pa.Table, count: int) -> None:
    long_ids = plan.filter(pa.compute.equal(plan["n_tokens"], LONG))["sample_id"].to_pylist()
    wanted = [int(x) for x in np.random.default_rng(1).choice(long_ids, count, replace=False)]
    reader = Store(path, read_only=True)

    def each(read) -> float:
        times = []
        for sid in wanted:
            t0 = time.perf_counter()
            assert read(sid).num_rows == LONG
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    each(reader.trajectory)  # warm
    per_call = each(reader.trajectory)
    with reader.reading():
        held = each(reader.trajectory)
        by_id = each(
            lambda sid: reader.read_table("SELECT * FROM tokens WHERE sample_id = ?", [sid])
        )
    print(f"fetch one {LONG:,}-token trajectory, median of {count}:")
    for label, t in (
        ("Store.trajectory, open+query+close", per_call),
        ("Store.trajectory inside reading()", held),
    ):
        print(f"  {label:36s}: {t * 1e3:7.1f} ms  ratio to goal {t / FETCH_GOAL_S:.2f}")
    label = "tokens WHERE sample_id = ? (no seq)"
    print(f"  {label:36s}: {by_id * 1e3:7.1f} ms ({by_id / held:.1f}x)")


def page_queries(path: Path, plan: pa.Table) -> None:
    """The Compare and Trajectory pages' store calls (app/fipo_dash/source.py)."""
    store = Store(path, read_only=True)
    pair = EVALS[:2]
    long_id = plan.filter(pa.compute.equal(plan["eval_id"], pair[1]))["sample_id"][0].as_py()

    def compare() -> None:
        with store.reading() as s:
            s.list_evals()
            dq.eval_outcomes(s, pair)

    def trajectory() -> None:
        with store.reading() as s:
            s.list_evals()
            dq.eval_outcomes(s, [pair[0]])
            for eval_id in pair:
                dq.eval_outcomes(s, [eval_id], "p0")
            for sid in (plan["sample_id"][0].as_py(), long_id):
                s.trajectory(sid)
                s.pivots(sid)

    for name, fn in (("Compare page queries", compare), ("Trajectory page queries", trajectory)):
        t = median_s(fn, 5)
        print(f"{name:26s}: {t:6.3f} s  ratio to {PAGE_GOAL_S} s goal {t / PAGE_GOAL_S:.2f}")


# Peak memory from VmHWM: ru_maxrss of a child started by fork+exec starts at its parent's
# resident size (Linux keeps the pre-exec maximum), which after a build is gigabytes.
_PAGES = """
import json, os, sys
sys.path.insert(0, os.path.join(sys.argv[1], "app"))
from streamlit.testing.v1 import AppTest
for page in ("views/compare.py", "views/trajectory.py"):
    at = AppTest.from_file(os.path.join(sys.argv[1], "app", page), default_timeout=600).run()
    assert not at.exception, (page, [e.message for e in at.exception])
status = open("/proc/self/status").read()
peak = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
print(json.dumps({"peak_rss_kib": int(peak)}))
"""


def dashboard_memory(path: Path) -> None:
    env = {**os.environ, "FIPO_BENCH_DB": str(path)}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_PAGES), str(ROOT)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        print(f"dashboard pages failed: {done.stderr.strip().splitlines()[-1:]}")
        return
    peak = json.loads(done.stdout.strip().splitlines()[-1])["peak_rss_kib"] * 1024
    print(
        f"dashboard process (AppTest: Compare + Trajectory pages) peak RSS: {peak / 2**20:,.0f}"
        f" MiB  ratio to 2 GiB goal {peak / MEMORY_GOAL_B:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000_000)
    parser.add_argument("--before-rows", type=int, default=20_000_000)
    parser.add_argument("--fetches", type=int, default=9)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    workdir = Path(args.dir or tempfile.mkdtemp(prefix="fipo-store-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "scale.duckdb"
    print(f"duckdb {duckdb.__version__}; database {path}")
    try:
        plan = plan_samples(args.rows)
        total = int(plan["n_tokens"].to_numpy().sum())
        before = bytes_per_row_v3(workdir / "v3.duckdb", plan, args.before_rows)
        (workdir / "v3.duckdb").unlink()
        if not path.exists():
            print(f"built in {build_v4(path, plan):.0f} s")
        counts = Store(path, read_only=True).table_counts()
        assert counts["tokens"] == total, (counts["tokens"], total)
        after = path.stat().st_size / total
        print(f"{total:,} token rows, {counts['samples']:,} samples, {counts['pivots']:,} pivots")
        print(
            f"bytes per token row: v3 layout {before:.1f} (on {args.before_rows:,} rows),"
            f" v4 {after:.1f} (whole file); goal 20"
        )
        fetches(path, plan, args.fetches)
        page_queries(path, plan)
        dashboard_memory(path)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
