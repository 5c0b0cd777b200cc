"""The transformers engine: batched `model.generate`, the CPU default and the trainer's fallback.

Records match vLLM's: per-token log-probs are the model's raw (temperature 1, no top-p)
teacher-forced values, recomputed by `score_tokens` over prompt + response, so they equal what
the trainer's scorer computes for the same tokens.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from fipo_bench.engines import check_settings, derive_seed
from fipo_bench.engines.record import FinishReason, GenerationRecord, SamplingSettings
from fipo_bench.engines.scoring import score_tokens
from fipo_bench.errors import EngineError, ModelError


@dataclass(frozen=True)
class _Row:
    """One sequence to generate: sample `sample_idx` of prompt `prompt_index`."""

    prompt_index: int
    sample_idx: int
    prompt_ids: list[int]
    max_new_tokens: int  # min(settings.max_tokens, room left in max_model_len)


class HFEngine:
    """Generation with a transformers causal LM, in memory-bounded sub-batches.

    A sub-batch holds at most `max_batch_sequences` sequences and at most `max_batch_tokens`
    padded prompt + response positions, which bounds the KV cache. Each sub-batch samples from
    its own seeded RNG (derived from settings.seed and its first row), forked so the caller's
    global torch RNG is untouched: the same prompts, settings and weights give the same records.
    """

    name = "hf"

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        live: bool,
        max_model_len: int | None = None,
        max_batch_sequences: int = 32,
        max_batch_tokens: int = 65_536,
        score_chunk_tokens: int = 1024,
        score_logprobs: bool = True,
    ) -> None:
        if max_batch_sequences < 1:
            raise EngineError(f"max_batch_sequences={max_batch_sequences}; allowed: >= 1")
        if max_batch_tokens < 2:
            raise EngineError(f"max_batch_tokens={max_batch_tokens}; allowed: >= 2")
        self.model = model
        self.tokenizer = tokenizer
        self.live = live
        self.max_model_len = max_model_len or _context_length(model)
        self.max_batch_sequences = max_batch_sequences
        self.max_batch_tokens = max_batch_tokens
        self.score_chunk_tokens = score_chunk_tokens
        # The trainer scores the rollout policy itself (at the rollout temperature, for the
        # loss's old log-probs); a live engine asked not to score skips the same pass here.
        self.score_logprobs = score_logprobs
        self.eos_token_ids = _eos_token_ids(model, tokenizer)
        pad = tokenizer.pad_token_id
        self.pad_token_id = pad if pad is not None else min(self.eos_token_ids)

    @classmethod
    def from_model(cls, model: Any, tokenizer: Any, **kwargs: Any) -> HFEngine:
        """Wrap a live policy (the trainer's): generation always sees its current weights.

        `score_logprobs=False` leaves each record's logprobs None (the caller scores)."""
        return cls(model, tokenizer, live=True, **kwargs)

    @classmethod
    def from_pretrained(
        cls,
        source: str,
        *,
        dtype: str = "auto",
        device: str | None = None,
        max_model_len: int | None = None,
        **kwargs: Any,
    ) -> HFEngine:
        """Load a checkpoint directory or hub id; ModelError when it is not a loadable causal LM."""
        from fipo_bench.engines.loading import load_causal_lm, load_tokenizer

        tokenizer = load_tokenizer(source)
        model = load_causal_lm(source, dtype=dtype, device=device)
        return cls(model, tokenizer, live=False, max_model_len=max_model_len, **kwargs)

    # -- Engine protocol ---------------------------------------------------------------------

    def generate(
        self, prompts: Sequence[str], settings: SamplingSettings
    ) -> list[GenerationRecord]:
        check_settings(settings)
        rows = self._rows(prompts, settings)
        records: list[GenerationRecord] = []
        was_training = self.model.training
        self.model.eval()
        try:
            for batch in self._sub_batches(rows):
                records.extend(self._generate_batch(batch, settings))
        finally:
            self.model.train(was_training)
        return records

    def sync_weights(self, state_dict: dict) -> None:
        """No-op for a live policy (it is the weights); otherwise load them in place."""
        if self.live:
            return
        try:
            self.model.load_state_dict(state_dict, strict=True)
        except RuntimeError as err:
            raise EngineError(
                f"sync_weights: state dict does not fit the served model "
                f"({str(err).splitlines()[0]}); allowed: the policy's own state_dict()"
            ) from err

    def close(self) -> None:
        self.model = None
        gc.collect()

    # -- internals -----------------------------------------------------------------------------

    def _rows(self, prompts: Sequence[str], settings: SamplingSettings) -> list[_Row]:
        if isinstance(prompts, str):
            raise EngineError("prompts is a single string; allowed: a sequence of strings")
        rows = []
        for prompt_index, prompt in enumerate(prompts):
            prompt_ids = self.tokenizer(prompt)["input_ids"]
            room = self.max_model_len - len(prompt_ids)
            if not prompt_ids or room < 1:
                raise EngineError(
                    f"prompt {prompt_index} has {len(prompt_ids)} tokens; allowed: 1 to "
                    f"{self.max_model_len - 1} (max_model_len {self.max_model_len})"
                )
            max_new = min(settings.max_tokens, room)
            rows.extend(
                _Row(prompt_index, sample_idx, prompt_ids, max_new)
                for sample_idx in range(settings.n)
            )
        return rows

    def _sub_batches(self, rows: list[_Row]) -> list[list[_Row]]:
        batches: list[list[_Row]] = []
        current: list[_Row] = []
        longest = 0  # longest prompt + response budget in `current`: its padded width
        for row in rows:
            width = max(longest, len(row.prompt_ids) + row.max_new_tokens)
            full = len(current) >= self.max_batch_sequences
            if current and (full or width * (len(current) + 1) > self.max_batch_tokens):
                batches.append(current)
                current, width = [], len(row.prompt_ids) + row.max_new_tokens
            current.append(row)
            longest = width
        if current:
            batches.append(current)
        return batches

    def _generate_batch(
        self, batch: list[_Row], settings: SamplingSettings
    ) -> list[GenerationRecord]:
        from transformers import GenerationConfig

        device = next(self.model.parameters()).device
        prompt_len = max(len(row.prompt_ids) for row in batch)
        input_ids = torch.full((len(batch), prompt_len), self.pad_token_id, dtype=torch.long)
        prompt_mask = torch.zeros_like(input_ids)
        for i, row in enumerate(batch):  # left padding: every row's last prompt token aligns
            input_ids[i, prompt_len - len(row.prompt_ids) :] = torch.tensor(row.prompt_ids)
            prompt_mask[i, prompt_len - len(row.prompt_ids) :] = 1
        greedy = settings.temperature == 0
        # Every sampling knob set explicitly, so a checkpoint's generation_config.json (Qwen ships
        # top_k=20, repetition_penalty=1.05) cannot make this engine sample differently from vLLM.
        config = GenerationConfig(
            do_sample=not greedy,
            temperature=None if greedy else settings.temperature,
            top_p=None if greedy else settings.top_p,
            top_k=None if greedy else 0,
            min_p=None,
            typical_p=1.0,
            repetition_penalty=1.0,
            no_repeat_ngram_size=0,
            max_new_tokens=max(row.max_new_tokens for row in batch),
            min_new_tokens=0,
            num_beams=1,
            num_return_sequences=1,
            eos_token_id=sorted(self.eos_token_ids),
            pad_token_id=self.pad_token_id,
        )
        first = batch[0]
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(derive_seed(settings.seed, first.prompt_index, first.sample_idx))
            with torch.no_grad():
                output = self.model.generate(
                    input_ids=input_ids.to(device),
                    attention_mask=prompt_mask.to(device),
                    generation_config=config,
                )
        generated = output[:, prompt_len:].cpu()
        responses = [self._cut(generated[i].tolist(), row) for i, row in enumerate(batch)]
        if self.score_logprobs:
            logprobs = self._score(input_ids, prompt_mask, [ids for ids, _ in responses], device)
        else:
            logprobs = [None] * len(responses)
        return [
            self._record(row, ids, finish, logps)
            for row, (ids, finish), logps in zip(batch, responses, logprobs, strict=True)
        ]

    def _cut(self, tokens: list[int], row: _Row) -> tuple[list[int], FinishReason]:
        """The row's response: through its first EOS ("stop"), else its token budget ("length")."""
        tokens = tokens[: row.max_new_tokens]
        for position, token in enumerate(tokens):
            if token in self.eos_token_ids:
                return tokens[: position + 1], "stop"
        return tokens, "length"

    def _score(
        self,
        prompt_ids: torch.Tensor,
        prompt_mask: torch.Tensor,
        responses: list[list[int]],
        device: torch.device,
    ) -> list[list[float]]:
        """Raw teacher-forced log-probs of each response token (what vLLM's logprobs=0 reports)."""
        width = max(len(ids) for ids in responses)
        if width == 0:
            return [[] for _ in responses]
        response_ids = torch.full((len(responses), width), self.pad_token_id, dtype=torch.long)
        response_mask = torch.zeros_like(response_ids)
        for i, ids in enumerate(responses):
            response_ids[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            response_mask[i, : len(ids)] = 1
        input_ids = torch.cat([prompt_ids, response_ids], dim=1).to(device)
        mask = torch.cat([prompt_mask, response_mask], dim=1).to(device)
        with torch.no_grad():
            logp, _ = score_tokens(
                self.model,
                input_ids,
                mask,
                chunk_tokens=self.score_chunk_tokens,
                compute_entropy=False,
            )
        # logp[:, t] scores token t + 1; the first response token sits at prompt_len.
        response_logp = logp[:, prompt_ids.shape[1] - 1 :].float().cpu()
        return [response_logp[i, : len(ids)].tolist() for i, ids in enumerate(responses)]

    def _record(
        self, row: _Row, ids: list[int], finish: FinishReason, logprobs: list[float] | None
    ) -> GenerationRecord:
        return GenerationRecord(
            prompt_index=row.prompt_index,
            sample_idx=row.sample_idx,
            prompt_token_ids=list(row.prompt_ids),
            token_ids=ids,
            token_texts=token_texts(self.tokenizer, ids),
            logprobs=logprobs,
            finish_reason=finish,
            text=self.tokenizer.decode(ids, skip_special_tokens=True),
        )


def token_texts(tokenizer: Any, token_ids: list[int]) -> list[str]:
    """Each token decoded on its own (special tokens kept), the same for every engine."""
    return tokenizer.batch_decode([[token] for token in token_ids], skip_special_tokens=False)


def _eos_token_ids(model: Any, tokenizer: Any) -> set[int]:
    """The tokenizer's EOS plus the generation config's (as vLLM stops on both)."""
    ids: set[int] = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    generation_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(generation_eos, int):
        ids.add(generation_eos)
    elif generation_eos:
        ids.update(int(token) for token in generation_eos)
    if not ids:
        raise ModelError("the model's tokenizer has no eos_token; allowed: a tokenizer with EOS")
    return ids


def _context_length(model: Any) -> int:
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else None
    config = config or model.config
    return int(getattr(config, "max_position_embeddings", 0) or 32_768)
