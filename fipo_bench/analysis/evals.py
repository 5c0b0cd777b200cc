"""Stored evals as the analyses read them: label, status, and verified sample outcomes.

Every analysis (compare, reports, figures) loads evals through `load_evals`, so each names an
eval the same way (`tiny-fipo@12`, never a bare eval id) and says the same about an eval whose
numbers are partial (still running, or killed before it finished).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from fipo_bench.errors import StoreError
from fipo_bench.eval.metrics import SampleOutcome


@dataclass(frozen=True)
class StoredEval:
    eval_id: str
    label: str  # the run/checkpoint it evaluated, e.g. tiny-fipo@12 (distinct within a load)
    dataset: str
    status: str  # running | done | failed
    run_id: str | None
    step: int | None  # training step of the checkpoint (or of a validation eval)
    n: int  # samples per problem the eval asked for
    outcomes: tuple[SampleOutcome, ...]  # by problem_id, sample_idx

    @property
    def partial(self) -> bool:
        """Numbers over what is stored so far: the eval is running, was killed, or failed."""
        return self.status != "done"

    @property
    def partial_note(self) -> str:
        """One line saying why the numbers are partial ('' when they are not)."""
        if not self.partial:
            return ""
        why = "failed" if self.status == "failed" else "not finished (running, or killed)"
        return (
            f"{self.label}: partial numbers - eval {self.eval_id} is {why}; "
            f"{len(self.outcomes)} samples stored so far (n = {self.n} per problem asked)"
        )


def model_name(row: Mapping[str, Any]) -> str:
    """The run's name (its folder) @ step for a checkpoint or validation eval, else the
    checkpoint folder RUN_DIR/checkpoints/step-N as RUN_DIR@N, else the model folder or hub id."""
    run = row.get("run_name") or row.get("run_id")
    if run and row.get("step") is not None:
        return f"{run}@{int(row['step'])}"
    if row.get("ckpt_id"):
        return str(row["ckpt_id"])
    path_text = row.get("model_path")
    if not path_text:
        return str(row["eval_id"])
    path = Path(str(path_text))
    if path.parent.name == "checkpoints" and path.name.startswith("step-"):
        step = path.name.removeprefix("step-")
        if step.isdigit():
            return f"{path.parent.parent.name}@{int(step)}"
    return path.name or str(path)


def distinct_labels(rows: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """eval_id -> label, distinct within `rows`: the model name, then its dataset where two
    share a name, then the eval id's last 6 characters where that still collides."""
    names = {str(r["eval_id"]): model_name(r) for r in rows}
    datasets = {str(r["eval_id"]): str(r.get("dataset", "")) for r in rows}

    def collisions(labels: dict[str, str]) -> set[str]:
        seen: dict[str, int] = {}
        for label in labels.values():
            seen[label] = seen.get(label, 0) + 1
        return {e for e, label in labels.items() if seen[label] > 1}

    labels = dict(names)
    for e in collisions(labels):
        labels[e] = f"{names[e]} · {datasets[e]}"
    for e in collisions(labels):
        labels[e] = f"{labels[e]} · {e[-6:]}"
    return labels


def load_evals(store, eval_ids: Sequence[str]) -> list[StoredEval]:
    """The given evals (duplicates dropped, order kept). StoreError for an id not in the store
    or an eval without stored samples."""
    from fipo_bench.eval.stored import outcomes_from_samples
    from fipo_bench.store.analysis_queries import eval_rows
    from fipo_bench.store.dashboard_queries import eval_outcomes

    wanted = list(dict.fromkeys(eval_ids))
    rows = eval_rows(store, wanted).to_pylist()
    found = {r["eval_id"] for r in rows}
    missing = [e for e in wanted if e not in found]
    if missing:
        raise StoreError(
            f"eval {missing[0]!r} is not in {store.path}; see `fipo-bench db info` for the"
            " stored evals"
        )
    empty = [r["eval_id"] for r in rows if r["n_samples"] == 0]
    if empty:
        raise StoreError(
            f"eval {empty[0]!r} has no stored samples yet; run (or resume) `fipo-bench eval` first"
        )
    labels = distinct_labels(rows)
    samples = eval_outcomes(store, wanted)
    out = []
    for row in rows:
        eval_id = row["eval_id"]
        outcomes = outcomes_from_samples(samples.filter(pc.equal(samples["eval_id"], eval_id)))
        out.append(
            StoredEval(
                eval_id=eval_id,
                label=labels[eval_id],
                dataset=str(row["dataset"]),
                status=str(row["status"]),
                run_id=row["run_id"],
                step=None if row["step"] is None else int(row["step"]),
                n=int(row["n"]),
                outcomes=tuple(outcomes),
            )
        )
    return out
