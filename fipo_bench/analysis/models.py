"""Loading the policy/reference pair for the credit analysis, and refusing mismatched pairs.

Two models can only be compared token by token when token id i means the same string to
both: a different vocabulary would silently misalign every log-prob, so it is an error.
"""

from __future__ import annotations

from typing import Any

from fipo_bench.errors import ModelError

_DTYPES = {"float32": "float32", "bfloat16": "bfloat16", "auto": "auto"}


def load_tokenizer(location: str, role: str) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(location)
    except (OSError, ValueError, KeyError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelError(
            f"{role} {location!r}: cannot load its tokenizer ({first}); allowed: a checkpoint"
            " directory with tokenizer files, or a reachable hub id"
        ) from err


def check_same_vocab(policy_tok: Any, ref_tok: Any, policy: str, ref: str) -> None:
    """ModelError unless both tokenizers map every token string to the same id."""
    a, b = policy_tok.get_vocab(), ref_tok.get_vocab()
    if a == b:
        return
    differing = sorted(set(a.items()) ^ set(b.items()), key=lambda kv: kv[1])
    example = differing[0] if differing else ("?", -1)
    raise ModelError(
        f"--ref {ref}: its tokenizer differs from the evaluated model's ({policy}): vocab sizes"
        f" {len(b)} vs {len(a)}, e.g. token {example[0]!r} -> id {example[1]} in one only;"
        " allowed: a reference model with the same tokenizer (an earlier checkpoint or the base)"
    )


def load_causal_lm(location: str, role: str, dtype: str) -> Any:
    """The model in eval mode on the GPU when there is one, else the CPU."""
    import torch
    from transformers import AutoModelForCausalLM

    from fipo_bench.engines import resolve_model_source

    source = resolve_model_source(location)
    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=_DTYPES[dtype])
    except (OSError, ValueError, KeyError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelError(
            f"{role} {location!r}: cannot load it as a causal LM ({first}); allowed: a"
            " checkpoint directory with config, weights and tokenizer"
        ) from err
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return model.to(device).eval()
