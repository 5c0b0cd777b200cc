"""Typed, validated settings of the analysis commands (credit, pivots).

Checked once on construction, before any model loads or any byte is written. The credit of a
pair of checkpoints is computed with an `algos.LossConfig`, the same config a training run's loss
reads: `fipo-bench credit --preset/--run/--set loss.KEY=VALUE` builds it the same way `train` does.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from fipo_bench.algos.losses import LossConfig
from fipo_bench.config.base import ConfigModel
from fipo_bench.reflection import default_lexicon

DTypeChoice = Literal["float32", "bfloat16", "auto"]
# The LossConfig fields per-token credit depends on (algos.losses.fipo_token_credit).
CREDIT_FIELDS = (
    "half_life",
    "influence_low",
    "influence_high",
    "dual_clip_c",
    "safety_threshold",
    "safety_mode",
)
REPORT_FORMATS = ("csv", "md", "html")


class CreditSettings(ConfigModel):
    """How per-token credit between the evaluated model and a reference model is computed.

    loss: the objective whose `fipo_token_credit` gives the stored numbers (its mode is ignored:
    credit is always FIPO's Future-KL and influence weight, whatever algorithm trained).
    """

    ref_model: str = Field(min_length=1)  # the reference ("old policy"): a dir or hub id
    loss: LossConfig = LossConfig(mode="fipo")
    dtype: DTypeChoice = "float32"
    # Tokens (prompt + response, padded) scored together; a longer sequence is scored alone.
    batch_tokens: int = Field(4096, ge=2)
    chunk_tokens: int = Field(1024, ge=1)  # lm-head chunk of score_tokens: bounds [B, chunk, V]

    def loss_config(self) -> LossConfig:
        """The config `fipo_token_credit` is called with (FIPO mode, the given knobs)."""
        return self.loss.model_copy(update={"mode": "fipo"})

    def identity(self) -> dict[str, Any]:
        """What defines the stored numbers: a resume keeps samples only when this is equal.

        The loss fields `fipo_token_credit` reads (CREDIT_FIELDS), the reference and the dtype;
        batching and chunking change nothing but speed, the other loss fields nothing at all."""
        loss = self.loss.model_dump(mode="json")
        credit = {name: loss[name] for name in CREDIT_FIELDS}
        return {"ref_model": self.ref_model, "dtype": self.dtype, **credit}


class PivotSettings(ConfigModel):
    """How self-reflection pivots are found (pivots.py).

    lexicon: reflection phrases matched case-insensitively as whole words (runs of whitespace
    inside a phrase match any whitespace); default: the project's one lexicon. credit_top_percent:
    a token is a credit pivot when its |future_kl| is in this top percent of its trajectory (or
    future_kl changes sign there, when credit_sign_changes). entropy_top_percent: a token is an
    entropy ("forking") pivot when its entropy is in this top percent of the eval's tokens.
    """

    lexicon: tuple[str, ...] = Field(default_factory=lambda: default_lexicon().phrases)
    credit_top_percent: float = Field(1.0, gt=0, le=100)
    credit_sign_changes: bool = True
    entropy_top_percent: float = Field(20.0, gt=0, le=100)

    @field_validator("lexicon")
    @classmethod
    def _phrases(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value or any(not phrase.strip() for phrase in value):
            raise ValueError("must be one or more non-empty phrases")
        return value

    def identity(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
