"""Credit around self-reflection pivots: an event study over an eval's credited trajectories.

Events are the eval's keyword pivots ("wait", "let me re-check", ...: `fipo-bench credit`
stores them), each at the first token of its hit. For every offset o in -K..K the study
averages future_kl, influence_weight, delta and entropy over the tokens o positions after an
event (all events pooled, one token per event and offset), and the same around a control
event: one random credited position of the same trajectory per pivot (seeded), so a shape
that merely follows from where pivots sit in a trajectory shows in both curves alike. The 95%
bands resample trajectories (the events of one response are not independent). It also gives
the share of all |Future-KL| mass that lies within K tokens of a pivot against the share of
tokens that lie there, and the token n-grams whose occurrences carry the most credit.

All aggregation over tokens runs in DuckDB (store.analysis_queries); Python sees one row per
(trajectory, offset).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fipo_bench.analysis.stats import CONFIDENCE, cluster_bootstrap_ratios
from fipo_bench.errors import ConfigError, StoreError

DEFAULT_WINDOW = 64
EVENT_RESAMPLES = 1_000
EVENT_KINDS = ("pivot", "random")
NGRAM_N = 3
NGRAM_TOP = 10
NGRAM_MIN_TRAJECTORIES = 3
MAX_WINDOW = 4096


@dataclass(frozen=True)
class MassShare:
    """|Future-KL| within `window` tokens of a pivot, as a share of all of it, against the
    share of tokens that lie there (enrichment = mass_share / token_share)."""

    window: int
    mass_share: float
    ci_low: float
    ci_high: float
    token_share: float

    @property
    def enrichment(self) -> float:
        if not self.token_share > 0:
            return math.nan
        return self.mass_share / self.token_share


@dataclass(frozen=True)
class EventStudy:
    eval_id: str
    window: int
    n_trajectories: int  # credited trajectories with at least one pivot
    n_pivots: int
    curves: pd.DataFrame  # kind, metric, offset, mean, ci_low, ci_high, n_tokens
    mass: MassShare
    ngrams: pd.DataFrame  # ngram, occurrences, trajectories, mean_future_kl, ...

    @property
    def empty(self) -> bool:
        return self.n_pivots == 0


def check_window(window: int) -> None:
    if not 1 <= window <= MAX_WINDOW:
        raise ConfigError(f"--window {window} is invalid; allowed: 1 to {MAX_WINDOW} tokens")


def _curves(
    rows: pd.DataFrame, window: int, resamples: int, seed: int, confidence: float
) -> tuple[pd.DataFrame, int, int]:
    """Pool the per-(kind, trajectory, offset) sums into per-(kind, metric, offset) means with
    trajectory-bootstrap bands; also (trajectories, pivots at offset 0)."""
    from fipo_bench.store.analysis_queries import EVENT_METRICS

    columns = ["kind", "metric", "offset", "mean", "ci_low", "ci_high", "n_tokens"]
    if rows.empty:
        return pd.DataFrame(columns=columns), 0, 0
    offsets = np.arange(-window, window + 1)
    samples = np.sort(rows["sample_id"].unique())
    s_index = np.searchsorted(samples, rows["sample_id"].to_numpy())
    o_index = rows["offset"].to_numpy() + window
    k_index = (rows["kind"] == EVENT_KINDS[1]).to_numpy().astype(int)
    shape = (samples.size, len(EVENT_KINDS), len(EVENT_METRICS), offsets.size)
    sums, counts = np.zeros(shape), np.zeros(shape)
    for m, metric in enumerate(EVENT_METRICS):  # rows are unique per (kind, trajectory, offset)
        sums[s_index, k_index, m, o_index] = rows[f"sum_{metric}"].fillna(0).to_numpy()
        counts[s_index, k_index, m, o_index] = rows[f"n_{metric}"].to_numpy()
    flat_sums, flat_counts = sums.reshape(samples.size, -1), counts.reshape(samples.size, -1)
    low, high = cluster_bootstrap_ratios(
        flat_sums, flat_counts, resamples=resamples, seed=seed, confidence=confidence
    )
    total_sum, total_n = flat_sums.sum(axis=0), flat_counts.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total_sum / total_n
    grid = pd.MultiIndex.from_product(
        [EVENT_KINDS, EVENT_METRICS, offsets], names=["kind", "metric", "offset"]
    ).to_frame(index=False)
    curves = grid.assign(mean=mean, ci_low=low, ci_high=high, n_tokens=total_n.astype(int))
    n_pivots = int(counts[:, 0, 0, window].sum())  # every event has its own token at offset 0
    return curves[columns], int(samples.size), n_pivots


def _mass(rows: pd.DataFrame, window: int, resamples: int, seed: int, confidence: float):
    if rows.empty or not rows["mass"].sum() > 0:
        return MassShare(window, math.nan, math.nan, math.nan, math.nan)
    num = rows[["mass_near"]].to_numpy(dtype=np.float64)
    den = rows[["mass"]].to_numpy(dtype=np.float64)
    low, high = cluster_bootstrap_ratios(
        num, den, resamples=resamples, seed=seed, confidence=confidence
    )
    return MassShare(
        window=window,
        mass_share=float(num.sum() / den.sum()),
        ci_low=float(low[0]),
        ci_high=float(high[0]),
        token_share=float(rows["n_near"].sum() / rows["n_tokens"].sum()),
    )


def event_study(
    store,
    eval_id: str,
    *,
    window: int = DEFAULT_WINDOW,
    seed: int = 0,
    resamples: int = EVENT_RESAMPLES,
    confidence: float = CONFIDENCE,
    ngram_n: int = NGRAM_N,
    ngram_top: int = NGRAM_TOP,
    ngram_min_trajectories: int = NGRAM_MIN_TRAJECTORIES,
) -> EventStudy:
    """The event study of one stored eval (read-only). StoreError for an unknown eval."""
    from fipo_bench.store.analysis_queries import (
        credit_mass_near_pivots,
        credit_ngrams,
        event_windows,
    )

    check_window(window)
    if store.get_eval(eval_id) is None:
        raise StoreError(f"eval {eval_id!r} is not in {store.path}; see `fipo-bench db info`")
    boot_seed, mass_seed = np.random.SeedSequence(seed).spawn(2)
    windows = event_windows(store, eval_id, window=window, seed=seed).to_pandas()
    curves, n_traj, n_pivots = _curves(windows, window, resamples, boot_seed, confidence)
    mass_rows = credit_mass_near_pivots(store, eval_id, window=window).to_pandas()
    ngrams = credit_ngrams(
        store, eval_id, n=ngram_n, min_trajectories=ngram_min_trajectories, top=ngram_top
    ).to_pandas()
    return EventStudy(
        eval_id=eval_id,
        window=window,
        n_trajectories=n_traj,
        n_pivots=n_pivots,
        curves=curves,
        mass=_mass(mass_rows, window, resamples, mass_seed, confidence),
        ngrams=ngrams,
    )
