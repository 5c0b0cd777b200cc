"""Store speed: token insert rate vs raw DuckDB, one-trajectory fetch, and `db merge` of shards.

    .venv/bin/python benchmarks/store.py [--rows-insert 2000000] [--rows-table 10000000]
    .venv/bin/python benchmarks/store.py --only merge [--merge-rows 1000000 --merge-shards 8]

1. Inserts the same Arrow token batch (sorted by (sample_id, pos), as engines emit it) once with
   a raw `INSERT INTO tokens SELECT * FROM arrow` (into a plain table of the token columns) in
   one transaction and once through
   `Store.write_samples` (validation, idempotence check, transaction, open/close included);
   prints both rates and their ratio (target >= 0.5). Each is the median of --repeats runs on a
   fresh file.
2. Fills a tokens table with --rows-table rows (20,000-token trajectories, written through the
   store in batches) and times `Store.trajectory(sample_id)` for several random samples,
   open/close included (target median <= 50 ms).
3. Writes --merge-shards shards of one eval holding --merge-rows token rows in total with the
   shard writer (ShardStore, as `eval --shard K/N` does), then times `fipo-bench db merge`
   into a fresh database in-process: checks, one transaction, metrics (target <= 10 s for 8
   shards and 1M rows), next to a plain INSERT of the same token files measured in the run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from fipo_bench.store import Store, sample_id
from fipo_bench.store.schema import MIGRATIONS

VOCAB = np.array([f"tok{i}" for i in range(512)] + [" the", " wait", "\n", "Answer:", " 4"])


def make_batch(
    owner: str, first_problem: int, n_samples: int, tokens_per_sample: int, seed: int
) -> tuple[pa.Table, pa.Table]:
    rng = np.random.default_rng(seed)
    problem_ids = [f"p{first_problem + i}" for i in range(n_samples)]
    ids = np.array([sample_id(owner, p, 0) for p in problem_ids], dtype=np.int64)
    samples = pa.table(
        {
            "sample_id": ids,
            "eval_id": [owner] * n_samples,
            "dataset": ["bench"] * n_samples,
            "problem_id": problem_ids,
            "sample_idx": np.zeros(n_samples, dtype=np.int32),
            "text": ["x" * 100] * n_samples,
            "n_tokens": np.full(n_samples, tokens_per_sample, dtype=np.int32),
            "correct": rng.random(n_samples) < 0.5,
            "verify_status": ["ok"] * n_samples,
        }
    )
    order = np.sort(ids)  # key order (sample_id, pos)
    n_rows = n_samples * tokens_per_sample
    token_ids = rng.integers(0, len(VOCAB), n_rows)
    tokens = pa.table(
        {
            "sample_id": np.repeat(order, tokens_per_sample),
            "pos": np.tile(np.arange(tokens_per_sample, dtype=np.int32), n_samples),
            "token_id": token_ids.astype(np.int32),
            "token": VOCAB[token_ids],
            "logp": -rng.exponential(0.5, n_rows).astype(np.float32),
        }
    )
    return samples, tokens


def raw_insert_s(path: Path, tokens: pa.Table, *, primary_key: bool = False) -> float:
    """The batch into a plain table of the token columns (schema v3's flat `tokens`)."""
    con = duckdb.connect(str(path))
    for step in MIGRATIONS[:3]:
        for statement in step.statements:
            con.execute(statement)
    if primary_key:  # the design not taken: a per-row key on (sample_id, pos)
        con.execute("ALTER TABLE tokens ADD PRIMARY KEY (sample_id, pos)")
    cols = ", ".join(tokens.column_names)
    con.register("batch", tokens)
    start = time.perf_counter()
    con.begin()
    con.execute(f"INSERT INTO tokens ({cols}) SELECT {cols} FROM batch")
    con.commit()
    elapsed = time.perf_counter() - start
    con.close()
    return elapsed


def store_insert_s(path: Path, samples: pa.Table, tokens: pa.Table) -> float:
    store = Store(path)  # creating + migrating the file is not part of the batch
    start = time.perf_counter()
    store.write_samples(samples, tokens)
    return time.perf_counter() - start


def bench_insert(rows: int, repeats: int, workdir: Path) -> None:
    tokens_per_sample = 20_000
    n_samples = max(1, rows // tokens_per_sample)
    samples, tokens = make_batch("insert-bench", 0, n_samples, tokens_per_sample, seed=1)
    raw, store = [], []
    for r in range(repeats):
        # Alternate the order so that neither side always runs on a warmer machine.
        for kind in ("raw", "store") if r % 2 == 0 else ("store", "raw"):
            path = workdir / f"{kind}{r}.duckdb"
            if kind == "raw":
                raw.append(raw_insert_s(path, tokens))
            else:
                store.append(store_insert_s(path, samples, tokens))
            path.unlink()
    pk_path = workdir / "pk.duckdb"
    pk_rate = tokens.num_rows / raw_insert_s(pk_path, tokens, primary_key=True)
    pk_path.unlink()
    raw_rate = tokens.num_rows / statistics.median(raw)
    store_rate = tokens.num_rows / statistics.median(store)
    print(f"insert {tokens.num_rows:,} token rows, median of {repeats}:")
    print(f"  raw DuckDB INSERT ... SELECT : {raw_rate / 1e6:6.2f} M rows/s")
    print(f"  Store.write_samples          : {store_rate / 1e6:6.2f} M rows/s")
    print(f"  ratio store/raw              : {store_rate / raw_rate:6.2f}  (target >= 0.50)")
    print(f"  raw into a PRIMARY KEY table : {pk_rate / 1e6:6.2f} M rows/s (one run; not used)")


def bench_fetch(rows: int, workdir: Path, fetches: int) -> None:
    tokens_per_sample = 20_000
    samples_per_batch = 25  # 500,000 token rows per write, like one big rollout flush
    n_samples = max(1, rows // tokens_per_sample)
    path = workdir / "fetch.duckdb"
    store = Store(path)
    start = time.perf_counter()
    all_ids: list[int] = []
    for first in range(0, n_samples, samples_per_batch):
        count = min(samples_per_batch, n_samples - first)
        samples, tokens = make_batch("fetch-bench", first, count, tokens_per_sample, seed=first)
        store.write_samples(samples, tokens)
        all_ids.extend(samples["sample_id"].to_pylist())
    fill_s = time.perf_counter() - start
    n_rows = store.table_counts()["tokens"]
    size_mb = path.stat().st_size / 2**20
    print(f"filled tokens table: {n_rows:,} rows in {fill_s:.1f} s ({size_mb:.0f} MiB file)")
    # Idempotence cost: rewriting the last batch (its samples exist) vs its first write.
    start = time.perf_counter()
    store.write_samples(samples, tokens)
    rewrite_s = time.perf_counter() - start
    assert store.table_counts()["tokens"] == n_rows
    print(
        f"rewrite of one stored {tokens.num_rows:,}-row batch (delete + insert):"
        f" {rewrite_s:.2f} s; first write of a batch averaged"
        f" {fill_s / -(-n_samples // samples_per_batch):.2f} s"
    )
    reader = Store(path, read_only=True)
    wanted = [int(x) for x in np.random.default_rng(0).choice(all_ids, fetches, replace=False)]

    def timed_fetches() -> list[float]:
        times = []
        for sid in wanted:
            start = time.perf_counter()
            table = reader.trajectory(sid)
            times.append(time.perf_counter() - start)
            assert table.num_rows == tokens_per_sample
        return times

    per_call = timed_fetches()  # each call opens and closes the file
    with reader.reading():  # one connection held for the group, as a dashboard page does
        held = timed_fetches()
    for label, times in (("per call (open+query+close)", per_call), ("inside reading()", held)):
        print(
            f"fetch one {tokens_per_sample:,}-token trajectory, {label}, {fetches} samples:"
            f" median {statistics.median(times) * 1e3:.1f} ms, max {max(times) * 1e3:.1f} ms"
        )
    print("  (target median <= 50 ms)")


def bench_merge(rows: int, n_shards: int, workdir: Path) -> None:
    from fipo_bench.cli import main as cli
    from fipo_bench.store.shards import ShardSpec, ShardStore

    tokens_per_sample = 2_000
    n_samples = max(n_shards, rows // tokens_per_sample)
    per_unit = 8  # samples per write_samples call (one evaluator unit)
    owner = "ev-merge-bench"
    start = time.perf_counter()
    for k in range(1, n_shards + 1):
        shard = ShardStore(workdir / "shards", ShardSpec(k, n_shards))
        shard.upsert_eval(
            owner, dataset="bench", n=1, temperature=1.0, top_p=1.0, max_tokens=2048, seed=0,
            engine="vllm",
        )  # fmt: skip
        mine = list(range(k - 1, n_samples, n_shards))
        for first in range(0, len(mine), per_unit):
            unit = mine[first : first + per_unit]
            parts = [make_batch(owner, i, 1, tokens_per_sample, seed=i) for i in unit]
            samples = pa.concat_tables([p[0] for p in parts])
            tokens = pa.concat_tables([p[1] for p in parts])
            shard.write_samples(samples, tokens)
        shard.set_eval_status(owner, "done")
    write_s = time.perf_counter() - start
    size_mb = sum(p.stat().st_size for p in (workdir / "shards").rglob("*.parquet")) / 2**20
    print(
        f"wrote {n_shards} shards, {n_samples:,} samples, {n_samples * tokens_per_sample:,}"
        f" token rows in {write_s:.1f} s ({size_mb:.0f} MiB of Parquet)"
    )
    db = workdir / "merged.duckdb"
    start = time.perf_counter()
    assert cli(["db", "merge", str(workdir / "shards"), "--db", str(db)]) == 0
    merge_s = time.perf_counter() - start
    merged = Store(db, read_only=True)
    n_rows = merged.table_counts()["tokens"]
    assert n_rows == n_samples * tokens_per_sample
    assert merged.get_eval(owner)["status"] == "done"
    # Baseline in the same run: the same token files into a plain table, nothing else.
    files = sorted(str(p) for p in (workdir / "shards" / "tokens").rglob("part-*.parquet"))
    raw = duckdb.connect(str(workdir / "raw.duckdb"))
    for step in MIGRATIONS[:3]:
        for statement in step.statements:
            raw.execute(statement)
    start = time.perf_counter()
    raw.execute(
        "INSERT INTO tokens SELECT * FROM read_parquet(?, hive_partitioning = false)", [files]
    )
    raw_s = time.perf_counter() - start
    raw.close()
    print(
        f"db merge of {n_shards} shards, {n_rows:,} token rows: {merge_s:.2f} s"
        f" ({n_rows / merge_s / 1e6:.2f} M rows/s; target <= 10 s for 8 shards, 1M rows);"
        f" plain INSERT of the same token files: {raw_s:.2f} s (merge/plain {merge_s / raw_s:.1f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows-insert", type=int, default=2_000_000)
    parser.add_argument("--rows-table", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fetches", type=int, default=9)
    parser.add_argument("--merge-rows", type=int, default=1_000_000)
    parser.add_argument("--merge-shards", type=int, default=8)
    parser.add_argument("--only", choices=("insert", "fetch", "merge"), default=None)
    args = parser.parse_args()
    print(f"duckdb {duckdb.__version__}, pyarrow {pa.__version__}")
    with tempfile.TemporaryDirectory(prefix="fipo-store-bench-") as tmp:
        if args.only in (None, "insert"):
            bench_insert(args.rows_insert, args.repeats, Path(tmp))
        if args.only in (None, "fetch"):
            bench_fetch(args.rows_table, Path(tmp), args.fetches)
        if args.only in (None, "merge"):
            bench_merge(args.merge_rows, args.merge_shards, Path(tmp))


if __name__ == "__main__":
    main()
