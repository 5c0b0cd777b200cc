"""The DuckDB store: schema, idempotent writes, validation, read queries (one process)."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fipo_bench.errors import StoreError
from fipo_bench.store import (
    DB_ENV_VAR,
    SCHEMA_VERSION,
    TABLES,
    Store,
    default_db_path,
    rollout_owner,
    sample_id,
)
from fipo_bench.store import dashboard_queries as dq
from fipo_bench.store.analysis_queries import TOKEN_COLUMNS, token_columns
from fipo_bench.store.connection import migrate, schema_version
from fipo_bench.store.schema import MIGRATIONS, Migration
from fipo_bench.tasks.problem import Problem


def make_samples(owner_eval: str, problem_ids, n: int, *, correct=None, n_tokens=3):
    rows = []
    for p in problem_ids:
        for i in range(n):
            rows.append(
                {
                    "sample_id": sample_id(owner_eval, p, i),
                    "eval_id": owner_eval,
                    "dataset": "aime24",
                    "problem_id": p,
                    "sample_idx": i,
                    "text": f"{p}-{i}",
                    "n_tokens": n_tokens,
                    "correct": None if correct is None else correct(p, i),
                    "verify_status": "ok",
                }
            )
    return pa.Table.from_pylist(rows)


def make_tokens(samples: pa.Table, n_tokens: int = 3, *, logp_shift: float = 0.0) -> pa.Table:
    rows = [
        {"sample_id": sid, "pos": t, "token_id": 10 + t, "token": f"t{t}", "logp": -t - logp_shift}
        for sid in samples["sample_id"].to_pylist()
        for t in range(n_tokens)
    ]
    return pa.Table.from_pylist(rows)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "s.duckdb", lock_timeout_s=2.0)


# ---- ids and paths ----------------------------------------------------------------------------


def test_sample_id_is_deterministic_non_negative_63_bit_and_separates_its_inputs():
    a = sample_id("e1", "p1", 0)
    assert a == sample_id("e1", "p1", 0)
    assert 0 <= a < 2**63
    others = {sample_id("e2", "p1", 0), sample_id("e1", "p2", 0), sample_id("e1", "p1", 1)}
    assert a not in others and len(others) == 3
    # The separator keeps ("a", "b1") and ("ab", "1")-style concatenations apart.
    assert sample_id("e1", "p1", 11) != sample_id("e1", "p11", 1)
    assert rollout_owner("run", 7) == "run@7"


def test_default_db_path_prefers_cli_then_env_then_default(monkeypatch):
    monkeypatch.delenv(DB_ENV_VAR, raising=False)
    assert default_db_path(None) == Path("fipo_bench.duckdb")
    monkeypatch.setenv(DB_ENV_VAR, "/x/env.duckdb")
    assert default_db_path(None) == Path("/x/env.duckdb")
    assert default_db_path("cli.duckdb") == Path("cli.duckdb")


# ---- schema, migrations, bad files ------------------------------------------------------------


def test_new_file_has_every_table_empty_at_the_code_schema_version(store: Store):
    assert store.table_counts() == dict.fromkeys(TABLES, 0)
    info = store.info()
    assert info.schema_version == SCHEMA_VERSION == info.code_schema_version
    assert info.file_size_bytes > 0


def test_reopening_a_current_file_keeps_its_rows(store: Store):
    store.write_train_metrics("r", 1, {"loss": 1.0})
    again = Store(store.path)
    assert again.table_counts()["train_metrics"] == 1


def test_forward_migration_applies_new_steps_once_and_keeps_data(tmp_path: Path):
    path = tmp_path / "m.duckdb"
    Store(path).upsert_run("r1", kind="train", name="old")
    extra = (
        *MIGRATIONS,
        Migration(SCHEMA_VERSION + 1, "add note", ("ALTER TABLE runs ADD COLUMN note VARCHAR",)),
    )
    con = duckdb.connect(str(path))
    try:
        assert migrate(con, path, extra) == SCHEMA_VERSION
        assert schema_version(con, path) == SCHEMA_VERSION + 1
        assert migrate(con, path, extra) == SCHEMA_VERSION + 1  # second run: nothing to do
        assert con.execute("SELECT name, note FROM runs").fetchall() == [("old", None)]
        assert con.execute("SELECT count(*) FROM schema_meta").fetchall() == [(len(extra),)]
    finally:
        con.close()
    # This code knows only SCHEMA_VERSION: the migrated file is now "newer" and refused.
    with pytest.raises(StoreError, match="newer than this fipo-bench"):
        Store(path)
    with pytest.raises(StoreError, match="newer than this fipo-bench"):
        Store(path, read_only=True)


def test_older_file_is_refused_by_readers_and_migrated_by_a_writer(tmp_path: Path):
    path = tmp_path / "old.duckdb"
    duckdb.connect(str(path)).close()  # an empty DuckDB file is schema version 0
    with pytest.raises(StoreError, match="older than"):
        Store(path, read_only=True).table_counts()
    assert Store(path, read_only=True).info().schema_version == 0  # db info still works
    assert Store(path).table_counts() == dict.fromkeys(TABLES, 0)
    assert Store(path, read_only=True).info().schema_version == SCHEMA_VERSION


def _v1_file(path: Path) -> None:
    """A file as version 1 of the schema left it (only the first migration applied)."""
    con = duckdb.connect(str(path))
    try:
        migrate(con, path, MIGRATIONS[:1])
    finally:
        con.close()


def test_v1_analysis_runs_rows_move_to_the_analyses_table(tmp_path: Path):
    """Version 1 kept analysis settings as fake runs rows; v2 moves them and keeps real runs."""
    path = tmp_path / "v1.duckdb"
    _v1_file(path)
    con = duckdb.connect(str(path))
    try:
        con.execute(
            "INSERT INTO evals (eval_id, dataset, n, temperature, top_p, max_tokens, seed,"
            " engine, status) VALUES ('ev:1', 'toy', 1, 1.0, 1.0, 8, 0, 'hf', 'done')"
        )
        rows = [
            ("credit:ev:1", "import", "credit",
             '{"eval_id": "ev:1", "half_life": 4.0, "ref_model": "/m"}', "2024-01-02 03:04:05"),
            ("pivots:ev:1", "import", "pivots",
             '{"eval_id": "ev:1", "lexicon": ["wait"], "kinds": ["keyword"]}', "2024-01-03"),
            ("imported-run", "import", "credit", '{"note": "a real import"}', "2024-01-04"),
            ("r-train", "train", "fipo", None, "2024-01-05"),
        ]  # fmt: skip
        con.executemany(
            "INSERT INTO runs (run_id, kind, name, config, created_at) VALUES (?, ?, ?, ?, ?)",
            rows,
        )
        assert schema_version(con, path) == 1
    finally:
        con.close()
    with pytest.raises(StoreError, match="older than"):
        Store(path, read_only=True).get_analysis("ev:1", "credit")
    store = Store(path)  # a writer migrates
    assert store.info().schema_version == SCHEMA_VERSION >= 2
    assert store.list_runs()["run_id"].to_pylist() == ["imported-run", "r-train"]
    credit = store.get_analysis("ev:1", "credit")
    assert credit["settings"] == {"half_life": 4.0, "ref_model": "/m"}
    assert str(credit["updated_at"]) == "2024-01-02 03:04:05"
    pivots = store.get_analysis("ev:1", "pivots")
    assert pivots["settings"] == {"lexicon": ["wait"], "kinds": ["keyword"]}
    assert store.table_counts()["analyses"] == 2
    Store(path)  # reopening applies nothing twice
    con = duckdb.connect(str(path), read_only=True)
    try:
        versions = con.execute("SELECT version FROM schema_meta ORDER BY version").fetchall()
        assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
    finally:
        con.close()


def test_v2_file_migrates_to_v3_keeping_rows_with_null_in_the_new_columns(tmp_path: Path):
    """v3 adds samples.answer_source/source_score/source_correct and evals.step: rows written
    before read NULL there, and the new columns then take values."""
    path = tmp_path / "v2.duckdb"
    con = duckdb.connect(str(path))
    try:
        migrate(con, path, MIGRATIONS[:2])
        con.execute(
            "INSERT INTO evals (eval_id, run_id, dataset, n, temperature, top_p, max_tokens,"
            " seed, engine, status) VALUES ('e1', 'r1', 'aime24', 1, 1.0, 1.0, 8, 0, 'hf', 'done')"
        )
        old = make_samples("e1", ["p1"], 1)
        con.register("old", old)
        con.execute(f"INSERT INTO samples ({', '.join(old.column_names)}) SELECT * FROM old")
    finally:
        con.close()
    store = Store(path)
    assert store.info().schema_version == SCHEMA_VERSION >= 3
    got = store.eval_samples("e1").to_pylist()[0]
    assert got["text"] == "p1-0"
    assert (got["answer_source"], got["source_score"], got["source_correct"]) == (None,) * 3
    assert store.get_eval("e1")["step"] is None
    store.upsert_eval(
        "e1", dataset="aime24", n=1, temperature=1.0, top_p=1.0, max_tokens=8, seed=0,
        engine="hf", run_id="r1", step=40,
    )  # fmt: skip
    assert (store.get_eval("e1")["run_id"], store.get_eval("e1")["step"]) == ("r1", 40)


def test_v3_tokens_move_to_the_v4_layout_and_read_back_unchanged(tmp_path: Path):
    """v4 keeps token rows in seq order in token_rows with a range per sample; the `tokens`
    view and Store.trajectory return every v3 row as it was."""
    path = tmp_path / "v3.duckdb"
    con = duckdb.connect(str(path))
    try:
        migrate(con, path, MIGRATIONS[:3])
        samples = make_samples("e1", ["p1", "p2"], 2)
        tokens = make_tokens(samples, 4)
        texts = ["a", "b", None, "a"] + ["a", "x", "c", None] * 3
        tokens = tokens.set_column(3, "token", pa.array(texts, pa.string()))
        for name, table in (("s", samples), ("t", tokens)):
            con.register(name, table)
            con.execute(
                f"INSERT INTO {'samples' if name == 's' else 'tokens'} BY NAME SELECT * FROM {name}"
            )
        before = con.sql("SELECT * FROM tokens ORDER BY sample_id, pos").to_arrow_table()
    finally:
        con.close()
    store = Store(path)
    assert store.info().schema_version == SCHEMA_VERSION >= 4
    after = store.read_table("SELECT * FROM tokens ORDER BY sample_id, pos")
    assert after.to_pylist() == before.to_pylist()
    for sid in samples["sample_id"].to_pylist():
        expected = before.filter(pa.compute.equal(before["sample_id"], sid)).to_pylist()
        assert store.trajectory(sid).to_pylist() == expected
    ranges = store.read_table("SELECT * FROM token_ranges ORDER BY token_start").to_pylist()
    assert [(r["token_start"], r["token_stop"]) for r in ranges] == [
        (0, 4),
        (4, 8),
        (8, 12),
        (12, 16),
    ]
    assert store.table_counts()["tokens"] == 16


def test_every_sample_owns_one_gap_free_seq_range_also_after_a_rewrite(store: Store):
    """Token rows come back per row as written (texts too), and each sample's rows fill one
    [token_start, token_stop) range of seq, also after a rewrite in the middle of the table."""
    first = make_samples("e1", ["p1", "p2", "p3"], 1)
    tokens = make_tokens(first, 3).sort_by([("sample_id", "ascending"), ("pos", "ascending")])
    texts = ["t0", "t1", "t2", "t0", "T1", "t2", "t0", "t1", None]
    store.write_samples(first, tokens.set_column(3, "token", pa.array(texts)))
    got = token_columns(store, first["sample_id"].to_pylist(), ["token"])["token"].to_pylist()
    assert got == texts
    middle = first.slice(1, 1)
    store.write_samples(middle, make_tokens(middle, 5, logp_shift=3.0))
    for sid, n in zip(first["sample_id"].to_pylist(), (3, 5, 3), strict=True):
        rows = store.trajectory(sid)
        assert rows["pos"].to_pylist() == list(range(n))
        span = store.read_table(
            "SELECT token_stop - token_start AS n FROM token_ranges WHERE sample_id = ?", [sid]
        )
        assert span["n"].to_pylist() == [n]
    assert store.trajectory(middle["sample_id"][0].as_py())["logp"].to_pylist()[1] == -4.0
    assert store.trajectory(123).num_rows == 0  # no such sample: empty, with the columns
    assert store.trajectory(123).column_names == list(TOKEN_COLUMNS)


def test_analysis_settings_upsert_per_eval_and_kind(store: Store):
    store.upsert_eval(
        "ev", dataset="toy", n=1, temperature=1.0, top_p=1.0, max_tokens=8, seed=0, engine="hf"
    )
    assert store.get_analysis("ev", "credit") is None
    store.upsert_analysis("ev", "credit", {"half_life": 32.0})
    first = store.get_analysis("ev", "credit")
    store.upsert_analysis("ev", "credit", {"half_life": 4.0, "bounds": [1.0, 1.2]})
    store.upsert_analysis("ev", "pivots", {"lexicon": ["wait"]})
    again = store.get_analysis("ev", "credit")
    assert again["settings"] == {"half_life": 4.0, "bounds": [1.0, 1.2]}
    assert again["updated_at"] >= first["updated_at"]
    assert store.get_analysis("ev", "pivots")["settings"] == {"lexicon": ["wait"]}
    assert store.table_counts()["analyses"] == 2
    assert store.list_runs().num_rows == 0  # analyses are not runs
    with pytest.raises(StoreError, match="analysis kind 'vibes'"):
        store.upsert_analysis("ev", "vibes", {})
    with pytest.raises(StoreError, match="eval 'nope' is not stored"):
        store.upsert_analysis("nope", "credit", {})
    assert store.table_counts()["analyses"] == 2


def test_a_file_that_is_not_duckdb_is_refused_and_left_unchanged(tmp_path: Path):
    path = tmp_path / "notes.duckdb"
    path.write_text("this is not a database\n" * 50)
    before = path.read_bytes()
    for read_only in (False, True):
        with pytest.raises(StoreError, match="not a DuckDB database file"):
            Store(path, read_only=read_only)
    assert path.read_bytes() == before


def test_a_foreign_duckdb_file_is_never_written_into(tmp_path: Path):
    path = tmp_path / "other.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE customers (id INTEGER)")
    con.close()
    with pytest.raises(StoreError, match="not a fipo-bench database"):
        Store(path)
    con = duckdb.connect(str(path), read_only=True)
    tables = con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    con.close()
    assert tables == [("customers",)]


def test_missing_file_or_folder_is_a_store_error(tmp_path: Path):
    with pytest.raises(StoreError, match="does not exist"):
        Store(tmp_path / "none.duckdb", read_only=True)
    with pytest.raises(StoreError, match="does not exist"):
        Store(tmp_path / "no" / "dir.duckdb")
    with pytest.raises(StoreError, match="is a folder"):
        Store(tmp_path)


# ---- samples and tokens -----------------------------------------------------------------------


def test_rewriting_samples_never_duplicates_and_replaces_their_tokens(store: Store):
    samples = make_samples("e1", ["p1", "p2"], 2)
    store.write_samples(samples, make_tokens(samples, 3))
    store.write_samples(samples, make_tokens(samples, 3))
    assert store.table_counts()["samples"] == 4
    assert store.table_counts()["tokens"] == 12
    # A rewrite with shorter responses replaces the token rows (no leftovers from the old ones).
    sid = samples["sample_id"][0].as_py()
    store.write_pivots(pa.table({"sample_id": [sid], "pos": [2], "kind": ["credit"]}))
    store.write_samples(samples, make_tokens(samples, 2, logp_shift=1.0))
    traj = store.trajectory(sid)
    assert traj["pos"].to_pylist() == [0, 1]
    assert traj["logp"].to_pylist() == [-1.0, -2.0]
    assert store.table_counts()["pivots"] == 0  # pivots of the old tokens are gone too
    # tokens=None: the samples are rewritten and carry no tokens.
    store.write_samples(samples, None)
    assert store.table_counts()["tokens"] == 0


def test_tokens_are_stored_in_key_order_whatever_order_they_arrive_in(store: Store):
    samples = make_samples("e1", ["p1", "p2", "p3"], 1)
    tokens = make_tokens(samples, 4)
    shuffled = tokens.take(pa.array([7, 0, 11, 3, 5, 1, 9, 2, 10, 4, 8, 6]))
    store.write_samples(samples, shuffled)
    stored = token_columns(store, samples["sample_id"].to_pylist(), ["token_id"])
    expected = tokens.sort_by([("sample_id", "ascending"), ("pos", "ascending")])
    assert (
        stored.select(["sample_id", "pos", "token_id"]).to_pylist()
        == expected.select(["sample_id", "pos", "token_id"]).to_pylist()
    )


def _expect_rejected(store: Store, samples, tokens, match: str) -> None:
    before = store.table_counts()
    with pytest.raises(StoreError, match=match):
        store.write_samples(samples, tokens)
    assert store.table_counts() == before


def test_bad_sample_batches_are_rejected_with_nothing_written(store: Store):
    samples = make_samples("e1", ["p1"], 2)
    tokens = make_tokens(samples)
    _expect_rejected(store, samples, pa.concat_tables([tokens, tokens.slice(0, 1)]), "twice")
    other = make_tokens(make_samples("e9", ["p1"], 1))
    _expect_rejected(store, samples, pa.concat_tables([tokens, other]), "not in this samples")
    wrong_id = samples.set_column(0, "sample_id", pa.array([1, 2], pa.int64()))
    _expect_rejected(store, wrong_id, None, "does not match sample_id")
    no_owner = samples.drop_columns(["eval_id"])
    _expect_rejected(store, no_owner, None, "no owner")
    extra = samples.append_column("colour", pa.array(["red", "blue"]))
    _expect_rejected(store, extra, None, "unknown column.*colour")
    null_text = samples.set_column(5, "text", pa.array([None, "x"], pa.string()))
    _expect_rejected(store, null_text, None, "text holds nulls")
    bad_status = samples.set_column(8, "verify_status", pa.array(["ok", "maybe"]))
    _expect_rejected(store, bad_status, None, "verify_status 'maybe'")
    repeated = pa.concat_tables([samples, samples.slice(0, 1)])
    _expect_rejected(store, repeated, None, "repeats a value")


def test_a_batch_that_fails_inside_the_transaction_leaves_no_trace(store: Store):
    samples = make_samples("e1", ["p1"], 2)
    store.write_samples(samples.slice(0, 1), make_tokens(samples.slice(0, 1)))
    before = store.table_counts()
    # token_id "abc" passes the Arrow checks and fails in DuckDB's cast after the samples
    # were inserted: the whole batch must roll back.
    tokens = make_tokens(samples).set_column(2, "token_id", pa.array(["abc"] * 6))
    with pytest.raises(StoreError, match=r"rolled back: Conversion Error.*abc"):
        store.write_samples(samples, tokens)
    assert store.table_counts() == before
    assert store.done_sample_keys("e1") == {("p1", 0)}


def test_answer_source_and_source_verdict_round_trip_and_default_to_null(store: Store):
    samples = make_samples("e1", ["p1"], 3)
    extra = samples.append_column("answer_source", pa.array(["box", "raw", None]))
    extra = extra.append_column("source_score", pa.array([1.0, 0.5, None], pa.float64()))
    extra = extra.append_column("source_correct", pa.array([True, False, None]))
    store.write_samples(extra, None)
    store.write_samples(make_samples("e2", ["p1"], 1), None)  # columns absent
    got = store.eval_samples("e1").select(["answer_source", "source_score", "source_correct"])
    assert got.to_pylist() == [
        {"answer_source": "box", "source_score": 1.0, "source_correct": True},
        {"answer_source": "raw", "source_score": 0.5, "source_correct": False},
        {"answer_source": None, "source_score": None, "source_correct": None},
    ]
    absent = store.eval_samples("e2").to_pylist()[0]
    assert (absent["answer_source"], absent["source_score"], absent["source_correct"]) == (
        (None,) * 3
    )
    bad = samples.append_column("answer_source", pa.array(["box", "latex", "none"]))
    _expect_rejected(store, bad, None, r"answer_source 'latex' is not allowed; use one of box")


def test_an_eval_step_needs_its_run(store: Store):
    settings = dict(dataset="d", n=1, temperature=1.0, top_p=1.0, max_tokens=8, seed=0)
    with pytest.raises(StoreError, match="step 5 needs the run_id"):
        store.upsert_eval("e1", engine="hf", step=5, **settings)
    assert store.get_eval("e1") is None


def test_training_rollouts_are_keyed_by_run_and_step(store: Store):
    rows = [
        {
            "sample_id": sample_id(rollout_owner("r1", step), "p1", 0),
            "run_id": "r1",
            "step": step,
            "dataset": "synthetic",
            "problem_id": "p1",
            "sample_idx": 0,
            "text": "x",
            "n_tokens": 1,
            "reward": 1.0,
            "advantage": 0.5,
        }
        for step in (1, 2)
    ]
    store.write_samples(pa.Table.from_pylist(rows), None)
    assert dq.rollout_steps(store, "r1").select(["step", "n_samples"]).to_pylist() == [
        {"step": 1, "n_samples": 1},
        {"step": 2, "n_samples": 1},
    ]
    assert dq.step_outcomes(store, "r1", 2)["advantage"].to_pylist() == [0.5]


def test_done_sample_keys_lists_only_that_evals_samples(store: Store):
    store.write_samples(make_samples("e1", ["p1", "p2"], 2), None)
    store.write_samples(make_samples("e2", ["p3"], 1), None)
    assert store.done_sample_keys("e1") == {("p1", 0), ("p1", 1), ("p2", 0), ("p2", 1)}
    assert store.done_sample_keys("e3") == set()


# ---- credit and pivots ------------------------------------------------------------------------


def test_token_credit_updates_only_the_given_rows_and_columns(store: Store):
    samples = make_samples("e1", ["p1"], 1)
    store.write_samples(samples, make_tokens(samples, 3))
    sid = samples["sample_id"][0].as_py()
    credit = pa.table({"sample_id": [sid, sid], "pos": [2, 0], "future_kl": [0.25, -0.5]})
    assert store.update_token_credit(credit) == 2
    traj = store.trajectory(sid)
    assert traj["future_kl"].to_pylist() == [-0.5, None, 0.25]
    assert traj["logp"].to_pylist() == [0.0, -1.0, -2.0]  # untouched
    assert traj["influence_weight"].null_count == 3


def test_token_credit_for_unknown_rows_or_columns_changes_nothing(store: Store):
    samples = make_samples("e1", ["p1"], 1)
    store.write_samples(samples, make_tokens(samples, 2))
    sid = samples["sample_id"][0].as_py()
    missing = pa.table({"sample_id": [sid, sid], "pos": [0, 5], "delta": [1.0, 2.0]})
    with pytest.raises(StoreError, match="1 of 2 rows"):
        store.update_token_credit(missing)
    assert store.trajectory(sid)["delta"].null_count == 2
    with pytest.raises(StoreError, match="logp cannot be updated"):
        store.update_token_credit(pa.table({"sample_id": [sid], "pos": [0], "logp": [0.0]}))


def test_pivots_are_replaced_per_sample_and_kind(store: Store):
    samples = make_samples("e1", ["p1"], 1)
    store.write_samples(samples, make_tokens(samples, 5))
    sid = samples["sample_id"][0].as_py()

    def pivots(kind, positions):
        n = len(positions)
        return pa.table(
            {"sample_id": [sid] * n, "pos": positions, "kind": [kind] * n, "score": [1.0] * n}
        )

    store.write_pivots(pivots("keyword", [1]))
    store.write_pivots(pivots("credit", [0, 3]))
    store.write_pivots(pivots("credit", [4]))
    got = store.pivots(sid).select(["pos", "kind"]).to_pylist()
    assert got == [{"pos": 1, "kind": "keyword"}, {"pos": 4, "kind": "credit"}]
    assert store.pivots(sid, "keyword")["pos"].to_pylist() == [1]
    with pytest.raises(StoreError, match="pivot kind 'vibes'"):
        store.write_pivots(pivots("vibes", [0]))
    with pytest.raises(StoreError, match="not stored"):
        store.write_pivots(pa.table({"sample_id": [123], "pos": [0], "kind": ["credit"]}))


def test_pivots_replaced_by_scope_clear_samples_and_kinds_without_new_rows(store: Store):
    """replace=(sample_ids, kinds) leaves no stale pivot of a sample that has no new hits."""
    samples = make_samples("e1", ["p1", "p2"], 1)
    store.write_samples(samples, make_tokens(samples, 5))
    a, b = samples["sample_id"].to_pylist()

    def rows(*triples):
        sids, kinds, positions = zip(*triples, strict=True) if triples else ((), (), ())
        return pa.table(
            {
                "sample_id": pa.array(sids, pa.int64()),
                "pos": pa.array(positions, pa.int32()),
                "kind": pa.array(kinds, pa.string()),
            }
        )

    store.write_pivots(rows((a, "keyword", 1), (b, "keyword", 2), (b, "credit", 0)))
    # A new lexicon hits only sample a: b's keyword pivot goes, its credit pivot stays.
    assert store.write_pivots(rows((a, "keyword", 3)), replace=([a, b], ["keyword"])) == 1
    assert store.pivots(a).select(["pos", "kind"]).to_pylist() == [{"pos": 3, "kind": "keyword"}]
    assert store.pivots(b).select(["pos", "kind"]).to_pylist() == [{"pos": 0, "kind": "credit"}]
    # An empty batch with a scope only clears.
    assert store.write_pivots(rows(), replace=([b], ["credit"])) == 0
    assert store.pivots(b).num_rows == 0 and store.pivots(a).num_rows == 1
    # Rows outside the scope, or an unknown kind in it, are refused with nothing changed.
    with pytest.raises(StoreError, match="outside replace"):
        store.write_pivots(rows((b, "entropy", 1)), replace=([a], ["entropy"]))
    with pytest.raises(StoreError, match="outside replace"):
        store.write_pivots(rows((a, "credit", 1)), replace=([a], ["entropy"]))
    with pytest.raises(StoreError, match="pivot kind 'vibes'"):
        store.write_pivots(rows(), replace=([a], ["vibes"]))
    assert store.pivots(a)["pos"].to_pylist() == [3]


# ---- runs, evals, problems, metrics -----------------------------------------------------------


def test_runs_upsert_keeps_created_at_and_round_trips_config(store: Store):
    store.upsert_run("r1", kind="train", algo="fipo", config={"lr": 1e-5, "loss": {"tau": 32}})
    first = store.get_run("r1")
    store.upsert_run("r1", kind="train", algo="dapo", config={"lr": 2e-5})
    again = store.get_run("r1")
    assert again["algo"] == "dapo" and again["config"] == {"lr": 2e-5}
    assert again["created_at"] == first["created_at"]
    assert store.list_runs()["run_id"].to_pylist() == ["r1"]
    assert store.get_run("nope") is None
    with pytest.raises(StoreError, match="run kind 'sweep'"):
        store.upsert_run("r2", kind="sweep")


def test_checkpoints_come_back_by_step_and_upsert_by_id(store: Store):
    assert store.add_checkpoint("r1", 20, "/c/20") == "r1@20"
    store.add_checkpoint("r1", 10, "/c/10")
    store.add_checkpoint("r1", 20, "/c/20b")
    got = store.checkpoints("r1").select(["step", "path"]).to_pylist()
    assert got == [{"step": 10, "path": "/c/10"}, {"step": 20, "path": "/c/20b"}]


def test_eval_resume_returns_true_and_refuses_changed_sampling_settings(store: Store):
    settings = dict(dataset="aime24", n=4, temperature=1.0, top_p=0.7, max_tokens=64, seed=3)
    assert store.upsert_eval("e1", engine="hf", **settings) is False
    store.set_eval_status("e1", "failed")
    assert store.upsert_eval("e1", engine="vllm", **{**settings, "n": 8}) is True
    got = store.get_eval("e1")
    assert (got["status"], got["n"], got["engine"], got["finished_at"]) == (
        "running",
        8,
        "vllm",
        None,
    )
    with pytest.raises(StoreError, match=re.escape("temperature=1.0, asked temperature=0.6")):
        store.upsert_eval("e1", engine="hf", **{**settings, "temperature": 0.6})
    store.set_eval_status("e1", "done", metrics={"avg@8": 0.25})
    done = store.get_eval("e1")
    assert done["status"] == "done" and done["metrics"] == {"avg@8": 0.25}
    assert done["finished_at"] is not None
    with pytest.raises(StoreError, match="unknown eval_id 'e9'"):
        store.set_eval_status("e9", "done")
    with pytest.raises(StoreError, match="eval status 'ok'"):
        store.set_eval_status("e1", "ok")


def test_problems_upsert_by_dataset_and_id(store: Store):
    problems = [
        Problem("aime24", "1", "What is 1+1?", "2", {"year": 2024}),
        Problem("aime24", "2", "What is 2+2?", "4", {}),
    ]
    assert store.upsert_problems(problems) == 2
    store.upsert_problems([Problem("aime24", "1", "What is 1+1?", "02", {})])
    got = store.problems("aime24").select(["problem_id", "answer"]).to_pylist()
    assert got == [{"problem_id": "1", "answer": "02"}, {"problem_id": "2", "answer": "4"}]
    with pytest.raises(StoreError, match="appears twice"):
        store.upsert_problems([problems[0], problems[0]])


def test_train_metrics_upsert_per_step_and_name(store: Store):
    store.write_train_metrics("r1", 1, {"reward/mean": 0.1, "lr": 1e-6})
    store.write_train_metrics("r1", 2, {"reward/mean": 0.3})
    store.write_train_metrics("r1", 2, {"reward/mean": 0.4})  # a rerun of step 2
    curve = store.train_metrics("r1", ["reward/mean"])
    assert curve.select(["step", "value"]).to_pylist() == [
        {"step": 1, "value": 0.1},
        {"step": 2, "value": 0.4},
    ]
    assert store.train_metrics("r1").num_rows == 3
    with pytest.raises(StoreError, match="must be numbers"):
        store.write_train_metrics("r1", 3, {"x": "high"})


def test_list_evals_summarises_the_stored_samples_of_each_eval(store: Store):
    """n_samples, n_problems and accuracy come from the samples stored so far (a running eval
    shows its progress); samples alone never create an eval row."""
    settings = dict(dataset="aime24", n=4, temperature=1.0, top_p=1.0, max_tokens=8, seed=0)
    store.upsert_eval("e1", engine="hf", **settings)
    store.upsert_eval("e2", engine="hf", **settings)
    samples = make_samples("e1", ["p1", "p2"], 4, correct=lambda p, i: p == "p1" or i == 0)
    store.write_samples(samples, None)
    store.write_samples(make_samples("e3", ["p1"], 1), None)
    rows = {r["eval_id"]: r for r in store.list_evals().to_pylist()}
    assert sorted(rows) == ["e1", "e2"]
    assert (rows["e1"]["n_samples"], rows["e1"]["n_problems"]) == (8, 2)
    assert rows["e1"]["accuracy"] == pytest.approx(5 / 8)
    assert (rows["e2"]["n_samples"], rows["e2"]["accuracy"]) == (0, None)


# ---- read-only, reading(), export -------------------------------------------------------------


def test_read_only_store_refuses_writes(store: Store):
    reader = Store(store.path, read_only=True)
    with pytest.raises(StoreError, match="read_only"):
        reader.write_train_metrics("r", 1, {"x": 1.0})


def test_reading_block_reuses_one_connection_and_refuses_writes(store: Store):
    store.write_samples(make_samples("e1", ["p1"], 1), None)
    with store.reading():
        assert store.done_sample_keys("e1") == {("p1", 0)}
        assert store.table_counts()["samples"] == 1
        with pytest.raises(StoreError, match=re.escape("inside Store.reading()")):
            store.write_train_metrics("r", 1, {"x": 1.0})
    store.write_train_metrics("r", 1, {"x": 1.0})  # after the block, writes work again


def test_read_table_runs_one_read_query_with_views_that_do_not_outlive_it(store: Store):
    samples = make_samples("e1", ["p1", "p2", "p3"], 1)
    store.write_samples(samples, None)
    wanted = pa.table({"problem_id": ["p3", "p1"]})
    sql = "SELECT problem_id FROM samples SEMI JOIN w USING (problem_id) ORDER BY problem_id"
    got = store.read_table(sql, views={"w": wanted})
    assert got["problem_id"].to_pylist() == ["p1", "p3"]
    params = store.read_table("SELECT count(*) AS n FROM samples WHERE problem_id <> ?", ["p1"])
    assert params["n"].to_pylist() == [2]
    with store.reading():  # one held connection: a view must not leak into the next query
        assert store.read_table(sql, views={"w": wanted}).num_rows == 2
        with pytest.raises(StoreError, match=r"read query .* failed"):
            store.read_table("SELECT * FROM w")
    # The reader connection is read-only: a write through it is refused and changes nothing.
    with pytest.raises(StoreError, match=r"read query .* failed"):
        store.read_table("DELETE FROM samples")
    assert store.table_counts()["samples"] == 3


def test_query_modules_read_only_through_the_public_store_api():
    """dashboard_queries and analysis_queries go through Store.read_table, never the store's
    private connection helpers (which may change without notice)."""
    import inspect

    from fipo_bench.store import analysis_queries, dashboard_queries

    for module in (analysis_queries, dashboard_queries):
        source = inspect.getsource(module)
        assert re.search(r"\._\w+\(|import _\w+", source) is None, module.__name__


def test_export_parquet_and_csv_round_trip_in_key_order(store: Store, tmp_path: Path):
    samples = make_samples("e1", ["p1", "p2"], 2)
    tokens = make_tokens(samples, 3)
    store.write_samples(samples, tokens)
    out = store.export_table("tokens", "parquet", tmp_path / "tokens.parquet")
    got = pq.read_table(out)
    expected = tokens.sort_by([("sample_id", "ascending"), ("pos", "ascending")])
    assert got["token_id"].to_pylist() == expected["token_id"].to_pylist()
    assert got.num_rows == 12
    csv = store.export_table("samples", "csv", tmp_path / "samples.csv").read_text()
    assert csv.splitlines()[0].startswith("sample_id,eval_id,run_id")
    assert len(csv.splitlines()) == 1 + 4


def test_export_rejects_bad_table_format_or_folder_and_writes_nothing(store: Store, tmp_path: Path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(StoreError, match="table 'nope'"):
        store.export_table("nope", "csv", out_dir / "x.csv")
    with pytest.raises(StoreError, match="export format 'xlsx'"):
        store.export_table("runs", "xlsx", out_dir / "x.xlsx")
    with pytest.raises(StoreError, match="does not exist"):
        store.export_table("runs", "csv", out_dir / "missing" / "x.csv")
    assert list(out_dir.iterdir()) == []
