"""Read queries the dashboard needs beyond `Store`'s own: lean columns, several ids at once.

Each function takes a `Store` and runs its SQL through `Store.read_table`, so it honours
`Store.reading()` (one connection per page), the read-only open and the lock retry. Results
leave out the large text columns the pages do not show, which keeps a Compare page over
thousands of samples cheap.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from fipo_bench.store.store import Store

# Columns of a sample the Compare and Trajectory pickers use (no text: it can be 100 KB).
OUTCOME_COLUMNS = (
    "sample_id",
    "eval_id",
    "problem_id",
    "sample_idx",
    "n_tokens",
    "correct",
    "extracted",
    "finish_reason",
    "verify_status",
)


def eval_overview(store: Store) -> pa.Table:
    """Every eval, oldest first, with what the pages show about it beside its stored row.

    Columns: those of Store.list_evals (the evals columns, n_samples, n_problems and accuracy
    of its stored samples), then from analysis_queries.eval_rows (the one place an eval is tied
    to a training checkpoint): model_run_id / model_step (the eval's own run and step, else
    those of the checkpoint it evaluated, by ckpt_id or by its model folder), run_name, and
    dataset_problems (problems stored for its dataset: the size of a running eval's target when
    it ran without --limit).
    """
    from fipo_bench.store.analysis_queries import eval_rows

    with store.reading():
        evals = store.list_evals()
        models = eval_rows(store, evals["eval_id"].to_pylist()).select(
            ["eval_id", "run_id", "step", "run_name", "dataset_problems"]
        )
    models = models.rename_columns(
        ["eval_id", "model_run_id", "model_step", "run_name", "dataset_problems"]
    )
    # Arrow's join does not keep row order: carry list_evals' order through it.
    ordered = evals.append_column("_order", pa.array(range(evals.num_rows), pa.int64()))
    joined = ordered.join(models, "eval_id", join_type="left outer")
    return joined.sort_by("_order").drop_columns(["_order"])


def problem_counts(store: Store) -> pa.Table:
    """Per (eval_id, problem_id) of every eval: n_samples and n_correct stored so far."""
    return store.read_table(
        """
        SELECT eval_id, problem_id, count(*) AS n_samples,
               count(*) FILTER (WHERE correct) AS n_correct
        FROM samples WHERE eval_id IS NOT NULL
        GROUP BY eval_id, problem_id ORDER BY eval_id, problem_id
        """,
    )


def eval_outcomes(store: Store, eval_ids: Sequence[str], problem_id: str | None = None) -> pa.Table:
    """One row per sample of the given evals (optionally one problem), without the text.

    Ordered by eval_id, problem_id, sample_idx. Columns: OUTCOME_COLUMNS.
    """
    cols = ", ".join(f"s.{c}" for c in OUTCOME_COLUMNS)
    ids = pa.table({"eval_id": pa.array(list(eval_ids), pa.string())})
    return store.read_table(
        f"""
        SELECT {cols} FROM samples s SEMI JOIN wanted_evals w ON s.eval_id = w.eval_id
        WHERE ? IS NULL OR s.problem_id = ?
        ORDER BY s.eval_id, s.problem_id, s.sample_idx
        """,
        [problem_id, problem_id],
        views={"wanted_evals": ids},
    )


def rollout_steps(store: Store, run_id: str) -> pa.Table:
    """Steps of a training run that logged rollouts: step, n_samples, n_tokens (sum)."""
    return store.read_table(
        """
        SELECT step, count(*) AS n_samples, sum(n_tokens) AS n_tokens
        FROM samples WHERE run_id = ? AND step IS NOT NULL
        GROUP BY step ORDER BY step
        """,
        [run_id],
    )


def step_outcomes(store: Store, run_id: str, step: int) -> pa.Table:
    """Rollout samples of one training step, without the text: like eval_outcomes plus
    reward and advantage (eval_id is null)."""
    cols = ", ".join(OUTCOME_COLUMNS)
    return store.read_table(
        f"""
        SELECT {cols}, reward, advantage FROM samples
        WHERE run_id = ? AND step = ? ORDER BY problem_id, sample_idx
        """,
        [run_id, int(step)],
    )


def metric_names(store: Store, run_ids: Sequence[str]) -> list[str]:
    """Distinct train-metric names logged by any of the runs, sorted."""
    ids = pa.table({"run_id": pa.array(list(run_ids), pa.string())})
    names = store.read_table(
        """
        SELECT DISTINCT name FROM train_metrics m
        SEMI JOIN wanted_runs w ON m.run_id = w.run_id ORDER BY name
        """,
        views={"wanted_runs": ids},
    )
    return names["name"].to_pylist()


def runs_train_metrics(store: Store, run_ids: Sequence[str], names: Sequence[str]) -> pa.Table:
    """Long table (run_id, step, name, value) of several runs' chosen metrics."""
    ids = pa.table({"run_id": pa.array(list(run_ids), pa.string())})
    wanted = pa.table({"name": pa.array(list(names), pa.string())})
    return store.read_table(
        """
        SELECT m.run_id, m.step, m.name, m.value FROM train_metrics m
        SEMI JOIN wanted_runs r ON m.run_id = r.run_id
        SEMI JOIN wanted_names n ON m.name = n.name
        ORDER BY m.run_id, m.name, m.step
        """,
        views={"wanted_runs": ids, "wanted_names": wanted},
    )


def checkpoint_counts(store: Store) -> pa.Table:
    """Per run: n_checkpoints, last checkpoint step, last metric step (runs with none: nulls)."""
    return store.read_table(
        """
        SELECT r.run_id, c.n_checkpoints, c.last_ckpt_step, m.last_metric_step
        FROM runs r
        LEFT JOIN (SELECT run_id, count(*) AS n_checkpoints, max(step) AS last_ckpt_step
                   FROM checkpoints GROUP BY run_id) c USING (run_id)
        LEFT JOIN (SELECT run_id, max(step) AS last_metric_step
                   FROM train_metrics GROUP BY run_id) m USING (run_id)
        ORDER BY r.created_at, r.run_id
        """,
    )


def sample_rows(store: Store, eval_ids: Sequence[str]) -> pa.Table:
    """Every sample of the given evals with its problem's text and gold answer (the Samples
    table): OUTCOME_COLUMNS, text (for counting reflections), problem, answer. Ordered by
    eval_id, problem_id, sample_idx; problem and answer are null where the problem row is
    missing (an import without its problems)."""
    cols = ", ".join(f"s.{c}" for c in OUTCOME_COLUMNS)
    ids = pa.table({"eval_id": pa.array(list(eval_ids), pa.string())})
    return store.read_table(
        f"""
        SELECT {cols}, s.text, p.problem, p.answer
        FROM samples s SEMI JOIN wanted_evals w ON s.eval_id = w.eval_id
        LEFT JOIN problems p ON p.dataset = s.dataset AND p.problem_id = s.problem_id
        ORDER BY s.eval_id, s.problem_id, s.sample_idx
        """,
        views={"wanted_evals": ids},
    )


def problem_texts(store: Store, dataset: str, problem_ids: Sequence[str]) -> pa.Table:
    """(problem_id, problem, answer) of the given problems of one dataset."""
    ids = pa.table({"problem_id": pa.array(list(problem_ids), pa.string())})
    return store.read_table(
        """
        SELECT p.problem_id, p.problem, p.answer FROM problems p
        SEMI JOIN wanted_problems w ON p.problem_id = w.problem_id
        WHERE p.dataset = ? ORDER BY p.problem_id
        """,
        [dataset],
        views={"wanted_problems": ids},
    )


def analyses(store: Store) -> pa.Table:
    """(eval_id, kind, settings JSON, updated_at) of every stored analysis: which evals have
    credit and pivots, and the settings (reference, clip band) they were computed with."""
    return store.read_table(
        "SELECT eval_id, kind, settings, updated_at FROM analyses ORDER BY eval_id, kind"
    )
