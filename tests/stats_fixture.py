"""Evals written through the real Store API for the statistics, compare and report tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from fipo_bench.eval.rows import SAMPLE_SCHEMA  # what the evaluator writes
from fipo_bench.store import Store, sample_id


def write_eval(
    store: Store,
    eval_id: str,
    correct: np.ndarray,
    *,
    problem_ids: Sequence[str] | None = None,
    lengths: np.ndarray | None = None,
    texts: Sequence[Sequence[str]] | None = None,
    dataset: str = "toy",
    status: str = "done",
    run_id: str | None = None,
    step: int | None = None,
    model_path: str | None = None,
) -> str:
    """An eval of correct.shape = (problems, n) outcomes. A correct sample answers "1", a wrong
    one "0" unless `texts` say otherwise, so cons@n is the majority of each row."""
    correct = np.asarray(correct, dtype=bool)
    n_problems, n = correct.shape
    ids = list(problem_ids or [f"p{i:03d}" for i in range(n_problems)])
    lengths = np.full(correct.shape, 10) if lengths is None else np.asarray(lengths)
    store.upsert_eval(
        eval_id, dataset=dataset, n=n, temperature=1.0, top_p=1.0, max_tokens=1000, seed=0,
        engine="hf", model_path=model_path or f"/models/{eval_id}", run_id=run_id, step=step,
    )  # fmt: skip
    rows = [
        {
            "sample_id": sample_id(eval_id, ids[p], k),
            "eval_id": eval_id,
            "dataset": dataset,
            "problem_id": ids[p],
            "sample_idx": k,
            "text": texts[p][k] if texts is not None else f"answer {int(correct[p, k])}",
            "n_tokens": int(lengths[p, k]),
            "correct": bool(correct[p, k]),
            "extracted": "1" if correct[p, k] else "0",
            "verify_status": "ok",
        }
        for p in range(n_problems)
        for k in range(n)
    ]
    store.write_samples(pa.Table.from_pylist(rows, schema=SAMPLE_SCHEMA))
    if status != "running":
        store.set_eval_status(eval_id, status)
    return eval_id


def paired_bernoulli(
    rng: np.random.Generator, n_problems: int, n: int, p_base: float, shift: float
) -> tuple[np.ndarray, np.ndarray]:
    """Two (problems, n) outcome matrices sharing each problem's difficulty (hence paired)."""
    difficulty = rng.uniform(0.0, 1.0, n_problems)
    p_a = np.clip(difficulty * 2 * p_base, 0, 1)[:, None]
    p_b = np.clip(p_a + shift, 0, 1)
    return rng.random((n_problems, n)) < p_a, rng.random((n_problems, n)) < p_b
