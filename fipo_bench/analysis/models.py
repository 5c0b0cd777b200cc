"""Refusing a policy/reference pair whose tokenizers differ (the credit analysis).

Two models can only be compared token by token when token id i means the same string to
both: a different vocabulary would silently misalign every log-prob, so it is an error.
"""

from __future__ import annotations

from typing import Any

from fipo_bench.errors import ModelError


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
