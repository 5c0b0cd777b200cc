"""Eval metrics from verified samples: avg@k, cons@k, pass@k, response-length statistics.

Pure functions over `SampleOutcome` records (no I/O). `problem_scores` reduces an eval to one
row per problem (samples, correct, majority-vote outcome, the pass@k curve); `compute_metrics`
averages those rows over problems, and the comparison statistics (fipo_bench.analysis.stats)
resample the same rows. Length statistics and quartiles are `fipo_bench.algos.lengths`.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, localcontext

import numpy as np

from fipo_bench.algos.lengths import QuartileAccuracy, length_stats
from fipo_bench.algos.lengths import accuracy_by_length_quartile as _quartiles

__all__ = [
    "EvalMetrics",
    "ProblemScores",
    "SampleOutcome",
    "accuracy_by_length_quartile",
    "compute_metrics",
    "cons_correct",
    "length_stats",
    "majority_vote",
    "normalise_answer",
    "pass_at_k",
    "pass_at_k_curve",
    "pass_k_values",
    "problem_scores",
]

LengthQuartile = QuartileAccuracy


@dataclass(frozen=True)
class SampleOutcome:
    """One verified response: the only fields the metrics need."""

    problem_id: str
    sample_idx: int
    extracted: str | None  # extracted final answer; None when the response has none
    correct: bool
    n_tokens: int  # response length in tokens


@dataclass(frozen=True)
class EvalMetrics:
    n: int  # samples per problem (the smallest count when an eval is incomplete)
    num_problems: int
    num_samples: int
    avg_at_n: float
    cons_at_n: float
    pass_at_k: dict[int, float]  # k = 1, 2, 4, ... <= n
    response_length: dict[str, float]  # min, q25, mean, median, q75, max (tokens)
    accuracy_by_length_quartile: tuple[QuartileAccuracy, ...]
    per_problem_accuracy: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, float]:
        """Flat names as verl/TRL print them: avg@32, cons@32, pass@k, response_length/..."""
        out: dict[str, float] = {
            f"avg@{self.n}": self.avg_at_n,
            f"cons@{self.n}": self.cons_at_n,
        }
        out.update({f"pass@{k}": v for k, v in self.pass_at_k.items()})
        out.update({f"response_length/{k}": v for k, v in self.response_length.items()})
        return out


_NUMBER = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)")
_THOUSANDS = re.compile(r"[-+]?\d{1,3}(,\d{3})+(\.\d*)?")
_LATEX_NOISE = re.compile(r"\\left|\\right|\\!|\\,|\\;|\\ |\s+")


def normalise_answer(extracted: str | None) -> str | None:
    """Canonical form for voting: "025", "25.0" and " 25 " are the same vote; "" is no answer."""
    if extracted is None:
        return None
    text = extracted.strip().strip("$").strip()
    boxed = re.fullmatch(r"\\boxed\{(.*)\}", text)
    if boxed:
        text = boxed.group(1)
    text = _LATEX_NOISE.sub("", text).rstrip(".")
    if text.startswith("\\text{") and text.endswith("}"):
        text = text[len("\\text{") : -1]
    if not text:
        return None
    if _THOUSANDS.fullmatch(text):
        text = text.replace(",", "")
    if _NUMBER.fullmatch(text):
        # Enough digits for this number: the default 28 would round a longer one (two different
        # votes merged) and make quantize raise (a 40-digit answer from a drifting checkpoint).
        with localcontext() as context:
            context.prec = max(28, len(text))
            value = Decimal(text)
            # normalize() turns 25.0 into 25 but 100 into 1E+2; quantize back to a plain integer.
            if value == value.to_integral_value():
                return str(value.quantize(Decimal(1)))
            return format(value.normalize(), "f")
    return text


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of Chen et al. (2021): 1 - C(n-c, k) / C(n, k).

    Written as a product (Codex paper, Fig. 3) so large n never builds huge binomials."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def pass_at_k_curve(n: int, c: int, k_max: int) -> np.ndarray:
    """[pass@1, ..., pass@k_max] of one problem with c of n samples correct (k_max <= n).

    C(n-c, k) / C(n, k) = prod_{j=1..k} (n-c-j+1) / (n-j+1): one cumulative product gives the
    whole curve (the factor is 0 from k = n-c+1 on, where pass@k is 1)."""
    if not 0 <= c <= n or not 0 <= k_max <= n:
        raise ValueError(
            f"pass_at_k_curve needs 0 <= c <= n and k_max <= n; got {n=} {c=} {k_max=}"
        )
    j = np.arange(1, k_max + 1, dtype=np.float64)
    return 1.0 - np.cumprod((n - c - j + 1) / (n - j + 1))


def pass_k_values(n: int) -> list[int]:
    """k = 1, 2, 4, ... <= n (the paper reports pass@32 for n = 32)."""
    ks, k = [], 1
    while k <= n:
        ks.append(k)
        k *= 2
    return ks


def majority_vote(samples: Sequence[SampleOutcome]) -> SampleOutcome | None:
    """The sample whose normalised answer wins the vote; None when no sample has an answer.

    No-answer never wins, even when most samples have none. Ties go to the answer that appears
    first in sample_idx order, so the result never depends on storage or thread order."""
    ordered = sorted(samples, key=lambda s: s.sample_idx)
    votes: Counter[str] = Counter()
    first: dict[str, SampleOutcome] = {}
    for sample in ordered:
        key = normalise_answer(sample.extracted)
        if key is None:
            continue
        votes[key] += 1
        first.setdefault(key, sample)
    if not votes:
        return None
    top = max(votes.values())
    # `first` keeps insertion (= sample_idx) order, so the first tied key is the earliest.
    winner = next(key for key in first if votes[key] == top)
    return first[winner]


def cons_correct(samples: Sequence[SampleOutcome]) -> bool:
    """Whether the majority-voted answer of one problem's samples is correct."""
    winner = majority_vote(samples)
    return winner is not None and winner.correct


def accuracy_by_length_quartile(samples: Sequence[SampleOutcome]) -> tuple[QuartileAccuracy, ...]:
    """Accuracy per length quartile over all samples (tie rule: `algos.lengths`)."""
    return _quartiles([s.n_tokens for s in samples], [float(s.correct) for s in samples])


@dataclass(frozen=True)
class ProblemScores:
    """One eval reduced to one row per problem (problems sorted by id): what every
    eval-level metric averages and what paired comparisons resample.

    n is the smallest sample count of any problem; pass_curve[:, k-1] is each problem's
    unbiased pass@k for k = 1..n (computed from that problem's own sample count)."""

    problem_ids: tuple[str, ...]
    n_samples: np.ndarray  # [P] int
    n_correct: np.ndarray  # [P] int
    cons_correct: np.ndarray  # [P] bool: majority-voted answer correct
    pass_curve: np.ndarray  # [P, n] float64

    @property
    def n(self) -> int:
        return int(self.pass_curve.shape[1])

    @property
    def num_problems(self) -> int:
        return len(self.problem_ids)

    @property
    def accuracy(self) -> np.ndarray:
        """[P] per-problem accuracy c/n (avg@k of each problem)."""
        return self.n_correct / self.n_samples

    def per_problem(self, metric: str, k: int) -> np.ndarray:
        """[P] per-problem values of avg@k, cons@k or pass@k (the eval value is their mean)."""
        if metric == "avg@k":
            return self.accuracy
        if metric == "cons@k":
            return self.cons_correct.astype(np.float64)
        if metric == "pass@k":
            if not 1 <= k <= self.n:
                raise ValueError(f"pass@{k} needs 1 <= k <= n = {self.n}")
            return self.pass_curve[:, k - 1]
        raise ValueError(f"metric {metric!r} is unknown; allowed: avg@k, cons@k, pass@k")


def problem_scores(samples: Iterable[SampleOutcome]) -> ProblemScores:
    """Per-problem rows of an eval; ValueError for no samples."""
    by_problem: dict[str, list[SampleOutcome]] = defaultdict(list)
    for s in samples:
        by_problem[s.problem_id].append(s)
    if not by_problem:
        raise ValueError("problem_scores needs at least one sample")
    ids = tuple(sorted(by_problem))
    groups = [by_problem[p] for p in ids]
    n_samples = np.array([len(g) for g in groups], dtype=np.int64)
    n_correct = np.array([sum(s.correct for s in g) for g in groups], dtype=np.int64)
    n = int(n_samples.min())
    curve = np.stack(
        [pass_at_k_curve(int(m), int(c), n) for m, c in zip(n_samples, n_correct, strict=True)]
    )
    cons = np.array([cons_correct(g) for g in groups], dtype=bool)
    return ProblemScores(ids, n_samples, n_correct, cons, curve)


def compute_metrics(samples: Iterable[SampleOutcome]) -> EvalMetrics:
    """All eval metrics. Every problem weighs the same, whatever its sample count."""
    samples = list(samples)
    if not samples:
        raise ValueError("compute_metrics needs at least one sample")
    scores = problem_scores(samples)
    accuracy = scores.accuracy
    return EvalMetrics(
        n=scores.n,
        num_problems=scores.num_problems,
        num_samples=len(samples),
        avg_at_n=math.fsum(accuracy) / scores.num_problems,
        cons_at_n=float(scores.cons_correct.mean()),
        pass_at_k={
            k: math.fsum(scores.pass_curve[:, k - 1]) / scores.num_problems
            for k in pass_k_values(scores.n)
        },
        response_length=length_stats([s.n_tokens for s in samples]),
        accuracy_by_length_quartile=accuracy_by_length_quartile(samples),
        per_problem_accuracy={
            p: float(a) for p, a in zip(scores.problem_ids, accuracy, strict=True)
        },
    )
