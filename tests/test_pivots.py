"""Self-reflection pivots: keyword spans on hand-written token texts, credit and entropy pivots,
and what `find_pivots` stores."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from fipo_bench.analysis.pivots import (
    Lexicon,
    credit_pivots,
    entropy_pivots,
    find_pivots,
    keyword_hits,
)
from fipo_bench.analysis.settings import PivotSettings
from fipo_bench.errors import ConfigError
from fipo_bench.reflection import default_lexicon
from fipo_bench.store import Store, sample_id
from fipo_bench.store.analysis_queries import token_columns

LEX = default_lexicon()


def _spans(tokens: list[str], lexicon: Lexicon = LEX) -> list[tuple[str, int, int]]:
    return [(h.label, h.first_pos, h.last_pos) for h in keyword_hits(tokens, lexicon)]


def test_a_phrase_split_over_tokens_covers_every_token_it_touches():
    tokens = ["So ", "wa", "it", ", let", " me re", "-", "check", " it."]
    # "wait" = tokens 1-2; "let me re-check" starts inside token 3 and ends with token 6.
    assert _spans(tokens) == [("wait", 1, 2), ("let me re-check", 3, 6)]


def test_matching_is_case_insensitive_and_whole_word():
    tokens = ["WAIT", ".", " Hmm", ", I", " await", " waiting", " Alter", "natively", "!"]
    assert _spans(tokens) == [("wait", 0, 0), ("hmm", 2, 2), ("alternatively", 6, 7)]


def test_longest_phrase_wins_and_whitespace_inside_a_phrase_is_flexible():
    tokens = ["Let", " me", " double-check", ".", " Check", "\n  ", "again", "."]
    assert _spans(tokens) == [("let me double-check", 0, 2), ("check again", 4, 6)]


def test_offsets_stay_exact_after_characters_whose_lowercase_is_longer():
    # "İ".lower() has two characters: matching must not lowercase the text itself.
    tokens = ["İİİ", " x", " wait", " verify"]
    assert _spans(tokens) == [("wait", 2, 2), ("verify", 3, 3)]


def test_a_custom_lexicon_replaces_the_default_and_counts_hits():
    lex = Lexicon.compile(["Oops", "  on second thought "])
    assert _spans(["oops", " wait", " on second", " thought"], lex) == [
        ("oops", 0, 0),
        ("on second thought", 2, 3),
    ]
    assert lex.count("Oops... OOPS, wait") == 2


def test_credit_pivots_are_sign_changes_and_top_percent_of_the_trajectory():
    fkl = np.array([0.1, 0.2, -0.05, -0.3, 0.0, 0.4, 0.01, 0.02, 0.03, 0.04])
    got = credit_pivots(fkl, top_percent=10, sign_changes=True)
    # sign changes at 2 (+ -> -) and 5 (- -> + across the zero at 4); top 10% = 1 token: 5.
    assert [(p, label) for p, label, _ in got] == [(2, "sign_change"), (5, "sign_change+top_abs")]
    top = credit_pivots(fkl, top_percent=20, sign_changes=False)
    assert [(p, label, s) for p, label, s in top] == [(3, "top_abs", -0.3), (5, "top_abs", 0.4)]
    assert credit_pivots(np.zeros(6), top_percent=50, sign_changes=True) == []


def test_entropy_pivots_are_the_tokens_at_or_above_the_threshold():
    assert entropy_pivots(np.array([0.5, 2.0, np.nan, 1.0, 3.0]), 1.0) == [
        (1, 2.0),
        (3, 1.0),
        (4, 3.0),
    ]


@pytest.mark.parametrize(
    "kwargs",
    [{"lexicon": ()}, {"lexicon": ("wait", " ")}, {"credit_top_percent": 0},
     {"entropy_top_percent": 101}],
)  # fmt: skip
def test_bad_pivot_settings_are_config_errors(kwargs):
    from fipo_bench.config import validate

    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        validate(PivotSettings, kwargs)


TEXTS = {
    ("q1", 0): ["Wa", "it", ",", " 3", "+", "4", " is", " 7", "."],
    ("q1", 1): ["7"],
    ("q2", 0): ["Hmm", ", ", "let me ", "re", "-check", ": ", "8", "."],
}


def _store_with_samples(tmp_path, *, with_credit: bool) -> tuple[Store, dict]:
    store = Store(tmp_path / "p.duckdb")
    store.upsert_eval(
        "ev", dataset="toy", n=2, temperature=1.0, top_p=1.0, max_tokens=16, seed=0, engine="hf"
    )
    ids = {key: sample_id("ev", key[0], key[1]) for key in TEXTS}
    samples = pa.table(
        {
            "sample_id": pa.array(list(ids.values()), pa.int64()),
            "eval_id": ["ev"] * len(ids),
            "dataset": ["toy"] * len(ids),
            "problem_id": [k[0] for k in ids],
            "sample_idx": pa.array([k[1] for k in ids], pa.int32()),
            "text": ["".join(t) for t in TEXTS.values()],
            "n_tokens": pa.array([len(t) for t in TEXTS.values()], pa.int32()),
            "correct": [False, True, True],
        }
    )
    sids = [ids[k] for k in TEXTS for _ in TEXTS[k]]
    tokens = pa.table(
        {
            "sample_id": pa.array(sids, pa.int64()),
            "pos": pa.array([p for k in TEXTS for p in range(len(TEXTS[k]))], pa.int32()),
            "token_id": pa.array([0] * len(sids), pa.int32()),
            "token": [t for k in TEXTS for t in TEXTS[k]],
        }
    ).sort_by([("sample_id", "ascending"), ("pos", "ascending")])
    store.write_samples(samples, tokens)
    if with_credit:
        rng = np.random.default_rng(0)
        n = tokens.num_rows
        store.update_token_credit(
            tokens.select(["sample_id", "pos"])
            .append_column("future_kl", pa.array(rng.normal(size=n), pa.float32()))
            .append_column("entropy", pa.array(rng.uniform(0, 3, size=n), pa.float32()))
        )
    return store, ids


def test_find_pivots_without_credit_stores_keyword_spans_and_reflection_counts(tmp_path):
    store, ids = _store_with_samples(tmp_path, with_credit=False)
    summary = find_pivots(store, "ev")
    assert summary.kinds == ("keyword",)
    assert summary.reflection_counts == {ids[("q1", 0)]: 1, ids[("q1", 1)]: 0, ids[("q2", 0)]: 2}
    assert summary.reflection_rate == pytest.approx(2 / 3)
    rows = store.pivots(ids[("q2", 0)], "keyword").to_pylist()
    # "Hmm" is hit 1 (token 0); "let me re-check" is hit 2 over tokens 2-4.
    assert [(r["pos"], r["label"], r["score"]) for r in rows] == [
        (0, "hmm", 1.0),
        (2, "let me re-check", 2.0),
        (3, "let me re-check", 2.0),
        (4, "let me re-check", 2.0),
    ]
    again = find_pivots(store, "ev")  # rerun: replaced, never duplicated
    assert again.rows_written == summary.rows_written
    assert store.table_counts()["pivots"] == summary.rows_written["keyword"] == 1 * 2 + 4


def test_entropy_pivots_are_the_top_share_of_the_whole_eval(tmp_path):
    store, ids = _store_with_samples(tmp_path, with_credit=True)
    summary = find_pivots(store, "ev", PivotSettings(entropy_top_percent=25))
    assert summary.kinds == ("keyword", "credit", "entropy")
    entropy = token_columns(store, list(ids.values()), ["entropy"])["entropy"].to_numpy()
    assert summary.entropy_threshold == pytest.approx(np.quantile(entropy, 0.75), rel=1e-6)
    stored = sum(store.pivots(sid, "entropy").num_rows for sid in ids.values())
    assert (
        stored
        == int((entropy >= summary.entropy_threshold).sum())
        == summary.rows_written["entropy"]
    )
    for sid in ids.values():
        fkl = store.trajectory(sid)["future_kl"].to_numpy()
        expected = [p for p, _, _ in credit_pivots(fkl, top_percent=1.0, sign_changes=True)]
        assert store.pivots(sid, "credit")["pos"].to_pylist() == expected


def test_a_rerun_with_another_lexicon_leaves_no_stale_pivots(tmp_path):
    """A sample without hits under the new lexicon ends with no keyword pivots, and the other
    kinds stay as they were."""
    store, ids = _store_with_samples(tmp_path, with_credit=True)
    find_pivots(store, "ev")
    credit_before = {sid: store.pivots(sid, "credit").num_rows for sid in ids.values()}
    assert store.pivots(ids[("q2", 0)], "keyword").num_rows > 0
    summary = find_pivots(store, "ev", PivotSettings(lexicon=("wait",)), kinds=("keyword",))
    assert summary.reflection_counts == {ids[("q1", 0)]: 1, ids[("q1", 1)]: 0, ids[("q2", 0)]: 0}
    assert store.pivots(ids[("q2", 0)], "keyword").num_rows == 0
    kept = {r["label"] for sid in ids.values() for r in store.pivots(sid, "keyword").to_pylist()}
    assert kept == {"wait"}
    assert {sid: store.pivots(sid, "credit").num_rows for sid in ids.values()} == credit_before


def test_pivot_settings_are_kept_as_the_evals_analysis_not_as_a_run(tmp_path):
    store, _ = _store_with_samples(tmp_path, with_credit=False)
    find_pivots(store, "ev", PivotSettings(lexicon=("wait", "hmm")))
    record = store.get_analysis("ev", "pivots")["settings"]
    assert record["lexicon"] == ["wait", "hmm"] and record["kinds"] == ["keyword"]
    assert store.list_runs().num_rows == 0  # nothing for the dashboard to list as a run
