"""Sampled accuracy of a causal LM on synthetic problems (the build's closing measurement)."""

from __future__ import annotations

from collections.abc import Sequence

from fipo_bench.models.warmup import raw_prompt
from fipo_bench.tasks.problem import Problem
from fipo_bench.verify import check_many


def sample_responses(
    model,
    tokenizer,
    problems: Sequence[Problem],
    *,
    seed: int,
    temperature: float = 1.0,
    max_new_tokens: int = 192,
    batch_size: int = 200,
) -> list[str]:
    """One sampled response per problem (raw prompt, left-padded batches, plain sampling)."""
    import torch

    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    tokenizer.padding_side = "left"
    responses: list[str] = []
    try:
        for start in range(0, len(problems), batch_size):
            chunk = problems[start : start + batch_size]
            encoded = tokenizer([raw_prompt(p) for p in chunk], return_tensors="pt", padding=True)
            with torch.no_grad():
                output = model.generate(
                    **encoded,
                    do_sample=True,
                    temperature=temperature,
                    top_k=0,
                    top_p=1.0,
                    max_new_tokens=max_new_tokens,
                    pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=tokenizer.eos_token_id,
                )
            generated = output[:, encoded["input_ids"].shape[1] :]
            responses += tokenizer.batch_decode(generated, skip_special_tokens=True)
    finally:
        # Sampling here must not change the caller's random stream.
        torch.random.set_rng_state(generator_state)
    return responses


def sampled_accuracy(model, tokenizer, problems: Sequence[Problem], *, seed: int) -> float:
    """Share of problems whose one sampled response (temperature 1.0) has the right answer."""
    if not problems:
        return 0.0
    responses = sample_responses(model, tokenizer, problems, seed=seed)
    # The project's verifier (the `Answer:` protocol), so this number means what eval's does.
    results = check_many([(p.answer, r) for p, r in zip(problems, responses, strict=True)])
    return sum(result.correct for result in results) / len(problems)
