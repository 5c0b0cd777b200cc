"""Write a real Inspect AI log (.eval) with Inspect's own mock model: no network, no weights.

    /path/to/venv-with-inspect-ai/bin/python tests/import_fixtures/make_inspect_log.py OUT_DIR

Three AIME-style problems, two epochs, the `match` scorer; the mock model answers from a fixed
list (one wrong answer, one with no answer line), so the log holds right, wrong and unanswered
samples and Inspect's own scores for each. Prints the path of the .eval written. The test suite
runs this when inspect_ai is importable (or FIPO_BENCH_INSPECT_PYTHON names a Python that has
it) and otherwise imports the copy committed beside it, made by this script.
"""

from __future__ import annotations

import sys

from inspect_ai import Task, eval
from inspect_ai.dataset import Sample
from inspect_ai.model import ModelOutput, ModelUsage, get_model
from inspect_ai.scorer import match
from inspect_ai.solver import generate

PROBLEMS = [("aime-1", "What is 20 + 5?", "25"), ("aime-2", "What is 6 * 7?", "42"),
            ("aime-3", "What is 100 - 1?", "99")]  # fmt: skip
# Inspect runs samples of an epoch in order; two epochs of three samples.
REPLIES = [
    "20 + 5 = 25.\nAnswer: 25",
    "6 * 7 = 42.\nAnswer: 42",
    "100 - 1 = 98.\nAnswer: 98",
    "Twenty-five.\nAnswer: 25",
    "I am not sure.",
    "99, since 100 - 1 = 99.\nAnswer: 99",
]


def _reply(text: str) -> ModelOutput:
    output = ModelOutput.from_content("mockllm/model", text)
    # Usage given up front: the mock model would otherwise count tokens with tiktoken, which
    # downloads its vocabulary. One token per character, as the project's tiny model has.
    output.usage = ModelUsage(input_tokens=20, output_tokens=len(text), total_tokens=20 + len(text))
    return output


def main(out_dir: str) -> None:
    model = get_model("mockllm/model", custom_outputs=[_reply(text) for text in REPLIES])
    task = Task(
        name="aime_mock",
        dataset=[Sample(id=pid, input=q, target=a) for pid, q, a in PROBLEMS],
        solver=[generate()],
        scorer=match(numeric=True),
        epochs=2,
    )
    (log,) = eval(task, model=model, log_dir=out_dir, log_format="eval", max_samples=1,
                  temperature=0.6, top_p=0.95, max_tokens=512, seed=7, display="none")  # fmt: skip
    print(log.location)


if __name__ == "__main__":
    main(sys.argv[1])
