"""`fipo-bench import verl-run` speed: a verl run folder of dumped rollouts, imported with
re-verification, split into reading / verification / token counting / storage (one run).

    .venv/bin/python benchmarks/import_verl.py --tokenizer MODEL_DIR [--samples 100000]
        [--chars 2000] [--samples-per-prompt 16] [--steps 12] [--workdir DIR]

The run folder is written the way verl's RayPPOTrainer._dump_generations writes
`{rollout_data_dir}/{step}.jsonl` (input, output, gts, score, step, acc, pred), with a copy of
the tokenizer as a checkpoint's `actor/huggingface`, then imported into a fresh database.
Responses are AIME-style reasoning of about --chars characters ending in an `Answer:` line,
half of them right. With the embedded tiny model's character tokenizer, 2,000 characters are
about 2,000 tokens. Goal: 100,000 samples of ~2,000 tokens in <= 60 s on 2 cores.

Wall times on a shared machine depend on its load, so the CPU seconds of the import (this
process and the verifier's worker processes) are printed too: CPU s / 2 is the wall time two
idle cores would need at best. Loading the tokenizer (importing transformers) is included.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import resource
import shutil
import tempfile
import time
from pathlib import Path

SENTENCE = (
    "so we need the number of ways to choose the remaining terms wait let me re-check the "
    "case where the sum is divisible by three then the total is the product of the counts "
    "and we subtract the overlap which gives the count for each residue class"
)
WORDS = SENTENCE.split(" ")


def response(rng: random.Random, gold: int, right: bool, chars: int) -> str:
    words, size = [], 0
    while size < chars - 20:
        word = rng.choice(WORDS) if rng.random() > 0.1 else str(rng.randint(0, 999))
        words.append(word)
        size += len(word) + 1
    answer = gold if right else (gold + 1 + rng.randint(0, 50)) % 1000
    return " ".join(words) + f".\nAnswer: {answer}"


def write_run(root: Path, tokenizer: Path, args: argparse.Namespace) -> int:
    """verl/trainer/ppo/ray_trainer.py RayPPOTrainer._dump_generations line format."""
    rng = random.Random(0)
    per_step = args.samples // args.steps
    prompt_id = 0
    total = 0
    for step in range(1, args.steps + 1):
        lines = []
        for _ in range(per_step // args.samples_per_prompt):
            gold = rng.randint(0, 999)
            prompt = f"Problem {prompt_id}: find the remainder when N is divided by 1000."
            prompt_id += 1
            for _ in range(args.samples_per_prompt):
                right = rng.random() < 0.5
                entry = {"input": prompt, "output": response(rng, gold, right, args.chars),
                         "gts": str(gold), "score": 1.0 if right else -1.0, "step": step,
                         "acc": right, "pred": str(gold)}  # fmt: skip
                lines.append(json.dumps(entry, ensure_ascii=False))
        (root / "rollout").mkdir(parents=True, exist_ok=True)
        (root / "rollout" / f"{step}.jsonl").write_text("\n".join(lines) + "\n")
        total += len(lines)
    hf = root / "checkpoints" / f"global_step_{args.steps}" / "actor" / "huggingface"
    hf.mkdir(parents=True)
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        if (tokenizer / name).exists():
            shutil.copy(tokenizer / name, hf / name)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", required=True, help="model dir with tokenizer files")
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--chars", type=int, default=2000)
    parser.add_argument("--samples-per-prompt", type=int, default=16)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        root = Path(tmp) / "verl-run"
        t0 = time.perf_counter()
        total = write_run(root, Path(args.tokenizer), args)
        size_mb = sum(p.stat().st_size for p in root.rglob("*.jsonl")) / 1e6
        took = time.perf_counter() - t0
        print(f"wrote {total:,} dumped samples ({size_mb:,.0f} MB) in {took:.1f} s")
        for counted in (True, False):
            _import(root, Path(tmp) / f"import-{counted}.duckdb", counted)


def _import(root: Path, db: Path, counted: bool) -> None:
    """One import into a fresh database. counted=False hands the writer samples that carry
    their length already (as Inspect and lighteval files do), which isolates the cost of
    counting tokens with the tokenizer."""
    from fipo_bench.importers import read_source, write_source
    from fipo_bench.verify import shutdown

    load_before = os.getloadavg()[0]
    cpu0 = _cpu_s()
    t0 = time.perf_counter()
    source = read_source("verl-run", root)
    check_s = time.perf_counter() - t0
    if not counted:
        batches = source.samples
        source.samples = lambda: (
            [dataclasses.replace(s, n_tokens=len(s.text)) for s in batch] for batch in batches()
        )
        source.lengths_given = True
    result = write_source(source, db)
    wall = time.perf_counter() - t0
    shutdown()  # the verifier's workers exit, so their CPU time is counted
    cpu = _cpu_s() - cpu0
    label = "with token counting" if counted else "lengths given (no tokenizer)"
    stages = {"check (pass 1)": check_s, **result.stage_s}
    stages["other (rows, metrics)"] = wall - sum(stages.values())
    print(f"import verl-run, {label}: {result.samples:,} samples in {wall:.1f} s wall")
    for name, seconds in stages.items():
        print(f"  {name:24} {seconds:7.1f} s  {seconds / wall:6.1%}")
    print(f"  verdicts: {result.agree:,} agree, {result.disagree:,} disagree with the dump's acc")
    per_100k = cpu / result.samples * 100_000
    print(
        f"  CPU {cpu:.1f} s (import + verifier workers), load average {load_before:.1f} before /"
        f" {os.getloadavg()[0]:.1f} after; per 100,000 samples: {per_100k:.0f} CPU s ="
        f" {per_100k / 2:.0f} s on two idle cores at best (goal <= 60 s)"
    )


def _cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


if __name__ == "__main__":
    main()
