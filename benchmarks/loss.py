"""policy_loss forward+backward: FIPO vs DAPO on the same log-probs.

    .venv/bin/python benchmarks/loss.py [--batch 64] [--length 8192] [--threads 1]
        [--repeats 15] [--device cpu|cuda]

Times `policy_loss(...)` + `loss.backward()` for mode="dapo" and mode="fipo" (official FIPO
settings: tau 32, band [1.0, 1.2], dual clip 10, sequence drop on) on B x L float32 log-probs of
a moved policy with ragged response masks; medians of --repeats interleaved runs. Prints the
FIPO / DAPO time ratio (target <= 1.5x). The metrics dict is built in both (one device sync).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from fipo_bench.algos.losses import LossConfig, policy_loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--length", type=int, default=8192)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dev = args.device
    print(f"torch {torch.__version__}, threads={torch.get_num_threads()}, device={dev}")
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, load average {load} (other jobs share the CPU)")
    print(f"B={args.batch} L={args.length}, forward+backward of policy_loss")

    gen = torch.Generator().manual_seed(0)
    shape = (args.batch, args.length)
    old = (-3 * torch.rand(shape, generator=gen)).to(dev)
    logp = (old + 0.05 * torch.randn(shape, generator=gen).to(dev)).requires_grad_(True)
    adv = torch.randn(args.batch, generator=gen).to(dev)
    lengths = torch.randint(args.length // 4, args.length + 1, (args.batch,), generator=gen)
    mask = (torch.arange(args.length)[None, :] < lengths[:, None]).float().to(dev)
    configs = {"dapo": LossConfig(mode="dapo"), "fipo": LossConfig(mode="fipo")}

    def step(cfg: LossConfig) -> None:
        logp.grad = None
        loss = policy_loss(logp, old, adv, mask, cfg).loss
        loss.backward()
        if dev == "cuda":
            torch.cuda.synchronize()

    for cfg in configs.values():
        step(cfg)  # warm-up
    samples: dict[str, list[float]] = {name: [] for name in configs}
    for _ in range(args.repeats):
        for name, cfg in configs.items():  # interleaved: load changes hit both alike
            start = time.perf_counter()
            step(cfg)
            samples[name].append(time.perf_counter() - start)
    med = {name: statistics.median(v) for name, v in samples.items()}
    for name, value in med.items():
        print(f"{name:5s} {value * 1e3:9.1f} ms (median of {args.repeats})")
    print(f"ratio fipo / dapo = {med['fipo'] / med['dapo']:.2f}x  (target <= 1.5)")


if __name__ == "__main__":
    main()
