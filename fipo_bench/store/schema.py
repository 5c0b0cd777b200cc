"""The schema as plain SQL, in one place, as a list of forward migrations.

A database file records the version it was brought to in `schema_meta`. Opening it for writing
applies every later migration in one transaction; a file with a newer version than this code
knows is refused (never silently altered or dropped). To change the schema, append a step:
never edit a step that has shipped.

Conventions: ids are VARCHAR except `sample_id` (a deterministic BIGINT, see ids.py); JSON
values (configs, metadata, metrics) are VARCHAR holding JSON text; per-token numbers are FLOAT
(float32, what the engines produce: kept exactly, since stored future_kl must equal the Future-KL
of the stored delta), per-sample and metric numbers DOUBLE.
"""

from __future__ import annotations

from dataclasses import dataclass

RUN_KINDS = ("train", "eval", "import")
EVAL_STATUSES = ("running", "done", "failed")
VERIFY_STATUSES = ("ok", "no_answer", "timeout", "error")
PIVOT_KINDS = ("keyword", "credit", "entropy")
# Where the verifier found a sample's answer: a \boxed{}, an "Answer:" line, the raw text, none.
ANSWER_SOURCES = ("box", "answer_line", "raw", "none")
# Analyses whose settings are kept per eval (fipo_bench.analysis: credit, pivots).
ANALYSIS_KINDS = ("credit", "pivots")


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


_V1 = (
    """
    CREATE TABLE runs (
        run_id      VARCHAR PRIMARY KEY,
        kind        VARCHAR NOT NULL CHECK (kind IN """
    + _in(RUN_KINDS)
    + """),
        name        VARCHAR,
        algo        VARCHAR,
        preset      VARCHAR,
        config      VARCHAR,            -- JSON
        model_path  VARCHAR,
        created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
    )""",
    """
    CREATE TABLE checkpoints (
        ckpt_id     VARCHAR PRIMARY KEY,
        run_id      VARCHAR NOT NULL,
        step        INTEGER NOT NULL,
        path        VARCHAR NOT NULL,
        created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
    )""",
    """
    CREATE TABLE problems (
        dataset     VARCHAR NOT NULL,
        problem_id  VARCHAR NOT NULL,
        problem     VARCHAR NOT NULL,   -- the statement, without any prompt template
        answer      VARCHAR NOT NULL,
        meta        VARCHAR,            -- JSON: source fields kept for reference
        PRIMARY KEY (dataset, problem_id)
    )""",
    """
    CREATE TABLE evals (
        eval_id         VARCHAR PRIMARY KEY,
        run_id          VARCHAR,
        ckpt_id         VARCHAR,
        model_path      VARCHAR,
        dataset         VARCHAR NOT NULL,
        n               INTEGER NOT NULL,
        temperature     DOUBLE NOT NULL,
        top_p           DOUBLE NOT NULL,
        max_tokens      INTEGER NOT NULL,
        seed            BIGINT NOT NULL,
        engine          VARCHAR NOT NULL,
        prompt_template VARCHAR,
        config          VARCHAR,        -- JSON: anything else the evaluator wants to keep
        status          VARCHAR NOT NULL CHECK (status IN """
    + _in(EVAL_STATUSES)
    + """),
        metrics         VARCHAR,        -- JSON: avg@k, cons@k, pass@k, ... once done
        started_at      TIMESTAMP NOT NULL DEFAULT current_timestamp,
        finished_at     TIMESTAMP
    )""",
    """
    CREATE TABLE samples (
        sample_id     BIGINT PRIMARY KEY,
        eval_id       VARCHAR,          -- set for evaluation samples
        run_id        VARCHAR,          -- set (with step) for training rollouts
        step          INTEGER,
        dataset       VARCHAR NOT NULL,
        problem_id    VARCHAR NOT NULL,
        sample_idx    INTEGER NOT NULL,
        text          VARCHAR NOT NULL,
        n_tokens      INTEGER NOT NULL,
        finish_reason VARCHAR,
        extracted     VARCHAR,
        correct       BOOLEAN,
        verify_status VARCHAR,
        reward        DOUBLE,
        advantage     DOUBLE,
        CHECK (eval_id IS NOT NULL OR (run_id IS NOT NULL AND step IS NOT NULL))
    )""",
    # No primary key on tokens: an ART index over ~10M rows slows bulk inserts several-fold.
    # Uniqueness of (sample_id, pos) is kept by the writer (delete the batch's samples, insert).
    """
    CREATE TABLE tokens (
        sample_id        BIGINT NOT NULL,
        pos              INTEGER NOT NULL,
        token_id         INTEGER NOT NULL,
        token            VARCHAR,
        logp             FLOAT,          -- log-prob reported by the sampling engine
        ref_logp         FLOAT,          -- credit columns: filled later by the analysis
        delta            FLOAT,
        future_kl        FLOAT,
        influence_weight FLOAT,
        entropy          FLOAT
    )""",
    """
    CREATE TABLE pivots (
        sample_id  BIGINT NOT NULL,
        pos        INTEGER NOT NULL,
        kind       VARCHAR NOT NULL CHECK (kind IN """
    + _in(PIVOT_KINDS)
    + """),
        label      VARCHAR,
        score      DOUBLE
    )""",
    """
    CREATE TABLE train_metrics (
        run_id  VARCHAR NOT NULL,
        step    INTEGER NOT NULL,
        name    VARCHAR NOT NULL,
        value   DOUBLE,
        PRIMARY KEY (run_id, step, name)
    )""",
)


@dataclass(frozen=True)
class Migration:
    version: int  # the schema version after this step
    description: str
    statements: tuple[str, ...]


# v2: the settings an eval's stored credit / pivots were computed with get their own table.
# Version 1 kept them as `runs` rows of kind 'import' named `credit:<eval_id>` and
# `pivots:<eval_id>` (config = the settings plus eval_id), which then listed as runs: they are
# moved over (settings without the eval_id key, updated_at = the row's created_at) and deleted.
_V1_ANALYSIS_ROWS = (
    """
    FROM runs
    WHERE kind = 'import' AND name IN """
    + _in(ANALYSIS_KINDS)
    + """
      AND run_id = name || ':' || json_extract_string(config, '$.eval_id')"""
)
_V2 = (
    """
    CREATE TABLE analyses (
        eval_id     VARCHAR NOT NULL,
        kind        VARCHAR NOT NULL CHECK (kind IN """
    + _in(ANALYSIS_KINDS)
    + """),
        settings    VARCHAR NOT NULL,   -- JSON: what defines the stored numbers
        updated_at  TIMESTAMP NOT NULL DEFAULT current_timestamp,
        PRIMARY KEY (eval_id, kind)
    )""",
    """
    INSERT INTO analyses (eval_id, kind, settings, updated_at)
    SELECT json_extract_string(config, '$.eval_id'), name,
           json_merge_patch(config, '{"eval_id": null}'), created_at"""
    + _V1_ANALYSIS_ROWS,
    "DELETE" + _V1_ANALYSIS_ROWS,
)

# v3: samples say where their answer was found (answer_source, one of ANSWER_SOURCES: checked by
# the writer, as DuckDB cannot add a column with a CHECK) and keep an imported run's own verdict
# beside fipo-bench's (source_score, source_correct); an eval made during training names the
# step it validated (run_id + step). Old rows read NULL in every new column.
_V3 = (
    "ALTER TABLE samples ADD COLUMN answer_source VARCHAR",
    "ALTER TABLE samples ADD COLUMN source_score DOUBLE",
    "ALTER TABLE samples ADD COLUMN source_correct BOOLEAN",
    "ALTER TABLE evals ADD COLUMN step INTEGER",
)

# v4: the token layout for stores of 100M+ rows (numbers in docs/notes/store.md). token_rows
# holds the rows in write order with a gap-free `seq`, and token_ranges gives each sample's
# [token_start, token_stop) of seq: one trajectory is then read from the one or two row groups
# that hold it (zone maps on seq), not from every row group whose sample_id range happens to
# cover a random 63-bit id (a unit's samples are written together in sample_id order, so each
# row group spans a third of the id space). `tokens` is a view with the columns readers always
# had. (Texts through a token-id vocabulary were measured too: 10% smaller, but the join
# doubles the time of a trajectory read, so each row keeps its text.)
TOKEN_ROW_COLUMNS = (
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
# The rows of the `tokens` view; readers that can narrow by seq (one trajectory) add a WHERE.
TOKENS_SELECT = f"SELECT {', '.join(TOKEN_ROW_COLUMNS)} FROM token_rows"
# Tables whose rows are counted in another (a view's rows live in its table).
COUNTED_IN = {"tokens": "token_rows"}


def insert_token_rows(source: str, first_seq: str) -> tuple[str, ...]:
    """SQL that appends the rows of `source` (a relation with the `tokens` columns) to
    token_rows in (sample_id, pos) order from seq `first_seq` on, with their token_ranges.

    For bulk paths (migration, merge); Store.write_samples does the same on Arrow batches."""
    cols = ", ".join(TOKEN_ROW_COLUMNS)
    return (
        f"""
        INSERT INTO token_rows (seq, {cols})
        SELECT {first_seq} + row_number() OVER (ORDER BY sample_id, pos) - 1 AS seq, {cols}
        FROM {source} ORDER BY seq""",
        f"""
        INSERT INTO token_ranges
        SELECT sample_id, min(seq), max(seq) + 1 FROM token_rows WHERE seq >= {first_seq}
        GROUP BY sample_id""",
    )


_V4 = (
    """
    CREATE TABLE token_ranges (
        sample_id   BIGINT PRIMARY KEY,
        token_start BIGINT NOT NULL,     -- seq of the sample's first token row
        token_stop  BIGINT NOT NULL      -- one past its last
    )""",
    """
    CREATE TABLE token_rows (
        seq              BIGINT NOT NULL,
        sample_id        BIGINT NOT NULL,
        pos              INTEGER NOT NULL,
        token_id         INTEGER NOT NULL,
        token            VARCHAR,
        logp             FLOAT,
        ref_logp         FLOAT,
        delta            FLOAT,
        future_kl        FLOAT,
        influence_weight FLOAT,
        entropy          FLOAT
    )""",
    *insert_token_rows("tokens", "0"),
    "DROP TABLE tokens",
    "CREATE VIEW tokens AS " + TOKENS_SELECT,
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema", _V1),
    Migration(2, "analyses table (settings of credit and pivots per eval)", _V2),
    Migration(3, "answer source and source verdict per sample; training step per eval", _V3),
    Migration(4, "tokens as a view over seq-ordered token_rows; token_ranges per sample", _V4),
)

SCHEMA_VERSION = MIGRATIONS[-1].version

# Every table the store owns, in the order `db info` lists them (tokens: the view; its rows
# are counted in token_rows).
TABLES = (
    "runs",
    "checkpoints",
    "problems",
    "evals",
    "samples",
    "tokens",
    "pivots",
    "train_metrics",
    "analyses",
)

META_TABLE = "schema_meta"
META_DDL = f"""
CREATE TABLE IF NOT EXISTS {META_TABLE} (
    version     INTEGER NOT NULL,
    description VARCHAR,
    applied_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
)"""
