"""Prompt templates: how a `Problem` becomes the text a model is asked to complete."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fipo_bench.errors import ConfigError
from fipo_bench.tasks.problem import Problem

# The DAPO instruction, character for character as stored in the prompts of the DAPO parquet
# files (BytedTsinghua-SIA/DAPO-Math-17k, AIME-2024): the reward reads the last "Answer:" line.
DAPO_PREFIX = (
    "Solve the following math problem step by step. The last line of your response should be "
    "of the form Answer: $Answer (without quotes) where $Answer is the answer to the problem.\n\n"
)
DAPO_SUFFIX = '\n\nRemember to put your answer on its own line after "Answer:".'

# Qwen2.5-Math's chain-of-thought instruction (its system prompt, here appended to the user turn
# so base models without a chat template see it too).
BOXED_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


def _dapo(problem: str) -> str:
    return DAPO_PREFIX + problem + DAPO_SUFFIX


def _boxed(problem: str) -> str:
    return problem + "\n" + BOXED_INSTRUCTION


def _raw(problem: str) -> str:
    # The embedded synthetic model was warmed up on "problem\n" followed by its trace.
    return problem + "\n"


TEMPLATES: dict[str, Callable[[str], str]] = {"dapo": _dapo, "boxed": _boxed, "raw": _raw}


def check_template(template: str) -> str:
    """Validate a template name at the boundary (CLI flag, config)."""
    if template not in TEMPLATES:
        known = ", ".join(TEMPLATES)
        raise ConfigError(f"unknown prompt template {template!r}; known templates: {known}")
    return template


def unwrap_dapo(prompt: str) -> str | None:
    """The raw problem inside a DAPO-wrapped prompt, or None when `prompt` is not one.

    DAPO-Math-17k stores only the wrapped prompt; unwrapping lets any template be applied.
    """
    if prompt.startswith(DAPO_PREFIX) and prompt.endswith(DAPO_SUFFIX):
        inner = prompt[len(DAPO_PREFIX) : len(prompt) - len(DAPO_SUFFIX)]
        return inner or None
    return None


def render_prompt(
    problem: Problem, template: str = "dapo", *, tokenizer: Any = None, chat: bool = False
) -> str:
    """The prompt text for `problem`. With `chat=True` the text becomes one user message passed
    through the tokenizer's chat template, with the assistant turn opened for generation."""
    text = TEMPLATES[check_template(template)](problem.problem)
    if not chat:
        return text
    if tokenizer is None:
        raise ConfigError("chat=True needs a tokenizer; pass the model's tokenizer or chat=False")
    if not getattr(tokenizer, "chat_template", None):
        name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
        raise ConfigError(
            f"tokenizer {name!r} has no chat template; use chat=False for base models"
        )
    # The chat template closes the user turn itself; raw's trailing newline is for completion.
    message = {"role": "user", "content": text.rstrip("\n")}
    return tokenizer.apply_chat_template([message], tokenize=False, add_generation_prompt=True)
