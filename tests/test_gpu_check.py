"""benchmarks/gpu_check.py: its --dry-run runs every part of the GPU check on CPU (HF and vLLM
evaluation, the policy -> vLLM weight sync, bf16 training with gradient checkpointing,
future_kl timing) and prints the summary line; without CUDA the real check refuses to start."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def test_without_cuda_the_check_asks_for_the_dry_run(capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import gpu_check
    finally:
        sys.path.remove(str(SCRIPT.parent))
    assert gpu_check.main([]) == 2
    assert "run with --dry-run" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.vllm
def test_the_dry_run_runs_every_part_and_the_weight_sync_holds(tiny_model_dir, tmp_path):
    pytest.importorskip("vllm")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--dry-run", "--model", str(tiny_model_dir),
         "--out", str(tmp_path / "work")],
        cwd=ROOT, capture_output=True, text=True, timeout=1200, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    summary = [line for line in result.stdout.splitlines() if line.startswith("gpu_check: ")]
    assert len(summary) == 1 and summary[0].endswith("-> DRY-RUN"), result.stdout
    sync = re.search(r"before=(\S+) after=(\S+)", summary[0])
    before, after = float(sync.group(1)), float(sync.group(2))
    # float32 on CPU: the synced engine scores like the policy; the stale one did not
    assert after <= 1e-3 < before
    assert float(re.search(r"max gap (\S+)", summary[0]).group(1)) <= 1e-4
