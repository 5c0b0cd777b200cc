"""Training runs over steps: their logged metrics and the evals of their checkpoints.

The paper's training figures read these: accuracy over steps (Figure 1: validation avg@k and
cons@k), response-length quantiles (3(a-e)), accuracy against length per stage (3(f)), mean
reward, generation rounds and the length-weighted advantage (4(a-c)), policy KL, gradient norm
and entropy (5(a-c)).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fipo_bench.analysis.evals import load_evals
from fipo_bench.analysis.length_accuracy import CheckpointPoint
from fipo_bench.errors import StoreError
from fipo_bench.eval.metrics import problem_scores


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    label: str  # the run's name (its folder), else its id
    algo: str | None


def run_infos(store, run_ids: Sequence[str]) -> list[RunInfo]:
    """StoreError naming the first run id that is not stored."""
    out = []
    for run_id in dict.fromkeys(run_ids):
        run = store.get_run(run_id)
        if run is None:
            raise StoreError(f"run {run_id!r} is not in {store.path}; see `fipo-bench db info`")
        out.append(RunInfo(run_id, str(run.get("name") or run_id), run.get("algo")))
    labels = [r.label for r in out]
    # Two runs in different folders of the same name: fall back to the ids, which differ.
    return [
        RunInfo(r.run_id, r.run_id if labels.count(r.label) > 1 else r.label, r.algo) for r in out
    ]


def train_curves(store, runs: Sequence[RunInfo], names: Sequence[str]) -> pd.DataFrame:
    """Long frame run_id, run, step, name, value of the given metric names."""
    frames = []
    for run in runs:
        frame = store.train_metrics(run.run_id, list(names)).to_pandas()
        frames.append(frame.assign(run_id=run.run_id, run=run.label))
    if not frames:
        return pd.DataFrame(columns=["run_id", "run", "step", "name", "value"])
    return pd.concat(frames, ignore_index=True)[["run_id", "run", "step", "name", "value"]]


def checkpoint_points(store, run: RunInfo) -> list[CheckpointPoint]:
    """One point per stored eval (with samples) of the run's checkpoints, by dataset and step."""
    from fipo_bench.store.analysis_queries import eval_rows, run_evals

    ids = run_evals(store, [run.run_id])["eval_id"].to_pylist()
    wanted = [r["eval_id"] for r in eval_rows(store, ids).to_pylist() if r["n_samples"] > 0]
    points = []
    for ev in load_evals(store, wanted):
        scores = problem_scores(ev.outcomes)
        points.append(
            CheckpointPoint(
                eval_id=ev.eval_id,
                label=ev.label,
                dataset=ev.dataset,
                step=int(ev.step) if ev.step is not None else -1,
                n=scores.n,
                accuracy=float(scores.accuracy.mean()),
                cons=float(scores.cons_correct.mean()),
                mean_length_tokens=float(np.mean([o.n_tokens for o in ev.outcomes])),
                partial=ev.partial,
            )
        )
    return points
