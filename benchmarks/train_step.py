"""Trainer speed and learning, measured in one run on this machine.

    .venv/bin/python benchmarks/train_step.py [--model DIR] [--steps-per-preset 3]
        [--long-steps 30] [--eval-problems 200] [--skip-long | --only-long] [--long-set K=V]

1. Seconds per training step of tiny-grpo / tiny-dapo / tiny-fipo (the presets unchanged, each
   a fresh run from the same model), split into rollout (generate + verify) and update (old
   log-probs + mini-batch updates + credit logging) time, and the FIPO / DAPO ratios. Dynamic
   sampling makes DAPO and FIPO generate a variable number of rounds once their policies
   differ, so the ratio is also measured on step 1 (same weights and seeds: identical
   rollouts; alternated fresh runs, median) and for the update alone on one fixed rollout
   batch (same rows, same old log-probs, fresh copy of the policy, repeated, median).
2. A --long-steps tiny-fipo run (checkpoints every 10 steps) and the held-out accuracy of the
   base model and each checkpoint on the synthetic *test* split (greedy, and avg@4 sampled at
   temperature 1, the distribution RL trains),
   with the training accuracy curve.
One intra-op thread throughout (on a shared 2-core CPU two threads spin against each other).
--model defaults to the embedded tiny model built under .fipo-cache/ (as the tests do).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path

import torch

from fipo_bench.config import get_preset
from fipo_bench.store import Store
from fipo_bench.train import TrainJob, train


def default_model() -> Path:
    """The newest cached build of the default tiny model (the tests' fixture writes it under
    .fipo-cache/), else a fresh build there. Older cached builds come from older code."""
    from fipo_bench.models.build import (
        BUILD_INFO_FILE,
        BuildSettings,
        build_tiny_model,
        read_build_info,
    )

    wanted = BuildSettings().as_dict()
    builds = [
        path
        for path in Path(".fipo-cache").glob("tiny-model-*")
        if path.is_dir() and (read_build_info(path) or {}).get("settings") == wanted
    ]
    if builds:
        return max(builds, key=lambda path: (path / BUILD_INFO_FILE).stat().st_mtime)
    return build_tiny_model(Path(".fipo-cache") / "bench-tiny-model", BuildSettings()).path


def run(model: Path, preset: str, out: Path, db: Path, steps: int, config=None) -> dict:
    config = config or get_preset(preset)
    job = TrainJob(preset=preset, config=config, model_dir=model, out_dir=out, db_path=db,
                   steps=steps, show_progress=False)  # fmt: skip
    started = time.perf_counter()
    result = train(job)
    wall = time.perf_counter() - started
    rows = Store(db, read_only=True).train_metrics(result.run_id).to_pylist()
    by_step: dict[int, dict[str, float]] = {}
    for row in rows:
        by_step.setdefault(row["step"], {})[row["name"]] = row["value"]
    return {"wall_s": wall, "steps": by_step, "result": result}


def mean_of(by_step: dict, name: str) -> float:
    return statistics.fmean(m[name] for m in by_step.values() if name in m)


def step_times(model: Path, tmp: Path, steps: int) -> None:
    print(f"== seconds per step, {steps} steps per preset (presets unchanged) ==")
    summary = {}
    for preset in ("tiny-grpo", "tiny-dapo", "tiny-fipo"):
        r = run(model, preset, tmp / preset, tmp / "bench.duckdb", steps)
        s = r["steps"]
        summary[preset] = {
            "step": mean_of(s, "step_time_s"),
            "rollout": mean_of(s, "timing/rollout_s"),
            "update": mean_of(s, "timing/update_s"),
            "gen_batches": mean_of(s, "num_gen_batches"),
        }
        v = summary[preset]
        print(f"{preset:10s} step {v['step']:6.2f} s  rollout {v['rollout']:6.2f} s  "
              f"update {v['update']:6.2f} s  gen rounds/step {v['gen_batches']:.2f}")  # fmt: skip
    f, d = summary["tiny-fipo"], summary["tiny-dapo"]
    ratios = {k: f[k] / d[k] for k in ("step", "rollout", "update")}
    print(f"FIPO/DAPO mean step-time ratio {ratios['step']:.3f} "
          f"(rollout {ratios['rollout']:.3f}, update {ratios['update']:.3f})")  # fmt: skip


def same_work_step_ratio(model: Path, tmp: Path, repeats: int = 3) -> None:
    """Step 1 of DAPO and FIPO starts from the same weights and seeds: identical rollouts, so
    its time compares the same work. Fresh 1-step runs, alternated, median of `repeats`."""
    times: dict[str, list[float]] = {"tiny-dapo": [], "tiny-fipo": []}
    for i in range(repeats):
        for preset in times:
            r = run(model, preset, tmp / f"same-{preset}-{i}", tmp / "same.duckdb", 1)
            times[preset].append(r["steps"][1]["step_time_s"])
    d, f = statistics.median(times["tiny-dapo"]), statistics.median(times["tiny-fipo"])
    print(f"== step 1 (identical rollouts), {repeats} alternated fresh runs, median ==")
    print(f"DAPO {d:.2f} s, FIPO {f:.2f} s, FIPO/DAPO step-time ratio {f / d:.3f}")


def fixed_batch_update_ratio(model: Path, repeats: int = 9) -> None:
    """Update time of DAPO vs FIPO on one identical rollout batch (no sampling variance)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from fipo_bench.engines.hf import HFEngine
    from fipo_bench.tasks.registry import load_problems
    from fipo_bench.train.data_order import DataOrderState
    from fipo_bench.train.rollout import collect_rollouts
    from fipo_bench.train.rollout_batch import build_batch
    from fipo_bench.train.schedule import make_optimizer
    from fipo_bench.train.update import score_rows, update_policy

    base = AutoModelForCausalLM.from_pretrained(model).eval()
    tokenizer = AutoTokenizer.from_pretrained(model)
    cfg = get_preset("tiny-dapo")
    problems = load_problems("synthetic", split="train")
    sampled = collect_rollouts(HFEngine.from_model(base, tokenizer, max_batch_sequences=64),
                               problems, DataOrderState(), cfg.rollout, cfg.rewards, step=1,
                               seed=cfg.run.seed)  # fmt: skip
    batch = build_batch(sampled.rollouts, tokenizer.pad_token_id)
    groups = [r.group for r in sampled.rollouts]
    old_logp, _ = score_rows(base, batch, range(batch.size), cfg)
    times: dict[str, list[float]] = {"dapo": [], "fipo": []}
    for _ in range(repeats):
        for preset in ("tiny-dapo", "tiny-fipo"):
            policy = copy.deepcopy(base)
            preset_cfg = get_preset(preset)
            opt = make_optimizer(policy, lr=cfg.optimiser.lr, weight_decay=0.0,
                                 betas=cfg.optimiser.betas)  # fmt: skip
            started = time.perf_counter()
            update_policy(policy, opt, batch, groups, old_logp, preset_cfg)
            times[preset_cfg.algo].append(time.perf_counter() - started)
    print(f"== fixed rollout batch ({batch.size} rows, {int(batch.response_mask.sum())} response "
          f"tokens, {len(set(groups))} groups, {repeats} alternated repeats) ==")  # fmt: skip
    for name, pick in (("median", statistics.median), ("best", min)):
        d, f = pick(times["dapo"]), pick(times["fipo"])
        print(f"update_policy {name}: DAPO {d:.3f} s, FIPO {f:.3f} s, FIPO/DAPO {f / d:.3f}")


def held_out_accuracy(model_dir: Path, n_problems: int) -> tuple[float, float]:
    """(greedy accuracy, sampled avg@4 at temperature 1) on the synthetic test split."""
    from fipo_bench.engines import SamplingSettings, make_engine
    from fipo_bench.tasks.prompts import render_prompt
    from fipo_bench.tasks.synthetic import load_problems
    from fipo_bench.verify import check_many

    problems = load_problems("test", n=n_problems, seed=0)
    prompts = [render_prompt(p, "raw") for p in problems]
    engine = make_engine("hf", model_dir, max_batch_sequences=64)
    scores = []
    try:
        for n, temperature in ((1, 0.0), (4, 1.0)):
            settings = SamplingSettings(n=n, temperature=temperature, max_tokens=96, seed=0)
            records = engine.generate(prompts, settings)
            results = check_many([(problems[r.prompt_index].answer, r.text) for r in records])
            scores.append(sum(r.correct for r in results) / len(results))
    finally:
        engine.close()
    return scores[0], scores[1]


def long_run(model: Path, tmp: Path, steps: int, n_eval: int, overrides: list[str]) -> None:
    from fipo_bench.config import apply_overrides

    print(f"== {steps}-step tiny-fipo run (save_every=10, --set {' '.join(overrides) or '-'}), "
          f"held-out greedy accuracy on {n_eval} synthetic test problems ==")  # fmt: skip
    config = apply_overrides(get_preset("tiny-fipo"), ["run.save_every=10", *overrides])
    r = run(model, "tiny-fipo", tmp / "long", tmp / "long.duckdb", steps, config)
    print(f"wall time {r['wall_s']:.1f} s ({r['wall_s'] / 60:.2f} min) for {steps} steps")
    print("step  train acc/mean  reward/mean  resp len  influence_weight/mean")
    for step, m in sorted(r["steps"].items()):
        weight = m.get("influence_weight/mean", float("nan"))
        print(f"{step:4d}  {m['acc/mean']:14.3f}  {m['reward/mean']:11.3f}  "
              f"{m['response_length/mean']:8.1f}  {weight:.4f}")  # fmt: skip
    curve = [("base", held_out_accuracy(model, n_eval))]
    for path in sorted((tmp / "long" / "checkpoints").glob("step-*")):
        curve.append((path.name, held_out_accuracy(path, n_eval)))
    print("held-out accuracy (greedy / sampled avg@4): "
          + ", ".join(f"{name} {g:.3f} / {a:.3f}" for name, (g, a) in curve))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--steps-per-preset", type=int, default=3)
    parser.add_argument("--long-steps", type=int, default=30)
    parser.add_argument("--eval-problems", type=int, default=200)
    parser.add_argument("--skip-long", action="store_true")
    parser.add_argument("--only-long", action="store_true")
    parser.add_argument(
        "--long-set",
        action="append",
        default=[],
        help="override for the long run, e.g. optimiser.lr=2e-5",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = args.model or default_model()
    print(f"model {model}")
    with tempfile.TemporaryDirectory() as tmp:
        if not args.only_long:
            step_times(model, Path(tmp), args.steps_per_preset)
            same_work_step_ratio(model, Path(tmp))
            fixed_batch_update_ratio(model)
        if not args.skip_long:
            long_run(model, Path(tmp), args.long_steps, args.eval_problems, args.long_set)


if __name__ == "__main__":
    main()
