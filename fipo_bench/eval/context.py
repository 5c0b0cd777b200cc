"""Does every prompt fit the model's context? Checked before the first write.

The engines refuse a prompt with no room left for a response, but only once they meet it,
after the problems and the eval row were written. A local model's tokenizer and config are
small, so plan_eval tokenizes the prompts exactly as the engines do (`tokenizer(prompt)`) and
compares with the context length the engines use (config.max_position_embeddings).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from fipo_bench.errors import ModelError
from fipo_bench.tasks.problem import Problem

# The engines' fallback when a config names no context length (engines/hf.py).
DEFAULT_CONTEXT_TOKENS = 32_768
# Byte-level tokenizers emit at most one token per UTF-8 byte, plus a few special tokens.
_SPECIAL_TOKENS_MARGIN = 16


def _surely_fits(prompt: str, context: int) -> bool:
    return len(prompt.encode("utf-8")) + _SPECIAL_TOKENS_MARGIN < context


def context_length(model_dir: Path) -> int:
    try:
        config = json.loads((model_dir / "config.json").read_text())
    except (OSError, ValueError):
        return DEFAULT_CONTEXT_TOKENS  # the engine's own config check reports a bad file
    value = config.get("max_position_embeddings") if isinstance(config, dict) else None
    return int(value) if isinstance(value, int) and value > 0 else DEFAULT_CONTEXT_TOKENS


def check_prompts_fit(
    spec: str, model_dir: Path, problems: Sequence[Problem], prompts: Sequence[str]
) -> None:
    """ModelError naming the first problem whose prompt leaves no room for one response token."""
    context = context_length(model_dir)
    if all(_surely_fits(prompt, context) for prompt in prompts):
        return  # the common case: no tokenizer needed
    from fipo_bench.engines.loading import load_tokenizer

    tokenizer = load_tokenizer(str(model_dir), role=f"--model {spec}")
    _check_tokens(spec, tokenizer, context, problems, prompts)


def check_prompt_tokens(label: str, tokenizer, context: int, loaded) -> None:
    """The same check with a loaded tokenizer and context (an engine's), `loaded` holding
    problems and prompts."""
    _check_tokens(label, tokenizer, context, loaded.problems, loaded.prompts)


def _check_tokens(spec, tokenizer, context, problems, prompts) -> None:
    for problem, prompt in zip(problems, prompts, strict=True):
        if _surely_fits(prompt, context):
            continue
        n_tokens = len(tokenizer(prompt, verbose=False)["input_ids"])
        if n_tokens > context - 1:
            raise ModelError(
                f"problem {problem.problem_id!r} of {problem.dataset}: its prompt is"
                f" {n_tokens} tokens, the context of --model {spec} is {context}; allowed:"
                f" prompts of at most {context - 1} tokens (shorten it or use a longer-context"
                " model)"
            )
