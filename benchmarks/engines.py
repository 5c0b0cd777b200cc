"""Engines and chunked scoring: memory and speed ratios measured in one run.

    .venv/bin/python benchmarks/engines.py [--model DIR] [--skip-vllm]

1. score_tokens (chunked) vs full logits, forward + backward, 32k vocab at 2048 tokens: peak
   RSS growth over the loaded model (each in a fresh process) and wall time.
2. Generation samples/s of the hf and vllm engines on the same prompts and settings, and the
   time of one vLLM sync_weights. --model defaults to a random Qwen2 of the tiny model's shape
   (2 layers, hidden 128, head size 32, char vocab).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_SCORING_CHILD = """
import json, resource, sys, time, torch
torch.set_num_threads(1)
from transformers import Qwen2Config, Qwen2ForCausalLM
from fipo_bench.engines.scoring import score_tokens, position_ids_from_mask
mode, vocab, length, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.manual_seed(0)
model = Qwen2ForCausalLM(Qwen2Config(vocab_size=vocab, hidden_size=64, intermediate_size=128,
    num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
    max_position_embeddings=8192, tie_word_embeddings=False))
ids = torch.randint(0, vocab, (1, length)); mask = torch.ones_like(ids)
def run():
    if mode == "chunked":
        logp, _ = score_tokens(model, ids, mask, chunk_tokens=chunk)
    else:
        logits = model(input_ids=ids, attention_mask=mask).logits.float()
        logp_all = torch.log_softmax(logits[:, :-1], -1)
        logp = logp_all.gather(-1, ids[:, 1:, None])[..., 0]
        with torch.no_grad():
            _ = -(logp_all.exp() * logp_all).sum(-1)
    logp.sum().backward()
    model.zero_grad(set_to_none=False)
small = ids[:, :chunk]
score_tokens(model, small, mask[:, :chunk], chunk_tokens=chunk)[0].sum().backward()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
start = time.perf_counter(); run(); seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"growth_mb": peak - base, "seconds": seconds}))
"""


def scoring_ratios(vocab: int = 32_000, length: int = 2048, chunk: int = 256) -> dict:
    # Fixed mmap threshold: freed tensor blocks go back to the OS, so RSS follows live memory.
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(2**20), "OMP_NUM_THREADS": "1"}
    out = {}
    for mode in ("chunked", "direct"):
        proc = subprocess.run(
            [sys.executable, "-c", _SCORING_CHILD, mode, str(vocab), str(length), str(chunk)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        out[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
    block_mb = length * vocab * 4 / 2**20
    print(f"score_tokens fwd+bwd, vocab {vocab}, {length} tokens, chunk {chunk}:")
    print(f"  one [L, V] float32 block          {block_mb:8.1f} MB")
    for mode in ("chunked", "direct"):
        print(
            f"  {mode:8s} peak growth {out[mode]['growth_mb']:8.1f} MB   "
            f"time {out[mode]['seconds']:6.2f} s"
        )
    print(
        f"  direct / chunked peak growth = "
        f"{out['direct']['growth_mb'] / max(out['chunked']['growth_mb'], 1e-9):.1f}x, "
        f"chunked / direct time = {out['chunked']['seconds'] / out['direct']['seconds']:.2f}"
    )
    return out


def untrained_tiny_model(out: Path) -> Path:
    """The embedded tiny model's shape and tokenizer, no warm-up (seconds to build)."""
    from fipo_bench.models.build import BuildSettings, build_tiny_model

    return build_tiny_model(out, BuildSettings(eval_problems=0).with_steps(0)).path


def engine_ratios(model_dir: Path, skip_vllm: bool) -> None:
    from fipo_bench.engines import SamplingSettings, make_engine

    prompts = [f"Compute {i} + {2 * i} * 3 step by step.\n" for i in range(8)]
    settings = SamplingSettings(n=4, temperature=1.0, top_p=1.0, max_tokens=128, seed=0)
    samples_per_s = {}
    kinds = ["hf"] if skip_vllm else ["hf", "vllm"]
    for kind in kinds:
        options = {"kv_cache_gib": 0.5} if kind == "vllm" else {}
        engine = make_engine(kind, model_dir, dtype="float32", **options)
        engine.generate(prompts[:1], SamplingSettings(max_tokens=4))  # warm-up
        start = time.perf_counter()
        records = engine.generate(prompts, settings)
        seconds = time.perf_counter() - start
        tokens = sum(r.n_tokens for r in records)
        samples_per_s[kind] = len(records) / seconds
        print(
            f"{kind:5s} {len(records)} samples, {tokens} tokens in {seconds:6.2f} s: "
            f"{samples_per_s[kind]:6.2f} samples/s, {tokens / seconds:7.1f} tokens/s"
        )
        if kind == "vllm":
            import torch
            from transformers import AutoModelForCausalLM

            policy = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
            state = policy.state_dict()
            engine.sync_weights(state)  # first call pays one-off set-up
            start = time.perf_counter()
            for _ in range(5):
                engine.sync_weights(state)
            print(f"vllm sync_weights: {(time.perf_counter() - start) / 5 * 1000:.1f} ms")
        engine.close()
    if "vllm" in samples_per_s:
        print(f"vllm / hf samples/s = {samples_per_s['vllm'] / samples_per_s['hf']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--skip-vllm", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    scoring_ratios()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model or untrained_tiny_model(Path(tmp) / "untrained_tiny")
        print(f"model: {args.model or 'the tiny model, untrained (random weights)'}")
        engine_ratios(model_dir, args.skip_vllm)


if __name__ == "__main__":
    main()
