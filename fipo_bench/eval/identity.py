"""Deterministic keys: which eval a command continues, and the seed of each unit of work.

Resume rests on both. The eval_id is the same for the same (model identity, problems, settings,
seed), so rerunning a killed command finds its stored samples; each unit's seed depends only on
(seed, its problem ids), so the units a resumed run regenerates come out as they would have in
an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from fipo_bench.eval.settings import EvalSettings
from fipo_bench.tasks.problem import Problem


def _digest(payload: object, size: int = 8) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.blake2b(text.encode(), digest_size=size).hexdigest()


def problems_fingerprint(problems: Sequence[Problem], prompts: Sequence[str]) -> str:
    """Hash of exactly what is asked and judged: ids, rendered prompts and gold answers."""
    return _digest(
        [[p.problem_id, prompt, p.answer] for p, prompt in zip(problems, prompts, strict=True)]
    )


def eval_id(
    model_identity: str,
    settings: EvalSettings,
    *,
    engine: str,
    prompt_template: str,
    problems_key: str,
) -> str:
    """`ev-<16 hex>` from everything that changes the samples.

    The engine is part of the key: the same seed gives different samples under vLLM and
    transformers, so resuming one with the other would mix two sample streams."""
    payload = {
        "model": model_identity,
        "dataset": settings.dataset,
        "problems": problems_key,
        "prompt": prompt_template,
        "engine": engine,
        "n": settings.n,
        "temperature": settings.temperature,
        "top_p": settings.top_p,
        "max_tokens": settings.max_tokens,
        "seed": settings.seed,
        "problems_per_unit": settings.problems_per_unit,
    }
    if settings.samples_per_unit < settings.n:
        # A problem's samples span several units, each with its own seed: a different sample
        # stream from whole-problem units, hence a different eval.
        payload["samples_per_unit"] = settings.samples_per_unit
    return "ev-" + _digest(payload)


def unit_seed(seed: int, problem_ids: Sequence[str], first_sample: int = 0) -> int:
    """31-bit seed of one unit of work (fits every engine's seed type). `first_sample` > 0 for
    the later units of a problem whose samples span several units."""
    key: list = [seed, list(problem_ids)]
    if first_sample:
        key.append(first_sample)
    return int(_digest(key, size=4), 16) & 0x7FFFFFFF
