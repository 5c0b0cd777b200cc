"""What one `fipo-bench eval` command asks for, validated once before anything is written."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

from fipo_bench.errors import ConfigError

EngineChoice = Literal["auto", "hf", "vllm"]
ENGINES = ("auto", "hf", "vllm")
PROMPTS = ("dapo", "boxed", "raw")

# Samples generated (then verified and stored in one transaction) per unit of work. A unit is
# a fixed run of consecutive problems, so its seed, and hence its samples, are the same in a
# resumed run; whole problems only, so one problem's n samples are never split across units.
# Bigger units batch better on a GPU; a kill loses at most one unit.
DEFAULT_UNIT_SAMPLES = 64

# The store's column types (store/schema.py): n, max_tokens and sample_idx are INTEGER, seed is
# BIGINT. A value past them would reach DuckDB only after the eval's first rows were written.
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
# Metrics, reports and resume hold every sample key of an eval in memory at once: past this an
# eval would die of memory long after it started writing.
MAX_SAMPLES_PER_EVAL = 10_000_000


@dataclass(frozen=True)
class EvalSettings:
    """Sampling settings shared by every model of one eval command (paper defaults)."""

    dataset: str
    data_file: str | None = None
    n: int = 32
    temperature: float = 1.0
    top_p: float = 0.7
    max_tokens: int = 20480
    engine: EngineChoice = "auto"
    prompt: str | None = None  # None: the dataset's default template
    limit: int | None = None
    seed: int = 0
    unit_samples: int = DEFAULT_UNIT_SAMPLES

    def __post_init__(self) -> None:
        if not self.dataset:
            raise ConfigError("--dataset is empty; give a registry name or a file")
        _check_count("--n", self.n, "samples per problem")
        if not math.isfinite(self.temperature) or self.temperature < 0:
            raise ConfigError(f"--temperature {self.temperature} is invalid; allowed: >= 0")
        if not (0 < self.top_p <= 1):
            raise ConfigError(f"--top-p {self.top_p} is invalid; allowed: 0 < top_p <= 1")
        _check_count("--max-tokens", self.max_tokens, "response tokens")
        if self.engine not in ENGINES:
            raise ConfigError(f"--engine {self.engine!r} is unknown; allowed: vllm, hf")
        if self.prompt is not None and self.prompt not in PROMPTS:
            raise ConfigError(f"--prompt {self.prompt!r} is unknown; allowed: {', '.join(PROMPTS)}")
        if self.limit is not None:
            _check_count("--limit", self.limit, "problems")
        _check_count("--unit-samples", self.unit_samples, "samples")
        if not 0 <= self.seed <= INT64_MAX:
            raise ConfigError(f"--seed {self.seed} is invalid; allowed: 0 to {INT64_MAX}")

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def problems_per_unit(self) -> int:
        return max(1, self.unit_samples // self.n)

    @property
    def samples_per_unit(self) -> int:
        """Samples of one problem generated together: all n, or unit_samples when n is larger
        (a problem's samples then span several units, so memory never grows with n)."""
        return min(self.n, self.unit_samples)


def _check_count(flag: str, value: int, what: str) -> None:
    if not 1 <= value <= INT32_MAX:
        raise ConfigError(f"{flag} {value} is invalid; allowed: 1 to {INT32_MAX} {what}")
