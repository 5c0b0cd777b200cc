"""Future-KL speed and memory: the O(B·L) scan vs the paper's Listing 1 and vs one elementwise pass.

    .venv/bin/python benchmarks/future_kl.py [--batch 16] [--length 20480] [--half-life 32]
        [--threads 1] [--repeats 21] [--device cpu|cuda]

Prints, for B x L float32 delta with a 90%-ones float mask:
1. Listing 1 (chunk 128) time / future_kl time            (target >= 100x)
2. future_kl time / `torch.exp(delta) * mask` time          (target <= 10x)
3. peak extra memory of one future_kl call / (B·L·4 bytes)  (target <= 4)
Times are medians of --repeats interleaved runs (Listing 1: 2 runs; it takes seconds).
Memory on CPU: in a fresh child process, the kernel's peak-RSS counter (VmHWM) is reset through
/proc/self/clear_refs after the inputs exist, then read after one call; the output tensor is
included in the figure. On CUDA: torch.cuda.max_memory_allocated around the call.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch

from fipo_bench.algos.future_kl import future_kl, future_kl_chunked_reference


def inputs(batch: int, length: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    delta = (0.05 * torch.randn(batch, length, generator=gen)).to(device)
    mask = (torch.rand(batch, length, generator=gen) < 0.9).float().to(device)
    return delta, mask


def timed(fn: Callable[[], object], device: str) -> float:
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def interleaved_medians(fns: dict[str, Callable[[], object]], repeats: int, device: str):
    """Run the candidates in turn, `repeats` rounds, so load changes hit all of them alike."""
    for fn in fns.values():
        fn()  # warm-up
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            samples[name].append(timed(fn, device))
    return {name: statistics.median(v) for name, v in samples.items()}


def peak_memory_child(batch: int, length: int, half_life: float) -> None:
    """Runs in a fresh process: prints JSON {peak_extra_bytes} for one CPU future_kl call."""
    delta, mask = inputs(batch, length, "cpu")
    future_kl(delta[:2, :1000], mask[:2, :1000], half_life)  # load kernels, warm allocator
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM (peak RSS) to the current RSS
    before = _status_kib("VmRSS")
    out = future_kl(delta, mask, half_life)
    peak = _status_kib("VmHWM")
    del out
    print(json.dumps({"peak_extra_bytes": (peak - before) * 1024}))


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{key} not in /proc/self/status")


def peak_memory(batch: int, length: int, half_life: float, threads: int, device: str) -> int:
    if device == "cuda":
        delta, mask = inputs(batch, length, device)
        future_kl(delta, mask, half_life)
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        out = future_kl(delta, mask, half_life)
        torch.cuda.synchronize()
        del out
        return torch.cuda.max_memory_allocated() - base
    cmd = [
        sys.executable,
        __file__,
        "--child-memory",
        f"--batch={batch}",
        f"--length={length}",
        f"--half-life={half_life}",
        f"--threads={threads}",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return int(json.loads(result.stdout.strip().splitlines()[-1])["peak_extra_bytes"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=20480)
    parser.add_argument("--half-life", type=float, default=32.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--listing1-repeats", type=int, default=2)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--child-memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.child_memory:
        peak_memory_child(args.batch, args.length, args.half_life)
        return

    b, length, tau, dev = args.batch, args.length, args.half_life, args.device
    print(f"torch {torch.__version__}, threads={torch.get_num_threads()}, device={dev}")
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, load average {load} (other jobs share the CPU)")
    print(f"B={b} L={length} half_life={tau} float32 delta, float mask")
    delta, mask = inputs(b, length, dev)

    ref = future_kl_chunked_reference(delta, mask, tau, 128)
    fast = future_kl(delta, mask, tau)
    err = ((fast.double() - ref.double()).abs().max() / ref.double().abs().max()).item()
    # Listing 1 runs in float32 here, so this is mostly its own rounding (exactness against a
    # float64 direct sum is tests/test_future_kl.py's job).
    print(f"max |future_kl - listing1| / max|listing1| = {err:.2e} (listing 1 in float32)")

    fast_times = interleaved_medians(
        {
            "future_kl": lambda: future_kl(delta, mask, tau),
            "exp_mask": lambda: torch.exp(delta) * mask,
        },
        args.repeats,
        dev,
    )
    listing1 = interleaved_medians(
        {
            "listing1": lambda: future_kl_chunked_reference(delta, mask, tau, 128),
            "future_kl": lambda: future_kl(delta, mask, tau),
        },
        args.listing1_repeats,
        dev,
    )
    unit = b * length * 4
    peak = peak_memory(b, length, tau, args.threads, dev)
    print(f"future_kl           {fast_times['future_kl'] * 1e3:9.2f} ms (median)")
    print(f"exp(delta) * mask   {fast_times['exp_mask'] * 1e3:9.2f} ms (median)")
    print(f"listing 1, chunk128 {listing1['listing1'] * 1e3:9.2f} ms (median)")
    print(
        f"ratio listing1 / future_kl      = {listing1['listing1'] / listing1['future_kl']:8.1f}x"
        "  (target >= 100)"
    )
    print(
        f"ratio future_kl / exp*mask      = "
        f"{fast_times['future_kl'] / fast_times['exp_mask']:8.2f}x  (target <= 10)"
    )
    print(
        f"peak extra memory / (B*L*4 B)   = {peak / unit:8.2f}   (target <= 4; "
        f"{peak / 2**20:.1f} MiB incl. the output)"
    )


if __name__ == "__main__":
    main()
