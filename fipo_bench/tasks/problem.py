"""The normalised problem record every source produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    dataset: str  # registry name, e.g. "aime24", "synthetic"
    problem_id: str  # stable within the dataset (string even when the source uses ints)
    problem: str  # the raw problem statement (no instruction template)
    answer: str  # gold answer as a string ("25", "\\frac{14}{3}")
    meta: dict[str, Any] = field(default_factory=dict)  # source fields kept for reference
