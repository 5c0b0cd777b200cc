"""Verifier throughput and hang cost, each as a ratio measured in this one run.

1. answers/s of `check_many` on 960 AIME-format responses (the DAPO AIME-2024 parquet golds,
   30 problems x 32 samples; aime24.jsonl x 32 if the parquet is absent) with 2 workers,
   against plain math-verify (`verify(parse(gold), parse(response))`) in a 2-process pool.
2. the same on 960 responses whose answers need sympy (LaTeX fractions of the gold), so the
   integer fast path is out of play and the worker pool itself is measured.
3. extra wall time of a batch that contains one hanging answer (9^{9^{9^{9^9}}}) over the same
   batch without it, in units of the per-item timeout.

    .venv/bin/python benchmarks/verify.py [--repeats 3] [--timeout-s 5.0]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from fipo_bench.verify import check_many, clear_cache, stats

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "benchmarks"
WORKERS = 2
HANGING_RESPONSE = "Reasoning...\nAnswer: $9^{9^{9^{9^9}}}$"
PREAMBLE = (
    "Let me work through this step by step. First I set up the equations from the statement, "
    "then simplify, and wait, let me re-check the second case before concluding. "
) * 6


def load_golds() -> tuple[list[str], str]:
    parquet = SHARED / "dapo_aime2024_x32.parquet"
    if parquet.is_file():
        import pyarrow.parquet as pq

        rows = pq.read_table(parquet, columns=["reward_model"]).column("reward_model").to_pylist()
        return [str(row["ground_truth"]) for row in rows], parquet.name
    aime = [json.loads(line)["answer"] for line in (SHARED / "aime24.jsonl").open()]
    return [gold for gold in aime for _ in range(32)], "aime24.jsonl x 32"


def aime_responses(golds: Sequence[str], preamble: str) -> list[tuple[str, str]]:
    """Four answer formats, three in four samples right, each response distinct."""
    formats = (
        lambda v: f"Answer: {v}",
        lambda v: f"Answer: ${v}$",
        lambda v: f"so the total is \\boxed{{{v:03d}}}.",
        lambda v: f"The final answer is {v}. I hope it is correct.",
    )
    items = []
    for index, gold in enumerate(golds):
        value = int(gold) + (0 if index % 4 else 1)
        body = f"Sample {index}. {preamble}\n"
        items.append((gold, body + formats[index % len(formats)](value)))
    return items


def sympy_responses(golds: Sequence[str], preamble: str) -> list[tuple[str, str]]:
    """Answers written as fractions (2v/2 etc.): no integer fast path, sympy in the workers."""
    items = []
    for index, gold in enumerate(golds):
        factor = 2 + index % 7  # distinct (gold, answer) pairs, so nothing is deduplicated
        value = int(gold) + (0 if index % 4 else 1)
        body = f"Sample {index}. {preamble}\n"
        items.append((gold, body + f"Answer: $\\frac{{{factor * value}}}{{{factor}}}$"))
    return items


def plain_math_verify(item: tuple[str, str]) -> bool:
    """The baseline: math-verify as its README shows it, extracting from the whole response."""
    from math_verify import parse, verify

    gold, response = item
    return bool(verify(parse(f"${gold}$"), parse(response)))


def timed(run: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Median wall seconds of `repeats` runs, and the last run's result."""
    times, result = [], None
    for _ in range(repeats):
        clear_cache()  # measure judging, not cache hits
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def throughput(name: str, items, baseline_pool, repeats: int, timeout_s: float) -> None:
    ours_s, ours = timed(lambda: check_many(items, timeout_s=timeout_s, workers=WORKERS), repeats)
    base_s, base = timed(
        lambda: list(baseline_pool.map(plain_math_verify, items, chunksize=16)), repeats
    )
    agree = sum(r.correct == b for r, b in zip(ours, base, strict=True))
    n = len(items)
    print(
        f"{name}: fipo_bench.verify {n / ours_s:,.0f} answers/s ({ours_s:.3f} s) | "
        f"plain math-verify {WORKERS}-process pool {n / base_s:,.0f} answers/s ({base_s:.3f} s) | "
        f"ratio {base_s / ours_s:.2f}x | verdicts agree {agree}/{n}"
    )


def hang_cost(name: str, items, repeats: int, timeout_s: float) -> None:
    with_hang = list(items)
    with_hang.insert(len(items) // 2, (items[0][0], HANGING_RESPONSE))
    base_s, _ = timed(lambda: check_many(items, timeout_s=timeout_s, workers=WORKERS), repeats)
    hang_s, results = timed(
        lambda: check_many(with_hang, timeout_s=timeout_s, workers=WORKERS), repeats
    )
    status = results[len(items) // 2].status
    extra_s = hang_s - base_s
    print(
        f"{name} + 1 hanging item (timeout_s={timeout_s}): {base_s:.3f} s -> {hang_s:.3f} s, "
        f"extra {extra_s:.3f} s = {extra_s / timeout_s:.2f} x timeout (hanging item: {status})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timeout-s", type=float, default=5.0)
    parser.add_argument(
        "--short",
        action="store_true",
        help="no reasoning text before the answer (1-line responses)",
    )
    args = parser.parse_args()

    golds, source = load_golds()
    preamble = "" if args.short else PREAMBLE
    aime, sympy = aime_responses(golds, preamble), sympy_responses(golds, preamble)
    print(
        f"{len(golds)} golds from {source}; {WORKERS} workers; median of {args.repeats} runs; "
        f"responses ~{len(aime[0][1])} chars"
    )
    with ProcessPoolExecutor(WORKERS) as baseline_pool:
        # Start both pools (process start and imports) before any timing.
        list(baseline_pool.map(plain_math_verify, sympy[:8]))
        check_many(sympy[:8], timeout_s=args.timeout_s, workers=WORKERS)
        throughput("AIME-format", aime, baseline_pool, args.repeats, args.timeout_s)
        throughput("sympy-path (fractions)", sympy, baseline_pool, args.repeats, args.timeout_s)
    hang_cost("AIME-format", aime, args.repeats, args.timeout_s)
    hang_cost("sympy-path (fractions)", sympy, args.repeats, args.timeout_s)
    print(f"pool counters: {stats()}")


if __name__ == "__main__":
    main()
