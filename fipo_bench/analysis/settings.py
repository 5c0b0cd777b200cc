"""Typed, validated settings of the analysis commands (credit, pivots, reports).

Each is a frozen dataclass checked once on construction: a bad value raises ConfigError naming
the flag and what is allowed, before any model loads or any byte is written.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from fipo_bench.errors import ConfigError

DTypeChoice = Literal["float32", "bfloat16", "auto"]
DTYPES = ("float32", "bfloat16", "auto")
REPORT_FORMATS = ("csv", "md", "html")


def _finite(flag: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{flag} {value!r} is invalid; allowed: a finite number")
    return float(value)


@dataclass(frozen=True)
class CreditSettings:
    """How per-token credit between the evaluated model and a reference model is computed.

    The numbers mirror `algos.LossConfig` (paper defaults: half-life 32, influence bounds
    [1.0, 1.2] for 32B, dual-clip c = 10); `loss_config()` builds the config the loss uses.
    """

    ref_model: str  # the reference ("old policy") as resolved: a directory or hub id
    half_life: float = 32.0
    influence_low: float = 1.0
    influence_high: float = 1.2
    dual_clip_c: float = 10.0
    safety_threshold: float = 10.0
    safety_mode: Literal["clamp", "reset"] = "clamp"
    dtype: DTypeChoice = "float32"
    # Tokens (prompt + response, padded) scored together; a longer sequence is scored alone.
    batch_tokens: int = 4096
    chunk_tokens: int = 1024  # lm-head chunk of score_tokens: bounds the [B, chunk, V] block

    def __post_init__(self) -> None:
        if not self.ref_model:
            raise ConfigError("--ref is empty; give a model directory, run_id:step or hub id")
        if _finite("--half-life", self.half_life) <= 0:
            raise ConfigError(f"--half-life {self.half_life} is invalid; allowed: > 0 (tokens)")
        low = _finite("--influence-low", self.influence_low)
        high = _finite("--influence-high", self.influence_high)
        if low < 0:
            raise ConfigError(f"--influence-low {low} is invalid; allowed: >= 0")
        if low > high:
            raise ConfigError(
                f"--influence-low {low} > --influence-high {high}; allowed: low <= high"
            )
        if _finite("--dual-clip-c", self.dual_clip_c) <= 1:
            raise ConfigError(f"--dual-clip-c {self.dual_clip_c} is invalid; allowed: > 1")
        if _finite("--safety-threshold", self.safety_threshold) <= 0:
            raise ConfigError(
                f"--safety-threshold {self.safety_threshold} is invalid; allowed: > 0"
            )
        if self.safety_mode not in ("clamp", "reset"):
            raise ConfigError(
                f"--safety-mode {self.safety_mode!r} is unknown; allowed: clamp, reset"
            )
        if self.dtype not in DTYPES:
            raise ConfigError(f"--dtype {self.dtype!r} is unknown; allowed: {', '.join(DTYPES)}")
        if self.batch_tokens < 2:
            raise ConfigError(f"--batch-tokens {self.batch_tokens} is invalid; allowed: >= 2")
        if self.chunk_tokens < 1:
            raise ConfigError(f"--chunk-tokens {self.chunk_tokens} is invalid; allowed: >= 1")

    def loss_config(self):
        """The `algos.LossConfig` whose `fipo_token_credit` produces the stored numbers."""
        from fipo_bench.algos import LossConfig

        return LossConfig(
            mode="fipo",
            dual_clip_c=self.dual_clip_c,
            half_life=self.half_life,
            influence_low=self.influence_low,
            influence_high=self.influence_high,
            safety_threshold=self.safety_threshold,
            safety_mode=self.safety_mode,
        )

    def identity(self) -> dict[str, Any]:
        """What defines the stored numbers: a resume keeps samples only when this is equal.

        Batching and chunking change nothing but speed, so they are left out."""
        out = asdict(self)
        for key in ("batch_tokens", "chunk_tokens"):
            out.pop(key)
        return out


# Reflection phrases from published analyses of long chain-of-thought RL models (DeepSeek-R1's
# "aha moment", DAPO/FIPO case studies, "Understanding R1-Zero-Like Training"): the words with
# which a model stops, doubts and re-checks its own reasoning. Longest first is not needed:
# the matcher orders the alternation itself.
DEFAULT_LEXICON: tuple[str, ...] = (
    "wait",
    "recheck",
    "re-check",
    "rethink",
    "re-think",
    "re-examine",
    "reexamine",
    "reconsider",
    "re-evaluate",
    "reevaluate",
    "double-check",
    "double check",
    "check again",
    "verify",
    "mistake",
    "alternatively",
    "try again",
    "hmm",
    "let me check",
    "let me re-check",
    "let me recheck",
    "let me verify",
    "let me reconsider",
    "let me think again",
    "let me recompute",
    "let me recalculate",
    "let me try again",
    "let me double-check",
    "on second thought",
    "i made an error",
)


@dataclass(frozen=True)
class PivotSettings:
    """How self-reflection pivots are found (pivots.py).

    lexicon: reflection phrases matched case-insensitively as whole words (runs of whitespace
    inside a phrase match any whitespace). credit_top_percent: a token is a credit pivot when
    its |future_kl| is in this top percent of its trajectory (or future_kl changes sign there,
    when credit_sign_changes). entropy_top_percent: a token is an entropy ("forking") pivot when
    its entropy is in this top percent of all response tokens of the eval.
    """

    lexicon: tuple[str, ...] = DEFAULT_LEXICON
    credit_top_percent: float = 1.0
    credit_sign_changes: bool = True
    entropy_top_percent: float = 20.0

    def __post_init__(self) -> None:
        if not self.lexicon or any(not phrase.strip() for phrase in self.lexicon):
            raise ConfigError(
                f"pivot lexicon {list(self.lexicon)!r} is invalid; allowed: one or more"
                " non-empty phrases"
            )
        for flag, value in (
            ("--credit-top-percent", self.credit_top_percent),
            ("--entropy-top-percent", self.entropy_top_percent),
        ):
            if not 0 < _finite(flag, value) <= 100:
                raise ConfigError(f"{flag} {value} is invalid; allowed: 0 < percent <= 100")

    def identity(self) -> dict[str, Any]:
        out = asdict(self)
        out["lexicon"] = list(self.lexicon)
        return out
