"""Verifier throughput, cold start and hang cost, each as a ratio measured in this one run.

1. answers/s of `check_many` on 960 AIME-format responses (the DAPO AIME-2024 parquet golds,
   30 problems x 32 samples; aime24.jsonl x 32 if the parquet is absent) with 2 workers,
   against plain math-verify (`verify(parse(gold), parse(response))`) in a 2-process pool.
2. the same on a MATH-500-style mix: the 500 MATH-500 golds (LaTeX: fractions, roots, tuples,
   intervals, text), 2 boxed responses each: one writing the gold as it is, one either an
   equivalent spelling (\\dfrac, spaces, "x = ...") or a wrong answer (a digit changed).
3. the same on 960 responses whose answers need sympy (roots equal to the AIME golds), so no
   fast path applies and the worker pool itself is measured.
4. cold start: in a fresh process, after `warm_up()`, the first batch against the same batch
   repeated (verdict cache cleared), for 2. and 1.
5. extra wall time of a batch that contains one hanging answer (9^{9^{9^{9^9}}}) over the same
   batch without it, in units of the per-item timeout.

    .venv/bin/python benchmarks/verify.py [--repeats 3] [--timeout-s 5.0] [--short]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from fipo_bench.verify import check_many, clear_cache, stats, warm_up
from fipo_bench.verify.baseline import plain_verdict

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "benchmarks"
WORKERS = 2
HANGING_GOLD = "25"  # an integer gold: the power tower must go to sympy, where it hangs
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


def math500_responses(preamble: str) -> list[tuple[str, str]]:
    """Two boxed responses per MATH-500 gold: the gold as written, then an equivalent spelling
    (even problems) or a wrong answer (odd problems)."""
    path = SHARED / "math500.jsonl"
    golds = [json.loads(line)["answer"] for line in path.open(encoding="utf-8")]
    items = []
    for index, gold in enumerate(golds):
        other = _equivalent(gold) if index % 2 == 0 else _wrong(gold)
        for sample, answer in enumerate((gold, other)):
            body = f"Problem {index}, sample {sample}. {preamble}\n"
            items.append((gold, body + f"Therefore the answer is $\\boxed{{{answer}}}$."))
    return items


def _equivalent(gold: str) -> str:
    spelled = gold.replace("\\frac", "\\dfrac").replace(",", ", ")
    return spelled if spelled != gold else f"x = {gold}"


def _wrong(gold: str) -> str:
    digits = list(re.finditer(r"\d", gold))
    if not digits:
        return f"{gold} + 1"
    last = digits[-1]
    return gold[: last.start()] + str((int(last.group(0)) + 1) % 10) + gold[last.end() :]


def sympy_responses(golds: Sequence[str], preamble: str) -> list[tuple[str, str]]:
    """Answers written as roots (sqrt((f v)^2) / f): no fast path applies, sympy decides."""
    items = []
    for index, gold in enumerate(golds):
        factor = 2 + index % 7  # distinct (gold, answer) pairs, so nothing is deduplicated
        value = int(gold) + (0 if index % 4 else 1)
        body = f"Sample {index}. {preamble}\n"
        answer = f"\\frac{{\\sqrt{{{(factor * value) ** 2}}}}}{{{factor}}}"
        items.append((gold, body + f"Answer: ${answer}$"))
    return items


def plain_math_verify(item: tuple[str, str]) -> bool:
    """The baseline: math-verify as its README shows it, extracting from the whole response."""
    return plain_verdict(*item)


def timed(run: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Median wall seconds of `repeats` runs, and the last run's result."""
    times, result = [], None
    for _ in range(repeats):
        clear_cache()  # measure judging, not cache hits
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def cpu_seconds() -> tuple[float, float]:
    """(this process, its live child processes) CPU seconds so far; (0, 0) without psutil."""
    try:
        import psutil
    except ImportError:
        return 0.0, 0.0
    me = psutil.Process()
    own = sum(me.cpu_times()[:2])
    children = 0.0
    for child in me.children(recursive=True):
        try:
            children += sum(child.cpu_times()[:2])
        except psutil.Error:
            continue
    return own, children


def throughput(name: str, items, baseline_pool, repeats: int, timeout_s: float) -> None:
    own_before, workers_before = cpu_seconds()
    ours_s, ours = timed(lambda: check_many(items, timeout_s=timeout_s, workers=WORKERS), repeats)
    own_after, workers_after = cpu_seconds()
    parent_cpu = (own_after - own_before) / repeats
    worker_cpu = (workers_after - workers_before) / repeats  # the baseline pool idles meanwhile
    base_s, base = timed(
        lambda: list(baseline_pool.map(plain_math_verify, items, chunksize=16)), repeats
    )
    agree = sum(r.correct == b for r, b in zip(ours, base, strict=True))
    n = len(items)
    print(
        f"{name}: fipo_bench.verify {n / ours_s:,.0f} answers/s ({ours_s:.3f} s) | "
        f"plain math-verify {WORKERS}-process pool {n / base_s:,.0f} answers/s ({base_s:.3f} s) | "
        f"ratio {base_s / ours_s:.2f}x | verdicts agree {agree}/{n} | "
        f"correct: ours {sum(r.correct for r in ours)}, plain {sum(base)}"
    )
    if parent_cpu > 0:
        # On a machine shared with other jobs wall time overstates our cost; CPU time does not.
        # With 2 idle CPUs the batch takes about max(parent CPU, worker CPU / 2).
        idle_s = max(parent_cpu, worker_cpu / WORKERS)
        print(
            f"    CPU per batch: parent {parent_cpu:.3f} s, workers {worker_cpu:.3f} s -> "
            f"{n / idle_s:,.0f} answers/s on {WORKERS} idle CPUs"
        )


def hang_cost(name: str, items, repeats: int, timeout_s: float) -> None:
    with_hang = list(items)
    with_hang.insert(len(items) // 2, (HANGING_GOLD, HANGING_RESPONSE))
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


def cold_start(short: bool, timeout_s: float) -> None:
    """Runs `--cold-child` in a fresh interpreter, which prints its own line."""
    for workload in ("math500", "aime"):
        command = [
            sys.executable,
            __file__,
            "--cold-child",
            workload,
            "--timeout-s",
            str(timeout_s),
        ]
        if short:
            command.append("--short")
        subprocess.run(command, check=True, env=os.environ.copy())


def cold_child(workload: str, short: bool, timeout_s: float) -> None:
    """In this fresh process: warm_up(), then the first batch and the same batch again."""
    preamble = "" if short else PREAMBLE
    if workload == "math500":
        items = math500_responses(preamble)
    else:
        items = aime_responses(load_golds()[0], preamble)
    started = time.perf_counter()
    warm_up(WORKERS)
    warm_s = time.perf_counter() - started
    started = time.perf_counter()
    check_many(items, timeout_s=timeout_s, workers=WORKERS)
    first_s = time.perf_counter() - started
    repeat_s, _ = timed(lambda: check_many(items, timeout_s=timeout_s, workers=WORKERS), 3)
    print(
        f"cold start, {workload} ({len(items)} items) in a fresh process: warm_up {warm_s:.2f} s "
        f"(not counted), first batch {first_s:.3f} s, repeat (median of 3) {repeat_s:.3f} s, "
        f"ratio {first_s / repeat_s:.2f} (goal <= 1.5)"
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
    parser.add_argument("--cold-child", choices=("math500", "aime"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cold_child:
        cold_child(args.cold_child, args.short, args.timeout_s)
        return

    golds, source = load_golds()
    preamble = "" if args.short else PREAMBLE
    aime, sympy = aime_responses(golds, preamble), sympy_responses(golds, preamble)
    math500 = math500_responses(preamble)
    print(
        f"{len(golds)} golds from {source}; MATH-500 mix {len(math500)} responses; {WORKERS} "
        f"workers; median of {args.repeats} runs; responses ~{len(aime[0][1])} chars; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    cold_start(args.short, args.timeout_s)
    with ProcessPoolExecutor(WORKERS) as baseline_pool:
        # Start both pools (process start and imports) before any timing.
        list(baseline_pool.map(plain_math_verify, sympy[:8]))
        warm_up(WORKERS)
        throughput("AIME-format", aime, baseline_pool, args.repeats, args.timeout_s)
        throughput("MATH-500 mix", math500, baseline_pool, args.repeats, args.timeout_s)
        throughput("sympy-path (roots)", sympy, baseline_pool, args.repeats, args.timeout_s)
    hang_cost("AIME-format", aime, args.repeats, args.timeout_s)
    hang_cost("MATH-500 mix", math500, args.repeats, args.timeout_s)
    print(f"pool counters: {stats()}")


if __name__ == "__main__":
    main()
