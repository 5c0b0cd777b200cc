"""The engine interface: text generation with per-token log-probs, same record from every engine."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from fipo_bench.engines.record import GenerationRecord, SamplingSettings


class Engine(Protocol):
    name: str  # "hf" | "vllm"

    def generate(
        self, prompts: Sequence[str], settings: SamplingSettings
    ) -> list[GenerationRecord]:
        """n samples for each prompt; records ordered by (prompt_index, sample_idx).

        Deterministic for the same prompts, settings and weights (seeded)."""
        ...

    def sync_weights(self, state_dict: dict) -> None:
        """Load the current policy weights (training rolls out with the live policy)."""
        ...

    def close(self) -> None: ...
