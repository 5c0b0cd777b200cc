"""FIPO's mechanism acts on the embedded default: its influence weights leave 1, and its
rollouts part from DAPO's once one step has trained.

tiny-fipo and tiny-dapo differ only in the loss, so from the same base and seed their first
rollout batch is the same, and any later difference is FIPO's weighting at work. Measured on
the default build (3 steps): mean |f - 1| 0.044 and 8.4% of tokens at a clip bound; the issue's
goal is >= 0.02 and >= 5%, which is what is asserted.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fipo_bench.config import apply_overrides, get_preset
from fipo_bench.store import Store
from fipo_bench.train import TrainJob, train

pytestmark = pytest.mark.slow

STEPS = 3
ROLLOUT_STATS = ("acc/mean", "response_length/mean")
INFLUENCE = ("influence_weight/abs_dev_mean", "influence_weight/clip_frac")


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the presets were measured; two threads crawl on a shared CPU
    yield
    torch.set_num_threads(threads)


def _metrics(model: Path, tmp_path: Path, algo: str) -> dict[str, list[float]]:
    job = TrainJob(
        preset=f"tiny-{algo}",
        config=apply_overrides(get_preset(f"tiny-{algo}"), ["run.save_every=0"]),
        model_dir=model,
        out_dir=tmp_path / algo,
        db_path=tmp_path / "db.duckdb",
        steps=STEPS,
        show_progress=False,
    )
    result = train(job)
    names = [*ROLLOUT_STATS, *(INFLUENCE if algo == "fipo" else ())]
    rows = Store(job.db_path, read_only=True).train_metrics(result.run_id, names).to_pylist()
    curves: dict[str, list[float]] = {name: [] for name in names}
    for row in sorted(rows, key=lambda r: r["step"]):
        curves[row["name"]].append(row["value"])
    assert all(len(curve) == STEPS for curve in curves.values()), curves
    return curves


@pytest.fixture(scope="module")
def runs(tiny_model_dir, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("fipo-vs-dapo")
    return {algo: _metrics(tiny_model_dir, tmp_path, algo) for algo in ("dapo", "fipo")}


def test_fipo_influence_weights_leave_one(runs):
    """Averaged over the steps: mean |f - 1| >= 0.02 and >= 5% of tokens at a clip bound."""
    fipo = runs["fipo"]
    abs_dev = sum(fipo["influence_weight/abs_dev_mean"]) / STEPS
    clipped = sum(fipo["influence_weight/clip_frac"]) / STEPS
    assert abs_dev >= 0.02, fipo
    assert clipped >= 0.05, fipo


def test_fipo_and_dapo_rollouts_part_after_the_first_step(runs):
    """Step 1 samples from the shared base (identical stats); every later step samples from
    policies the two losses have trained apart."""
    dapo, fipo = runs["dapo"], runs["fipo"]
    by_step = [
        (tuple(dapo[n][i] for n in ROLLOUT_STATS), tuple(fipo[n][i] for n in ROLLOUT_STATS))
        for i in range(STEPS)
    ]
    assert by_step[0][0] == by_step[0][1]
    assert all(d != f for d, f in by_step[1:]), by_step
