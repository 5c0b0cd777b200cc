"""The one way a checkpoint is loaded: tokenizer and causal LM, with every failure a ModelError.

Training, evaluation (the hf engine) and the credit analysis all load through here, so a
truncated weights file, a config.json that is not an object or a missing tokenizer gives the same
one-line error whichever command meets it. A loading failure of any kind means the checkpoint is
unusable, so every exception from transformers/safetensors becomes a ModelError naming the
checkpoint and the first line of the cause.
"""

from __future__ import annotations

from typing import Any

from fipo_bench.errors import ModelError

DTYPES = ("auto", "float32", "bfloat16", "float16")


def load_tokenizer(source: str, *, role: str = "--model") -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(source)
    except Exception as err:
        raise _error(role, source, "tokenizer", err) from err


def load_causal_lm(
    source: str, *, role: str = "--model", dtype: str = "float32", device: str | None = None
) -> Any:
    """The model in eval mode (no dropout) on `device` (default: CUDA when present, else CPU).

    `source` is a checkpoint directory or hub id, already checked by `resolve_model_source`.
    """
    import torch
    from transformers import AutoModelForCausalLM

    if dtype not in DTYPES:
        raise ModelError(f"dtype {dtype!r} is unknown; allowed: {', '.join(DTYPES)}")
    torch_dtype = dtype if dtype == "auto" else getattr(torch, dtype)
    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype)
    except Exception as err:
        raise _error(role, source, "weights", err) from err
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return model.to(device).eval()


def _error(role: str, source: str, what: str, err: Exception) -> ModelError:
    text = str(err).strip()
    first = text.splitlines()[0][:200] if text else type(err).__name__
    return ModelError(
        f"{role} {source}: cannot load its {what} ({first}); allowed: a Hugging Face checkpoint"
        " folder with an intact config.json, weights and tokenizer (re-save or re-download it)"
    )
