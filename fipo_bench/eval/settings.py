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
        if self.n < 1:
            raise ConfigError(f"--n {self.n} is invalid; allowed: >= 1 samples per problem")
        if not math.isfinite(self.temperature) or self.temperature < 0:
            raise ConfigError(f"--temperature {self.temperature} is invalid; allowed: >= 0")
        if not (0 < self.top_p <= 1):
            raise ConfigError(f"--top-p {self.top_p} is invalid; allowed: 0 < top_p <= 1")
        if self.max_tokens < 1:
            raise ConfigError(f"--max-tokens {self.max_tokens} is invalid; allowed: >= 1")
        if self.engine not in ENGINES:
            raise ConfigError(f"--engine {self.engine!r} is unknown; allowed: vllm, hf")
        if self.prompt is not None and self.prompt not in PROMPTS:
            raise ConfigError(f"--prompt {self.prompt!r} is unknown; allowed: {', '.join(PROMPTS)}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"--limit {self.limit} is invalid; allowed: >= 1")
        if self.unit_samples < 1:
            raise ConfigError(f"--unit-samples {self.unit_samples} is invalid; allowed: >= 1")
        if self.seed < 0:
            raise ConfigError(f"--seed {self.seed} is invalid; allowed: >= 0")

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def problems_per_unit(self) -> int:
        return max(1, self.unit_samples // self.n)
