"""Read queries of the credit analysis, pivots and reports (fipo_bench.analysis).

Each function takes a `Store` and runs its SQL through `Store.read_table`, so it honours
`Store.reading()`, the read-only open and the lock retry. Aggregates over the tokens table run
in DuckDB: an eval of 1,000 samples x 20,000 tokens never comes into Python whole.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from fipo_bench.errors import StoreError
from fipo_bench.store.store import Store

# Token columns a caller may ask `token_columns` for (never interpolate anything else).
TOKEN_COLUMNS = (
    "sample_id",
    "pos",
    "token_id",
    "token",
    "logp",
    "ref_logp",
    "delta",
    "future_kl",
    "influence_weight",
    "entropy",
)


def credit_progress(store: Store, eval_id: str) -> pa.Table:
    """One row per sample of the eval: sample_id, problem_id, sample_idx, correct, n_tokens,
    n_rows (token rows stored), n_credited (rows whose ref_logp is set) and n_future_kl (rows
    whose future_kl is set: training rollouts carry it without a ref_logp).

    Ordered by problem_id, sample_idx (the eval's own order)."""
    return store.read_table(
        """
        SELECT s.sample_id, s.problem_id, s.sample_idx, s.correct, s.n_tokens,
               coalesce(t.n_rows, 0) AS n_rows, coalesce(t.n_credited, 0) AS n_credited,
               coalesce(t.n_future_kl, 0) AS n_future_kl
        FROM samples s
        LEFT JOIN (
            SELECT sample_id, count(*) AS n_rows, count(ref_logp) AS n_credited,
                   count(future_kl) AS n_future_kl
            FROM tokens WHERE sample_id IN (SELECT sample_id FROM samples WHERE eval_id = ?)
            GROUP BY sample_id
        ) t USING (sample_id)
        WHERE s.eval_id = ?
        ORDER BY s.problem_id, s.sample_idx
        """,
        [eval_id, eval_id],
    )


def token_columns(store: Store, sample_ids: Sequence[int], columns: Sequence[str]) -> pa.Table:
    """Only `columns` (plus sample_id, pos) of the token rows of `sample_ids`, by (sample_id,
    pos): the pivots read token texts without the float columns, and vice versa."""
    unknown = [c for c in columns if c not in TOKEN_COLUMNS]
    if unknown:
        raise StoreError(
            f"token columns {', '.join(unknown)} are unknown; allowed: {', '.join(TOKEN_COLUMNS)}"
        )
    wanted = ["sample_id", "pos", *(c for c in columns if c not in ("sample_id", "pos"))]
    cols = ", ".join(f"t.{c}" for c in wanted)
    ids = pa.table({"sample_id": pa.array(list(sample_ids), pa.int64())})
    return store.read_table(
        f"""
        SELECT {cols} FROM tokens t SEMI JOIN wanted_ids w ON t.sample_id = w.sample_id
        ORDER BY t.sample_id, t.pos
        """,
        views={"wanted_ids": ids},
    )


def eval_entropy_quantile(store: Store, eval_id: str, q: float) -> float | None:
    """The q-quantile (continuous) of the stored entropy of every response token of the eval,
    or None when no token of it has entropy."""
    found = store.read_table(
        """
        SELECT quantile_cont(t.entropy, ?) AS q FROM tokens t
        WHERE t.entropy IS NOT NULL
          AND t.sample_id IN (SELECT sample_id FROM samples WHERE eval_id = ?)
        """,
        [float(q), eval_id],
    )["q"][0].as_py()
    return None if found is None else float(found)


def influence_weight_summary(
    store: Store, eval_id: str, *, low: float, high: float, tol: float
) -> dict[str, float | int]:
    """Over the eval's credited tokens: n_tokens, mean influence weight, and the shares of
    tokens at the upper (>= high - tol) and lower (<= low + tol) clip bounds."""
    row = store.read_table(
        """
        SELECT count(t.influence_weight) AS n_tokens,
               avg(t.influence_weight) AS mean_weight,
               avg(CAST(t.influence_weight >= ? AS DOUBLE)) AS share_upper,
               avg(CAST(t.influence_weight <= ? AS DOUBLE)) AS share_lower
        FROM tokens t
        WHERE t.influence_weight IS NOT NULL
          AND t.sample_id IN (SELECT sample_id FROM samples WHERE eval_id = ?)
        """,
        [float(high) - tol, float(low) + tol, eval_id],
    ).to_pylist()[0]
    return {**row, "n_tokens": int(row["n_tokens"])}


def keyword_hit_counts(store: Store, eval_id: str) -> pa.Table:
    """Per sample of the eval: sample_id, n_hits = distinct keyword pivots (a hit spans one or
    more token rows sharing one score, its 1-based hit number; see analysis/pivots.py)."""
    return store.read_table(
        """
        SELECT s.sample_id, count(DISTINCT p.score) AS n_hits
        FROM samples s LEFT JOIN pivots p
          ON p.sample_id = s.sample_id AND p.kind = 'keyword'
        WHERE s.eval_id = ?
        GROUP BY s.sample_id ORDER BY s.sample_id
        """,
        [eval_id],
    )


def eval_rows(store: Store, eval_ids: Sequence[str]) -> pa.Table:
    """One row per given eval that exists, with what its label and partial-ness need: eval_id,
    dataset, status, n, model_path, ckpt_id, run_id and step (the eval's own, else those of
    its checkpoint), run_name (runs.name), started_at, n_samples and n_problems stored.

    In the order of `eval_ids`; ids not in the store are left out (callers name them)."""
    ids = pa.table(
        {
            "eval_id": pa.array(list(eval_ids), pa.string()),
            "ord": pa.array(range(len(eval_ids)), pa.int64()),
        }
    )
    return store.read_table(
        """
        SELECT e.eval_id, e.dataset, e.status, e.n, e.model_path, e.ckpt_id,
               coalesce(e.run_id, c.run_id) AS run_id, coalesce(e.step, c.step) AS step,
               r.name AS run_name, e.started_at,
               coalesce(s.n_samples, 0) AS n_samples, coalesce(s.n_problems, 0) AS n_problems
        FROM wanted_evals w
        JOIN evals e ON e.eval_id = w.eval_id
        LEFT JOIN checkpoints c ON c.ckpt_id = e.ckpt_id
        LEFT JOIN runs r ON r.run_id = coalesce(e.run_id, c.run_id)
        LEFT JOIN (
            SELECT eval_id, count(*) AS n_samples, count(DISTINCT problem_id) AS n_problems
            FROM samples WHERE eval_id IN (SELECT eval_id FROM wanted_evals) GROUP BY eval_id
        ) s ON s.eval_id = e.eval_id
        ORDER BY w.ord
        """,
        views={"wanted_evals": ids},
    )
