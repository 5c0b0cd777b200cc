"""Eval metrics from verified samples: avg@k, cons@k, pass@k, response-length statistics.

Pure functions over `SampleOutcome` records (no I/O), so the end-of-run table, the store query
and the dashboard all compute the same numbers from the same code.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np


@dataclass(frozen=True)
class SampleOutcome:
    """One verified response: the only fields the metrics need."""

    problem_id: str
    sample_idx: int
    extracted: str | None  # extracted final answer; None when the response has none
    correct: bool
    n_tokens: int  # response length in tokens


@dataclass(frozen=True)
class LengthQuartile:
    """Accuracy of the samples whose response length falls in one quarter of the length ranking."""

    quartile: int  # 1 (shortest) .. 4 (longest)
    num_samples: int
    min_tokens: int
    max_tokens: int
    accuracy: float


@dataclass(frozen=True)
class EvalMetrics:
    n: int  # samples per problem (the smallest count when an eval is incomplete)
    num_problems: int
    num_samples: int
    avg_at_n: float
    cons_at_n: float
    pass_at_k: dict[int, float]  # k = 1, 2, 4, ... <= n
    response_length: dict[str, float]  # min, q25, mean, median, q75, max (tokens)
    accuracy_by_length_quartile: tuple[LengthQuartile, ...]
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


def length_stats(lengths: Sequence[int]) -> dict[str, float]:
    arr = np.asarray(lengths, dtype=np.float64)
    if arr.size == 0:
        return {}
    q25, median, q75 = np.quantile(arr, [0.25, 0.5, 0.75])
    return {
        "min": float(arr.min()),
        "q25": float(q25),
        "mean": float(arr.mean()),
        "median": float(median),
        "q75": float(q75),
        "max": float(arr.max()),
    }


def accuracy_by_length_quartile(samples: Sequence[SampleOutcome]) -> tuple[LengthQuartile, ...]:
    """Split samples into four equal-count groups by length rank (ties broken by problem and
    sample index) rather than by threshold: many equal lengths (e.g. all hit max_tokens) would
    otherwise leave quartiles empty."""
    ordered = sorted(samples, key=lambda s: (s.n_tokens, s.problem_id, s.sample_idx))
    out = []
    for i, group in enumerate(np.array_split(np.arange(len(ordered)), 4), start=1):
        if group.size == 0:
            continue
        chunk = [ordered[j] for j in group]
        out.append(
            LengthQuartile(
                quartile=i,
                num_samples=len(chunk),
                min_tokens=chunk[0].n_tokens,
                max_tokens=chunk[-1].n_tokens,
                accuracy=sum(s.correct for s in chunk) / len(chunk),
            )
        )
    return tuple(out)


def compute_metrics(samples: Iterable[SampleOutcome]) -> EvalMetrics:
    """All eval metrics. Every problem weighs the same, whatever its sample count."""
    samples = list(samples)
    if not samples:
        raise ValueError("compute_metrics needs at least one sample")
    by_problem: dict[str, list[SampleOutcome]] = defaultdict(list)
    for s in samples:
        by_problem[s.problem_id].append(s)
    n = min(len(group) for group in by_problem.values())
    ks = pass_k_values(n)
    per_problem = {
        pid: sum(s.correct for s in group) / len(group) for pid, group in sorted(by_problem.items())
    }
    pass_sums = dict.fromkeys(ks, 0.0)
    cons_sum = 0
    for group in by_problem.values():
        c = sum(s.correct for s in group)
        for k in ks:
            pass_sums[k] += pass_at_k(len(group), c, k)
        cons_sum += cons_correct(group)
    num_problems = len(by_problem)
    return EvalMetrics(
        n=n,
        num_problems=num_problems,
        num_samples=len(samples),
        avg_at_n=math.fsum(per_problem.values()) / num_problems,
        cons_at_n=cons_sum / num_problems,
        pass_at_k={k: v / num_problems for k, v in pass_sums.items()},
        response_length=length_stats([s.n_tokens for s in samples]),
        accuracy_by_length_quartile=accuracy_by_length_quartile(samples),
        per_problem_accuracy=per_problem,
    )
