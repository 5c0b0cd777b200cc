"""Prompt templates: dapo / boxed / raw, and the optional chat template."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast

from fipo_bench.errors import ConfigError
from fipo_bench.tasks import DATASETS, TEMPLATES, Problem, default_prompt, render_prompt
from fipo_bench.tasks.prompts import BOXED_INSTRUCTION, unwrap_dapo

PROBLEM = Problem("aime24", "60", "Find $x$ if $2x = \\frac{14}{3}$.", "\\frac{7}{3}")

# Qwen2.5's ChatML layout, enough of it to check that the user turn and generation prompt appear.
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tokenizer(chat_template: str | None) -> PreTrainedTokenizerFast:
    """A real transformers tokenizer built in memory (no download), with a chosen template."""
    tok = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    )
    tok.chat_template = chat_template
    return tok


def test_dapo_reproduces_every_stored_prompt_of_the_real_dapo_parquet(shared_benchmarks: Path):
    rows = pq.read_table(shared_benchmarks / "dapo_aime2024_x32.parquet").to_pylist()
    assert len(rows) == 960
    for row in rows:
        problem = Problem("dapo-aime24", "0", row["extra_info"]["raw_problem"], "0")
        (message,) = row["prompt"]
        assert message["role"] == "user"
        assert render_prompt(problem, "dapo") == message["content"]


def test_dapo_is_the_default_template():
    assert render_prompt(PROBLEM) == render_prompt(PROBLEM, "dapo")
    assert render_prompt(PROBLEM).startswith("Solve the following math problem step by step.")
    assert render_prompt(PROBLEM).endswith(
        'Remember to put your answer on its own line after "Answer:".'
    )


def test_raw_is_exactly_the_problem_and_a_newline():
    assert render_prompt(PROBLEM, "raw") == PROBLEM.problem + "\n"


def test_boxed_asks_for_a_boxed_answer_after_the_problem():
    text = render_prompt(PROBLEM, "boxed")
    assert text == PROBLEM.problem + "\n" + BOXED_INSTRUCTION
    assert text.endswith("put your final answer within \\boxed{}.")


def test_unknown_template_lists_the_known_ones():
    with pytest.raises(ConfigError) as excinfo:
        render_prompt(PROBLEM, "qwen")
    message = str(excinfo.value)
    assert "\n" not in message and "'qwen'" in message
    assert all(name in message for name in TEMPLATES)


@pytest.mark.parametrize("template", list(TEMPLATES))
def test_chat_wraps_the_template_text_in_one_user_turn(template: str):
    text = render_prompt(PROBLEM, template, tokenizer=tokenizer(CHATML), chat=True)
    body = render_prompt(PROBLEM, template).rstrip("\n")
    assert text == f"<|im_start|>user\n{body}<|im_end|>\n<|im_start|>assistant\n"


def test_chat_without_a_tokenizer_is_a_config_error():
    with pytest.raises(ConfigError, match="needs a tokenizer"):
        render_prompt(PROBLEM, chat=True)


def test_chat_with_a_base_tokenizer_without_template_is_a_config_error():
    with pytest.raises(ConfigError, match="has no chat template"):
        render_prompt(PROBLEM, tokenizer=tokenizer(None), chat=True)


def test_a_tokenizer_is_ignored_without_chat():
    assert render_prompt(PROBLEM, "raw", tokenizer=tokenizer(CHATML)) == PROBLEM.problem + "\n"


def test_unwrap_dapo_inverts_the_dapo_template():
    assert unwrap_dapo(render_prompt(PROBLEM, "dapo")) == PROBLEM.problem
    assert unwrap_dapo(render_prompt(PROBLEM, "boxed")) is None
    assert unwrap_dapo(PROBLEM.problem) is None


def test_every_dataset_default_is_a_known_template():
    for name in DATASETS:
        assert default_prompt(name) in TEMPLATES
    assert default_prompt("aime25") == "dapo"
    assert default_prompt("synthetic") == "raw"
    assert default_prompt("my_file") == "dapo"  # local files are benchmarks unless told
