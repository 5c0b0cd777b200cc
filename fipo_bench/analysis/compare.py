"""Checkpoints side by side: each eval's statistics and every eval against one baseline.

    from fipo_bench.analysis.compare import compare_evals
    comparison = compare_evals(store, ["ev-a", "ev-b", "ev-c"])   # baseline: the first
    comparison.records()        # what `fipo-bench compare --format json` prints

The statistics are fipo_bench.analysis.stats (standard errors over problems, a paired
bootstrap interval and a paired permutation p-value per difference); this module loads the
evals, checks that they can be paired and lays the results out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fipo_bench.analysis.evals import StoredEval, load_evals
from fipo_bench.analysis.stats import (
    CONFIDENCE,
    DEFAULT_RESAMPLES,
    Difference,
    EvalStats,
    eval_stats,
    paired_differences,
)
from fipo_bench.errors import ConfigError
from fipo_bench.eval.metrics import ProblemScores, problem_scores

# Keys of one comparison record, in the order `--format json|csv` writes them.
RECORD_KEYS = (
    "baseline",
    "eval",
    "baseline_label",
    "eval_label",
    "metric",
    "k",
    "baseline_value",
    "eval_value",
    "delta",
    "ci_low",
    "ci_high",
    "excludes_zero",
    "p_value",
    "wins",
    "ties",
    "losses",
    "n_problems",
)
MAX_RESAMPLES = 1_000_000


@dataclass(frozen=True)
class ScoredEval:
    """A stored eval with its per-problem scores and statistics."""

    stored: StoredEval
    scores: ProblemScores
    stats: EvalStats

    @property
    def eval_id(self) -> str:
        return self.stored.eval_id

    @property
    def label(self) -> str:
        return self.stored.label


def score(stored: StoredEval) -> ScoredEval:
    scores = problem_scores(stored.outcomes)
    return ScoredEval(stored, scores, eval_stats(scores))


@dataclass(frozen=True)
class Comparison:
    baseline: ScoredEval
    others: tuple[ScoredEval, ...]
    differences: dict[str, list[Difference]]  # eval_id of each other eval -> its rows
    resamples: int
    seed: int
    confidence: float

    @property
    def evals(self) -> tuple[ScoredEval, ...]:
        return (self.baseline, *self.others)

    @property
    def notes(self) -> list[str]:
        """One line per caveat: partial evals, and evals whose samples per problem differ from
        the baseline's (their avg@k and cons@k use all their own samples; pass@k rows stop at
        the smaller n)."""
        notes = [e.stored.partial_note for e in self.evals if e.stored.partial]
        base_n = self.baseline.stats.n
        notes += [
            f"{o.label} has n = {o.stats.n} samples per problem, {self.baseline.label} n ="
            f" {base_n}: cons@k votes over different numbers of samples; pass@k stops at"
            f" k = {min(base_n, o.stats.n)}"
            for o in self.others
            if o.stats.n != base_n
        ]
        return notes

    def records(self) -> list[dict[str, Any]]:
        """One flat record per (eval, metric, k); NaN becomes None (JSON null)."""
        out = []
        for other in self.others:
            for d in self.differences[other.eval_id]:
                record = {
                    "baseline": self.baseline.eval_id,
                    "eval": other.eval_id,
                    "baseline_label": self.baseline.label,
                    "eval_label": other.label,
                    "metric": d.metric,
                    "k": d.k,
                    "baseline_value": d.baseline_value,
                    "eval_value": d.eval_value,
                    "delta": d.delta,
                    "ci_low": d.ci_low,
                    "ci_high": d.ci_high,
                    "excludes_zero": d.excludes_zero,
                    "p_value": d.p_value,
                    "wins": d.wins,
                    "ties": d.ties,
                    "losses": d.losses,
                    "n_problems": d.n_problems,
                }
                out.append({k: _finite_or_none(v) for k, v in record.items()})
        return out


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def check_compare_args(eval_ids: Sequence[str], baseline: str | None, resamples: int) -> None:
    """ConfigError for fewer than two distinct evals, a baseline that is not one of them, or a
    resample count out of range. Checked before anything is read."""
    distinct = list(dict.fromkeys(eval_ids))
    if len(distinct) < 2:
        raise ConfigError(
            f"compare needs at least two different --eval ids, got {len(distinct)}"
            f" ({', '.join(distinct) or 'none'})"
        )
    if baseline is not None and baseline not in distinct:
        raise ConfigError(
            f"--baseline {baseline!r} is not one of the --eval ids; allowed: {', '.join(distinct)}"
        )
    check_resamples(resamples)


def check_resamples(resamples: int) -> None:
    if not 1 <= resamples <= MAX_RESAMPLES:
        raise ConfigError(f"--resamples {resamples} is invalid; allowed: 1 to {MAX_RESAMPLES}")


def compare_scored(
    evals: Sequence[ScoredEval],
    *,
    baseline: str | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> Comparison:
    """Every eval against the baseline (its eval_id; default the first)."""
    check_compare_args([e.eval_id for e in evals], baseline, resamples)
    by_id = {e.eval_id: e for e in evals}
    base = by_id[baseline or evals[0].eval_id]
    others = tuple(e for e in by_id.values() if e is not base)
    differences = {
        o.eval_id: paired_differences(
            base.scores,
            o.scores,
            resamples=resamples,
            seed=seed,
            confidence=confidence,
            names=(base.label, o.label),
        )
        for o in others
    }
    return Comparison(base, others, differences, resamples, seed, confidence)


def compare_evals(
    store,
    eval_ids: Sequence[str],
    *,
    baseline: str | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Comparison:
    """Load the evals from `store` (read-only is enough) and compare them to the baseline."""
    check_compare_args(eval_ids, baseline, resamples)
    return compare_scored(
        [score(e) for e in load_evals(store, eval_ids)],
        baseline=baseline,
        resamples=resamples,
        seed=seed,
    )
