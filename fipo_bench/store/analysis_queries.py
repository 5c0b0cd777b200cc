"""Read queries of the credit analysis, pivots and reports (fipo_bench.analysis).

Each function takes a `Store` and runs its SQL through `Store.read_table`, so it honours
`Store.reading()`, the read-only open and the lock retry. Aggregates over the tokens table run
in DuckDB: an eval of 1,000 samples x 20,000 tokens never comes into Python whole.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from fipo_bench.errors import StoreError
from fipo_bench.store.schema import TOKEN_ROW_COLUMNS
from fipo_bench.store.store import Store

# Token columns a caller may ask `token_columns` for (never interpolate anything else).
TOKEN_COLUMNS = TOKEN_ROW_COLUMNS


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


# The run and step an eval evaluated, as a CTE `eval_ckpt (eval_id, run_id, step)` to put after
# WITH: the eval's own run_id + step (a validation eval), else its ckpt_id's checkpoint, else a
# stored checkpoint whose folder is the eval's model_path (the demo evaluates checkpoint
# folders by path); where two runs share a folder (a base model stored as step 0 of each), the
# first stored wins. One definition for labels, colours and the run figures.
EVAL_CHECKPOINT_CTE = """
    eval_ckpt AS (
        SELECT e.eval_id, coalesce(e.run_id, c.run_id, cp.run_id) AS run_id,
               coalesce(e.step, c.step, cp.step) AS step
        FROM evals e
        LEFT JOIN checkpoints c ON c.ckpt_id = e.ckpt_id
        LEFT JOIN (
            SELECT path, min_by(run_id, (created_at, ckpt_id)) AS run_id,
                   min_by(step, (created_at, ckpt_id)) AS step
            FROM checkpoints GROUP BY path
        ) cp ON cp.path = e.model_path
    )
"""


def eval_rows(store: Store, eval_ids: Sequence[str]) -> pa.Table:
    """One row per given eval that exists, with what its label and partial-ness need: eval_id,
    dataset, status, n, model_path, ckpt_id, run_id and step (the eval's own, else those of the
    checkpoint it evaluated), run_name (runs.name), started_at, n_samples and n_problems
    stored, dataset_problems (problems stored for its dataset).

    In the order of `eval_ids`; ids not in the store are left out (callers name them)."""
    ids = pa.table(
        {
            "eval_id": pa.array(list(eval_ids), pa.string()),
            "ord": pa.array(range(len(eval_ids)), pa.int64()),
        }
    )
    return store.read_table(
        f"""
        WITH {EVAL_CHECKPOINT_CTE}
        SELECT e.eval_id, e.dataset, e.status, e.n, e.model_path, e.ckpt_id, k.run_id, k.step,
               r.name AS run_name, e.started_at,
               coalesce(s.n_samples, 0) AS n_samples, coalesce(s.n_problems, 0) AS n_problems,
               coalesce(p.dataset_problems, 0) AS dataset_problems
        FROM wanted_evals w
        JOIN evals e ON e.eval_id = w.eval_id
        JOIN eval_ckpt k ON k.eval_id = e.eval_id
        LEFT JOIN runs r ON r.run_id = k.run_id
        LEFT JOIN (
            SELECT eval_id, count(*) AS n_samples, count(DISTINCT problem_id) AS n_problems
            FROM samples WHERE eval_id IN (SELECT eval_id FROM wanted_evals) GROUP BY eval_id
        ) s ON s.eval_id = e.eval_id
        LEFT JOIN (
            SELECT dataset, count(*) AS dataset_problems FROM problems GROUP BY dataset
        ) p ON p.dataset = e.dataset
        ORDER BY w.ord
        """,
        views={"wanted_evals": ids},
    )


def run_evals(store: Store, run_ids: Sequence[str]) -> pa.Table:
    """Evals of the given training runs' checkpoints: run_id, eval_id, step, dataset, status.

    An eval belongs to a run through its own run_id + step (a validation eval made during
    training) or through the checkpoint it evaluated (by ckpt_id or by folder). Evals without
    a step are left out. Ordered by run_id, dataset, step, eval_id."""
    ids = pa.table({"run_id": pa.array(list(run_ids), pa.string())})
    return store.read_table(
        f"""
        WITH {EVAL_CHECKPOINT_CTE}
        SELECT k.run_id, e.eval_id, k.step, e.dataset, e.status
        FROM evals e JOIN eval_ckpt k USING (eval_id)
        SEMI JOIN wanted_runs w ON k.run_id = w.run_id
        WHERE k.step IS NOT NULL
        ORDER BY k.run_id, e.dataset, k.step, e.eval_id
        """,
        views={"wanted_runs": ids},
    )


# ---- pivot event study (fipo_bench.analysis.events) -------------------------------------------

# Per-token numbers the event study averages around pivots (never interpolate anything else).
EVENT_METRICS = ("future_kl", "influence_weight", "delta", "entropy")

# The eval's credited tokens (future_kl set) and its keyword pivots: one event per hit, at the
# hit's first token (rows of a hit share a score). Parameters: $1 eval id, $2 window (tokens).
_EVENT_BASE = """
    tok AS (
        SELECT t.sample_id, t.pos, t.token, t.future_kl, t.influence_weight, t.delta, t.entropy
        FROM tokens t
        WHERE t.future_kl IS NOT NULL
          AND t.sample_id IN (SELECT sample_id FROM samples WHERE eval_id = $1)
    ),
    traj AS (SELECT sample_id, count(*) AS n FROM tok GROUP BY sample_id),
    piv AS (
        SELECT p.sample_id, p.score AS hit, min(p.pos) AS pos
        FROM pivots p SEMI JOIN traj USING (sample_id)
        WHERE p.kind = 'keyword'
        GROUP BY p.sample_id, p.score
    ),
    offsets AS (SELECT range AS offset FROM range(-$2, $2 + 1))
"""


def event_windows(store: Store, eval_id: str, *, window: int, seed: int) -> pa.Table:
    """Around each keyword pivot of the eval's credited trajectories, and around one random
    credited position of the same trajectory per pivot (rank hash(sample_id, hit, seed) mod
    its length): per (kind 'pivot'|'random', sample_id, offset in -window..window) the count
    and sum of each EVENT_METRICS column over the tokens found there (NULLs not counted)."""
    metrics = ", ".join(f"count(t.{m}) AS n_{m}, sum(t.{m}) AS sum_{m}" for m in EVENT_METRICS)
    return store.read_table(
        f"""
        WITH {_EVENT_BASE},
        ranked AS (
            SELECT sample_id, pos,
                   row_number() OVER (PARTITION BY sample_id ORDER BY pos) - 1 AS rank
            FROM tok WHERE sample_id IN (SELECT sample_id FROM piv)
        ),
        drawn AS (
            SELECT piv.sample_id, piv.hit, hash(piv.sample_id, piv.hit, $3) % traj.n AS rank
            FROM piv JOIN traj USING (sample_id)
        ),
        rnd AS (  -- an equi-join on a computed key: DuckDB hashes it (a filter would not)
            SELECT d.sample_id, d.hit, r.pos
            FROM drawn d JOIN ranked r ON r.sample_id = d.sample_id AND r.rank = d.rank
        ),
        events AS (
            SELECT 'pivot' AS kind, sample_id, hit, pos FROM piv
            UNION ALL SELECT 'random' AS kind, sample_id, hit, pos FROM rnd
        )
        SELECT e.kind, e.sample_id, o.offset, {metrics}
        FROM events e CROSS JOIN offsets o
        JOIN tok t ON t.sample_id = e.sample_id AND t.pos = e.pos + o.offset
        GROUP BY e.kind, e.sample_id, o.offset
        ORDER BY e.kind, e.sample_id, o.offset
        """,
        [eval_id, int(window), int(seed)],
    )


def credit_mass_near_pivots(store: Store, eval_id: str, *, window: int) -> pa.Table:
    """Per credited trajectory of the eval: n_tokens, n_near (tokens within `window` positions
    of a keyword pivot), mass (sum |future_kl|) and mass_near (the same over the near tokens)."""
    return store.read_table(
        f"""
        WITH {_EVENT_BASE},
        near AS (
            SELECT DISTINCT piv.sample_id, piv.pos + o.offset AS pos
            FROM piv CROSS JOIN offsets o
        )
        SELECT t.sample_id, count(*) AS n_tokens, count(near.pos) AS n_near,
               sum(abs(t.future_kl)) AS mass,
               coalesce(sum(abs(t.future_kl)) FILTER (WHERE near.pos IS NOT NULL), 0) AS mass_near
        FROM tok t LEFT JOIN near ON near.sample_id = t.sample_id AND near.pos = t.pos
        GROUP BY t.sample_id ORDER BY t.sample_id
        """,
        [eval_id, int(window)],
    )


def credit_ngrams(
    store: Store, eval_id: str, *, n: int, min_trajectories: int, top: int
) -> pa.Table:
    """Token n-grams (n consecutive credited tokens, texts joined) of the eval that occur in at
    least `min_trajectories` trajectories: ngram, occurrences, trajectories, mean_future_kl
    (per occurrence, summed over its n tokens), mean_influence_weight, mass (sum |future_kl|
    of its occurrences). The `top` with the largest positive and the `top` with the largest
    negative mean_future_kl, by mean_future_kl descending."""
    if not 1 <= n <= 16:
        raise StoreError(f"n-gram length {n} is invalid; allowed: 1 to 16")
    shifted = [f"lead(t.token, {i}) OVER w" for i in range(1, n)]
    text = " || ".join(["t.token", *shifted])
    fkl = " + ".join(["t.future_kl", *(f"lead(t.future_kl, {i}) OVER w" for i in range(1, n))])
    wgt = " + ".join(
        ["t.influence_weight", *(f"lead(t.influence_weight, {i}) OVER w" for i in range(1, n))]
    )
    last = f"lead(t.pos, {n - 1}) OVER w" if n > 1 else "t.pos"
    return store.read_table(
        f"""
        WITH {_EVENT_BASE},
        grams AS (
            SELECT t.sample_id, t.pos, {text} AS ngram, {fkl} AS fkl, {wgt} AS weight,
                   {last} AS last_pos
            FROM tok t
            WINDOW w AS (PARTITION BY t.sample_id ORDER BY t.pos)
        ),
        stats AS (
            SELECT ngram, count(*) AS occurrences, count(DISTINCT sample_id) AS trajectories,
                   avg(fkl) AS mean_future_kl, avg(weight) / {n} AS mean_influence_weight,
                   sum(abs(fkl)) AS mass
            FROM grams
            WHERE ngram IS NOT NULL AND last_pos = pos + {n - 1}
            GROUP BY ngram HAVING count(DISTINCT sample_id) >= $3
        ),
        ranked AS (
            SELECT *, row_number() OVER (ORDER BY mean_future_kl DESC, ngram) AS up,
                      row_number() OVER (ORDER BY mean_future_kl ASC, ngram) AS down
            FROM stats
        )
        SELECT ngram, occurrences, trajectories, mean_future_kl, mean_influence_weight, mass
        FROM ranked
        WHERE (up <= $4 AND mean_future_kl > 0) OR (down <= $4 AND mean_future_kl < 0)
        ORDER BY mean_future_kl DESC, ngram
        """,
        [eval_id, 0, int(min_trajectories), int(top)],
    )
