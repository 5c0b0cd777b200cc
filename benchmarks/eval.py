"""Eval wall time on the tiny model, aime24 x n=4, split into generation / verification / storage
for each engine, and samples/s of both engines (one run, ratios printed).

    .venv/bin/python benchmarks/eval.py --model DIR --aime24 ../shared/data/benchmarks/aime24.jsonl

Goal: verification + storage <= 10% of the eval's wall time. Verification and storage run in a
background thread while the next unit generates, so two numbers are printed: their own time as
a share of the wall time, and the part of it the main thread waited for (not hidden by
generation).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def bench_engine(engine: str, args: argparse.Namespace) -> dict[str, float]:
    from fipo_bench.eval import EvalSettings, plan_eval, run_eval

    settings = EvalSettings(
        dataset="aime24",
        data_file=args.aime24,
        n=args.n,
        temperature=1.0,
        top_p=0.7,
        max_tokens=args.max_tokens,
        engine=engine,
        unit_samples=args.unit_samples,
        limit=args.limit,
    )
    with tempfile.TemporaryDirectory() as tmp:
        job = plan_eval(settings, [args.model], Path(tmp) / "bench.duckdb")
        t0 = time.perf_counter()
        (result,) = run_eval(job)
        wall_s = time.perf_counter() - t0
    t = result.times
    eval_s = wall_s - t.engine_load_s  # what the user waits for once the model is up
    samples = result.generated_samples
    tokens = result.metrics.response_length["mean"] * samples
    return {
        "engine_load_s": t.engine_load_s,
        "eval_s": eval_s,
        "generate_s": t.generate_s,
        "verify_s": t.verify_s,
        "store_s": t.store_s,
        "waited_s": max(0.0, eval_s - t.generate_s),
        "samples": samples,
        "samples_per_s": samples / eval_s,
        "tokens_per_s": tokens / eval_s,
        "mean_len": result.metrics.response_length["mean"],
    }


def bench_answer_verification(args: argparse.Namespace) -> tuple[int, float]:
    """The tiny model never writes an `Answer:` line on AIME, so its verification is trivial.
    Time the verifier on as many responses that do answer (half right, cache cleared) to show
    what the verify stage costs when every sample carries an answer."""
    from fipo_bench.tasks import load_problems
    from fipo_bench.verify import check_many, clear_cache

    problems = load_problems("aime24", data_file=args.aime24, limit=args.limit)
    items = [
        # A fraction, not a plain integer: it skips the verifier's integer fast path, so every
        # item goes through math-verify in the worker pool.
        (p.answer, f"Step by step.\nAnswer: \\frac{{{2 * int(p.answer) + k % 2}}}{{2}}")
        for p in problems
        for k in range(args.n)
    ]
    clear_cache()
    check_many(items[:2])  # start the worker pool outside the timing, as an eval run does
    clear_cache()
    t0 = time.perf_counter()
    check_many(items)
    return len(items), time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", required=True, help="tiny model dir (fipo-bench model build-tiny)"
    )
    parser.add_argument("--aime24", required=True, help="aime24.jsonl")
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--limit", type=int, default=None, help="problems (default: all 30)")
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--unit-samples", type=int, default=64)
    parser.add_argument("--engines", default="hf,vllm")
    args = parser.parse_args()

    rows = {engine: bench_engine(engine, args) for engine in args.engines.split(",") if engine}
    n_items, verify_real_s = bench_answer_verification(args)
    print(
        f"\naime24 x n={args.n}, max_tokens={args.max_tokens}, unit={args.unit_samples} samples,"
        f" model {args.model}"
    )
    header = (
        f"{'engine':6} {'load s':>7} {'eval s':>7} {'gen s':>7} {'verify s':>8} {'store s':>8}"
        f" {'(v+s)/eval':>10} {'waited/eval':>11} {'samples/s':>9} {'tok/s':>7} {'mean len':>8}"
    )
    print(header)
    for engine, r in rows.items():
        print(
            f"{engine:6} {r['engine_load_s']:7.1f} {r['eval_s']:7.1f} {r['generate_s']:7.1f}"
            f" {r['verify_s']:8.2f} {r['store_s']:8.2f}"
            f" {(r['verify_s'] + r['store_s']) / r['eval_s']:10.1%}"
            f" {r['waited_s'] / r['eval_s']:11.1%} {r['samples_per_s']:9.2f}"
            f" {r['tokens_per_s']:7.0f} {r['mean_len']:8.1f}"
        )
    print(f"verifying {n_items} answered responses (LaTeX answers): {verify_real_s * 1000:.0f} ms")
    for engine, r in rows.items():
        share = (verify_real_s + r["store_s"]) / r["eval_s"]
        print(f"  {engine}: (verify answered + store) / eval = {share:.1%}")
    if {"hf", "vllm"} <= rows.keys():
        ratio = rows["vllm"]["samples_per_s"] / rows["hf"]["samples_per_s"]
        print(f"vllm / hf samples/s: {ratio:.2f}x")


if __name__ == "__main__":  # vLLM spawns workers: entry point guarded
    main()
