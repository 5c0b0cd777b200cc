"""Credit analysis speed and memory on this CPU (fipo_bench.analysis).

    .venv/bin/python benchmarks/credit.py [--tokens 512 --samples 16] [--long-tokens 20000]

1. Throughput: `score_pair` (policy + reference teacher-forced scoring with score_tokens, then
   algos.fipo_token_credit) over --samples trajectories of --tokens response tokens, batched by
   `plan_batches` exactly as `run_credit` does; prints credited tokens/s. Model: a randomly
   initialised tiny Qwen2 with the embedded model's shape (fipo_bench.models.config defaults).
2. Memory: peak resident memory of a fresh process that loads the pair and credits ONE
   --long-tokens trajectory, and of one that credits THREE of them in a row (as run_credit
   does: a trajectory longer than batch_tokens is scored alone). Peak minus the process's RSS
   after loading is the scoring's own peak; the ratio 3-vs-1 shows it does not grow with the
   number of trajectories.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def build_pair(root: Path) -> tuple[Path, Path]:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    try:
        from fipo_bench.models.config import TinyModelConfig

        config = TinyModelConfig().to_qwen2_config()
        config.max_position_embeddings = 32768
    except ImportError:  # before the embedded model lands: the same shape by hand
        config = Qwen2Config(
            vocab_size=128, hidden_size=128, intermediate_size=384, num_hidden_layers=4,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32768,
            tie_word_embeddings=True,
        )  # fmt: skip
    paths = []
    for seed, name in ((0, "ref"), (1, "policy")):
        torch.manual_seed(seed)
        Qwen2ForCausalLM(config).save_pretrained(root / name)
        paths.append(root / name)
    return paths[1], paths[0]


def _load(path: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()


def _trajectories(n: int, prompt: int, tokens: int, vocab: int, seed: int):
    from fipo_bench.analysis.pair_scoring import Trajectory

    rng = np.random.default_rng(seed)
    return [
        Trajectory(
            i,
            tuple(int(t) for t in rng.integers(3, vocab, prompt)),
            tuple(int(t) for t in rng.integers(3, vocab, tokens)),
            float(rng.choice([-1.0, 1.0])),
        )
        for i in range(n)
    ]


def throughput(policy_dir: Path, ref_dir: Path, samples: int, tokens: int, repeats: int) -> None:
    from fipo_bench.analysis.batching import plan_batches
    from fipo_bench.analysis.pair_scoring import score_pair
    from fipo_bench.analysis.settings import CreditSettings

    policy, ref = _load(policy_dir), _load(ref_dir)
    settings = CreditSettings(ref_model="ref")
    config = settings.loss_config()
    vocab = policy.config.vocab_size
    trajs = _trajectories(samples, 64, tokens, vocab, seed=0)
    lengths = [len(t.prompt_ids) + len(t.token_ids) for t in trajs]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for batch in plan_batches(lengths, settings.batch_tokens):
            score_pair(policy, ref, [trajs[i] for i in batch], config, pad_id=0)
        times.append(time.perf_counter() - t0)
    best = statistics.median(times)
    print(
        f"throughput: {samples} x {tokens} response tokens (+64 prompt), batch_tokens"
        f" {settings.batch_tokens}, torch threads {torch.get_num_threads()}:"
        f" median {best:.2f} s -> {samples * tokens / best:,.0f} credited tokens/s"
    )


def child(policy_dir: str, ref_dir: str, count: int, tokens: int) -> None:
    """Runs in a fresh process; prints JSON with RSS after loading and the peak."""
    from fipo_bench.analysis.pair_scoring import score_pair
    from fipo_bench.analysis.settings import CreditSettings

    policy, ref = _load(Path(policy_dir)), _load(Path(ref_dir))
    config = CreditSettings(ref_model="ref").loss_config()
    trajs = _trajectories(count, 64, tokens, policy.config.vocab_size, seed=1)
    loaded_kib = _rss_kib()
    t0 = time.perf_counter()
    for traj in trajs:  # each longer than batch_tokens: scored alone, as run_credit does
        (credit,) = score_pair(policy, ref, [traj], config, pad_id=0)
        assert len(credit.delta) == tokens
    wall = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"loaded_kib": loaded_kib, "peak_kib": peak_kib, "wall_s": wall}))


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def memory(policy_dir: Path, ref_dir: Path, tokens: int) -> None:
    results = {}
    for count in (1, 3):
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(policy_dir), str(ref_dir), str(count),
             str(tokens)],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        results[count] = json.loads(out.strip().splitlines()[-1])
    for count, r in results.items():
        own = (r["peak_kib"] - r["loaded_kib"]) / 1024
        print(
            f"memory: {count} x {tokens}-token trajectory: peak RSS {r['peak_kib'] / 1024:.0f} MiB"
            f" (loaded {r['loaded_kib'] / 1024:.0f} MiB, scoring's own peak {own:.0f} MiB),"
            f" {r['wall_s']:.1f} s, {count * tokens / r['wall_s']:,.0f} tokens/s"
        )
    ratio = results[3]["peak_kib"] / results[1]["peak_kib"]
    print(f"memory: peak RSS ratio, 3 trajectories vs 1: {ratio:.3f} (1.0 = bounded)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--long-tokens", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", nargs=4, metavar=("POLICY", "REF", "COUNT", "TOKENS"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.child:
        policy, ref, count, tokens = args.child
        child(policy, ref, int(count), int(tokens))
        return
    with tempfile.TemporaryDirectory() as tmp:
        policy_dir, ref_dir = build_pair(Path(tmp))
        throughput(policy_dir, ref_dir, args.samples, args.tokens, args.repeats)
        memory(policy_dir, ref_dir, args.long_tokens)


if __name__ == "__main__":
    main()
