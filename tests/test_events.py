"""The pivot event study on trajectories built so that every number is known in advance."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from fipo_bench.analysis.events import event_study
from fipo_bench.analysis.pivots import find_pivots
from fipo_bench.analysis.settings import PivotSettings
from fipo_bench.errors import ConfigError
from fipo_bench.eval.rows import SAMPLE_SCHEMA
from fipo_bench.store import Store, sample_id

WINDOW = 16
# (length, pivot position) of each trajectory: "wait" is spelled over 4 one-character tokens.
TRAJECTORIES = ((200, 100), (150, 30), (120, 110))


def _trajectory(eval_id: str, index: int, length: int, pivot: int):
    sid = sample_id(eval_id, f"p{index}", 0)
    tokens = ["x"] * length
    tokens[pivot - 1] = " "
    tokens[pivot : pivot + 4] = list("wait")
    if pivot + 4 < length:
        tokens[pivot + 4] = " "
    pos = np.arange(length)
    sample = {
        "sample_id": sid, "eval_id": eval_id, "dataset": "toy", "problem_id": f"p{index}",
        "sample_idx": 0, "text": "".join(tokens), "n_tokens": length, "correct": True,
        "extracted": "1",
    }  # fmt: skip
    token_rows = pa.table(
        {
            "sample_id": pa.array(np.full(length, sid), pa.int64()),
            "pos": pa.array(pos, pa.int32()),
            "token_id": pa.array(np.zeros(length), pa.int32()),
            "token": pa.array(tokens, pa.string()),
            # future_kl at offset o from the pivot is exactly o; delta spikes 3 tokens after it.
            "future_kl": pa.array(pos - pivot, pa.float32()),
            "influence_weight": pa.array(np.full(length, 1.1), pa.float32()),
            "delta": pa.array((pos == pivot + 3).astype(float), pa.float32()),
            "entropy": pa.array(np.full(length, 0.5), pa.float32()),
        }
    )
    return sample, token_rows


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("events") / "e.duckdb"
    store = Store(path)
    store.upsert_eval(
        "ev", dataset="toy", n=1, temperature=1.0, top_p=1.0, max_tokens=500, seed=0, engine="hf"
    )
    built = [_trajectory("ev", i, n, p) for i, (n, p) in enumerate(TRAJECTORIES)]
    samples = pa.Table.from_pylist([s for s, _ in built], schema=SAMPLE_SCHEMA)
    store.write_samples(samples, pa.concat_tables([t for _, t in built]))
    find_pivots(store, "ev", PivotSettings(lexicon=("wait",)), kinds=("keyword",))
    return path


def test_pivot_curves_read_the_values_at_each_offset(db):
    study = event_study(Store(db, read_only=True), "ev", window=WINDOW, resamples=200)
    assert (study.n_pivots, study.n_trajectories) == (3, 3)
    pivot = study.curves[study.curves["kind"] == "pivot"].set_index(["metric", "offset"])
    for offset in range(-WINDOW, WINDOW + 1):
        # Trajectories whose token at pivot + offset exists (the third ends 10 after its pivot).
        present = sum(0 <= p + offset < n for n, p in TRAJECTORIES)
        row = pivot.loc[("future_kl", offset)]
        assert row["n_tokens"] == present
        assert row["mean"] == pytest.approx(offset)
        # Every trajectory reads the same value there: the band has no width.
        assert row["ci_low"] == pytest.approx(offset) and row["ci_high"] == pytest.approx(offset)
        assert pivot.loc[("delta", offset), "mean"] == (1.0 if offset == 3 else 0.0)
        assert pivot.loc[("entropy", offset), "mean"] == pytest.approx(0.5)
        assert pivot.loc[("influence_weight", offset), "mean"] == pytest.approx(1.1)


def test_random_positions_are_one_per_pivot_in_the_same_trajectories_and_seeded(db):
    store = Store(db, read_only=True)
    first = event_study(store, "ev", window=WINDOW, resamples=200, seed=1)
    again = event_study(store, "ev", window=WINDOW, resamples=200, seed=1)
    pd_equal = first.curves.equals(again.curves)
    assert pd_equal
    rnd = first.curves[first.curves["kind"] == "random"].set_index(["metric", "offset"])
    assert rnd.loc[("future_kl", 0), "n_tokens"] == 3  # one control event per pivot
    assert rnd.loc[("entropy", 0), "mean"] == pytest.approx(0.5)
    moved = [
        event_study(store, "ev", window=WINDOW, resamples=50, seed=s).curves for s in range(2, 6)
    ]
    means = {
        float(
            c[(c["kind"] == "random") & (c["metric"] == "future_kl") & (c["offset"] == 0)][
                "mean"
            ].iloc[0]
        )
        for c in moved
    }
    assert len(means) > 1  # the control positions depend on the seed


def test_mass_share_near_pivots_and_ngram_credit_by_hand(db):
    study = event_study(
        Store(db, read_only=True), "ev", window=WINDOW, resamples=200, ngram_min_trajectories=2
    )
    near_mass = total_mass = near_tokens = total_tokens = 0.0
    for n, p in TRAJECTORIES:
        pos = np.arange(n)
        near = np.abs(pos - p) <= WINDOW
        near_mass += np.abs(pos - p)[near].sum()
        total_mass += np.abs(pos - p).sum()
        near_tokens += near.sum()
        total_tokens += n
    assert study.mass.mass_share == pytest.approx(near_mass / total_mass)
    assert study.mass.token_share == pytest.approx(near_tokens / total_tokens)
    assert study.mass.ci_low <= study.mass.mass_share <= study.mass.ci_high
    grams = study.ngrams.set_index("ngram")
    # "wai" starts at each pivot: future_kl 0 + 1 + 2 in all three trajectories.
    assert grams.loc["wai", "occurrences"] == 3 and grams.loc["wai", "trajectories"] == 3
    assert grams.loc["wai", "mean_future_kl"] == pytest.approx(3.0)
    assert grams.loc["wai", "mean_influence_weight"] == pytest.approx(1.1)
    assert list(study.ngrams["mean_future_kl"]) == sorted(study.ngrams["mean_future_kl"])[::-1]


def test_an_eval_without_pivots_gives_an_empty_study_and_bad_windows_are_refused(db, tmp_path):
    store = Store(tmp_path / "empty.duckdb")
    store.upsert_eval(
        "none", dataset="toy", n=1, temperature=1.0, top_p=1.0, max_tokens=5, seed=0, engine="hf"
    )
    study = event_study(store, "none", window=8, resamples=10)
    assert study.empty and study.curves.empty and np.isnan(study.mass.mass_share)
    with pytest.raises(ConfigError, match="--window 0"):
        event_study(store, "none", window=0)
