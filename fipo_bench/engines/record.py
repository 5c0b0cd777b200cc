"""What every engine returns, whatever it runs on: engine choice never changes what is stored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class SamplingSettings:
    n: int = 1  # samples per prompt
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 256  # max generated (response) tokens
    seed: int = 0


@dataclass(frozen=True)
class GenerationRecord:
    prompt_index: int  # index into the list of prompts given to generate()
    sample_idx: int  # 0..n-1 within that prompt
    prompt_token_ids: list[int]
    token_ids: list[int]  # generated tokens (EOS included when it was sampled)
    token_texts: list[str]  # one decoded string per generated token
    # log-prob of each sampled token under the model's raw distribution (temperature 1, no
    # top-p), as vLLM's default "raw_logprobs" mode reports it, so both engines agree. None
    # when the engine was asked not to score (the trainer's live hf engine: it scores itself).
    logprobs: list[float] | None
    finish_reason: FinishReason
    text: str  # decoded response (special tokens skipped)

    @property
    def n_tokens(self) -> int:
        return len(self.token_ids)
