"""Validation during training: the evaluator run on the live policy every `validation.every` steps.

Each validation is an ordinary eval (same problems, prompts, verifier and store as `fipo-bench
eval`) linked to its training run and step, so accuracy-over-steps curves (the paper's Figure 1)
and per-stage length/accuracy fits exist for any run. Step 0 is the model training started from
(verl's val_before_train). A resumed run finds its stored validations and skips them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fipo_bench.config import TrainConfig


def due(cfg: TrainConfig, step: int) -> bool:
    """Validate at step 0 and every `validation.every` steps (never when no dataset is set)."""
    every = cfg.validation.every
    return cfg.validation.dataset is not None and every > 0 and step % every == 0


def eval_settings(cfg: TrainConfig, engine_name: str) -> Any:
    from fipo_bench.eval import EvalSettings

    val = cfg.validation
    return EvalSettings(
        dataset=val.dataset,
        n=val.n,
        temperature=val.temperature,
        top_p=val.top_p,
        max_tokens=val.max_tokens or cfg.rollout.max_response_tokens,
        engine=engine_name,  # type: ignore[arg-type]
        limit=val.limit,
        seed=cfg.run.seed,
    )


def context_tokens(cfg: TrainConfig, tokenizer: Any) -> int:
    """Prompt + response tokens the longest validation sequence needs (0 without validation).

    Loading the problems here, before the run writes anything, turns a bad validation dataset
    into a DataError up front; the vLLM engine is sized to fit the result."""
    val = cfg.validation
    if val.dataset is None:
        return 0
    from fipo_bench.tasks.prompts import render_prompt
    from fipo_bench.tasks.registry import default_prompt, load_problems

    problems = load_problems(val.dataset, limit=val.limit)
    template = default_prompt(val.dataset)
    longest = max(len(tokenizer(render_prompt(p, template))["input_ids"]) for p in problems)
    return longest + (val.max_tokens or cfg.rollout.max_response_tokens)


def validate_step(
    engine: Any,
    cfg: TrainConfig,
    *,
    run_id: str,
    step: int,
    db_path: Path,
    model_path: str | None = None,
) -> dict[str, float]:
    """Evaluate the policy `engine` serves as run `run_id` at `step`; the metrics it returns
    (also stored with the eval) go into the step's training metrics as `val/<name>`."""
    from fipo_bench.eval import run_eval_with_engine

    result = run_eval_with_engine(
        engine,
        model_label=f"{run_id}@{step}",
        settings=eval_settings(cfg, engine.name),
        db_path=db_path,
        run_id=run_id,
        step=step,
        model_path=model_path,
    )
    return {f"val/{name}": float(value) for name, value in result.metrics.summary().items()}
