"""The training loop: rollout -> reward -> advantage -> mini-batch updates -> log -> checkpoint.

One readable loop (GRPO-Zero / nanochat chat_rl style); each stage lives in its own module:
rollout.py (sampling, rewards, dynamic sampling), update.py (old log-probs, optimiser steps),
credit.py (per-token credit of logged rollouts), checkpoint.py, reporting.py.
"""

from __future__ import annotations

import time
import warnings
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import torch

from fipo_bench.store import Store
from fipo_bench.train.checkpoint import (
    load_trainer_state,
    remove_partial_saves,
    restore_rng,
    rng_state,
    save_checkpoint,
)
from fipo_bench.train.credit import token_credit
from fipo_bench.train.credit_rows import credit_tables, pick_logged_rows
from fipo_bench.train.data_order import DataOrderState
from fipo_bench.train.prepare import PreparedRun, prepare
from fipo_bench.train.reporting import ConsoleProgress, open_trackers
from fipo_bench.train.rollout import collect_rollouts
from fipo_bench.train.rollout_batch import Rollout, build_batch
from fipo_bench.train.run_dir import write_identity
from fipo_bench.train.schedule import make_optimizer, make_scheduler
from fipo_bench.train.update import score_rows, update_policy


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    out_dir: Path
    first_step: int  # the first step this call trained (1 for a fresh run)
    last_step: int
    checkpoints: list[Path]  # written by this call
    last_metrics: dict[str, float]
    n_long_prompts_dropped: int  # problems left out: prompt longer than max_prompt_tokens


def train(job: Any) -> TrainResult:
    """Validate the job (nothing written on bad input), then train to `job.steps`."""
    run = prepare(job)
    return run_prepared(run)


def run_prepared(run: PreparedRun) -> TrainResult:
    job, s = run.job, run.settings
    torch.manual_seed(s.seed)
    store = Store(job.db_path)
    write_identity(job.out_dir, run.identity)
    remove_partial_saves(job.out_dir)
    store.upsert_run(
        run.run_id,
        kind="train",
        name=job.out_dir.name,
        algo=job.config.loss.mode,
        preset=job.preset,
        config=run.identity["config"],
        model_path=str(run.model_source),
    )

    policy, tokenizer = run.policy, run.tokenizer
    policy.eval()  # no dropout anywhere: on-policy ratios must be exactly 1 before an update
    optimizer = make_optimizer(policy, lr=s.lr, weight_decay=s.weight_decay, betas=s.adam_betas)
    scheduler = make_scheduler(optimizer, warmup_steps=s.warmup_steps)
    order_state = DataOrderState()
    done = 0
    if run.resume_from is not None:  # the policy was already loaded from this checkpoint
        state = load_trainer_state(run.resume_from)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        restore_rng(state["rng"])
        order_state = DataOrderState(**state["data_order"])
        done = int(state["step"])

    written: list[Path] = []
    metrics: dict[str, float] = {}
    with ExitStack() as stack:
        engine = run.make_engine(policy, tokenizer)
        stack.callback(engine.close)
        trackers = open_trackers(
            job.report_to, run_id=run.run_id, out_dir=job.out_dir, config=run.identity
        )
        for tracker in trackers:
            stack.callback(tracker.close)
        progress = None
        if job.show_progress:
            progress = stack.enter_context(ConsoleProgress(job.steps, done))

        for step in range(done + 1, job.steps + 1):
            started = time.perf_counter()
            if engine.name != "hf":
                engine.sync_weights(policy.state_dict())  # roll out with the live policy
            sampled = collect_rollouts(engine, run.problems, order_state, s.rollout, step)
            order_state = sampled.order_state
            metrics = dict(sampled.metrics)
            metrics["timing/rollout_s"] = time.perf_counter() - started
            metrics["lr"] = scheduler.get_last_lr()[0]
            learned = _learn(run, policy, optimizer, sampled.rollouts, step)
            metrics.update(learned.metrics)
            with warnings.catch_warnings():
                # A step whose updates were all skipped (NaN) or that kept no group still
                # advances the schedule; torch warns about that order, harmlessly here.
                warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
                scheduler.step()
            metrics["timing/update_s"] = time.perf_counter() - started - metrics["timing/rollout_s"]
            metrics["step_time_s"] = time.perf_counter() - started

            store.write_train_metrics(run.run_id, step, metrics)
            if learned.samples is not None:
                store.write_samples(learned.samples, learned.tokens)
            for tracker in trackers:
                tracker.log(step, metrics)
            if progress is not None:
                progress.update(step, metrics)

            if step == job.steps or (s.save_every > 0 and step % s.save_every == 0):
                state = {
                    "step": step,
                    "run_id": run.run_id,
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "rng": rng_state(),
                    "data_order": {"epoch": order_state.epoch, "position": order_state.position},
                }
                path = save_checkpoint(job.out_dir, step, policy, tokenizer, state)
                store.add_checkpoint(run.run_id, step, path)
                written.append(path)
    return TrainResult(
        run_id=run.run_id,
        out_dir=job.out_dir,
        first_step=done + 1,
        last_step=max(done, job.steps),
        checkpoints=written,
        last_metrics=metrics,
        n_long_prompts_dropped=run.n_long_prompts_dropped,
    )


@dataclass(frozen=True)
class _Learned:
    metrics: dict[str, float]
    samples: pa.Table | None  # logged rollouts with their per-token credit
    tokens: pa.Table | None


def _learn(
    run: PreparedRun,
    policy: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    rollouts: list[Rollout],
    step: int,
) -> _Learned:
    """Old log-probs, the mini-batch updates, then the credit of the logged rollouts."""
    if not rollouts:  # dynamic sampling found no group with signal within its bound
        return _Learned({"num_updates": 0.0, "skipped_updates": 0.0}, None, None)
    s, loss_config = run.settings, run.job.config.loss
    batch = build_batch(rollouts, run.pad_token_id)
    groups = [r.group for r in rollouts]
    score = partial(
        score_rows,
        batch=batch,
        rows=range(batch.size),
        samples_per_microbatch=s.update.samples_per_microbatch,
        chunk_tokens=s.update.chunk_tokens,
        temperature=s.update.temperature,
    )
    # Old log-probs from the policy itself (not the engine's): the ratio is exactly 1 before the
    # first update whatever engine sampled, as in verl's recompute of old_log_prob.
    old_logp, _ = score(policy)
    ref_logp = score(run.reference)[0] if run.reference is not None else None
    result = update_policy(
        policy, optimizer, batch, groups, old_logp, loss_config, s.update, ref_logp=ref_logp
    )
    metrics = {
        **result.metrics,
        # engines report raw (temperature-1) log-probs: comparable only when T = 1
        **(
            _rollout_logp_gap(batch.rollout_logp, old_logp, batch.response_mask)
            if s.update.temperature == 1.0
            else {}
        ),
        "num_updates": float(result.n_updates),
        "skipped_updates": float(result.n_skipped),
    }
    logged = pick_logged_rows(groups, s.log_rollouts_per_step)
    if not logged:
        return _Learned(metrics, None, None)
    credit = token_credit(policy, batch, logged, old_logp, loss_config, s.update)
    samples, tokens = credit_tables(run.run_id, step, [rollouts[i] for i in logged], credit)
    return _Learned(metrics, samples, tokens)


def _rollout_logp_gap(
    rollout_logp: torch.Tensor, old_logp: torch.Tensor, mask: torch.Tensor
) -> dict[str, float]:
    """|engine log-prob - policy log-prob| of the sampled tokens (verl's rollout_probs_diff):
    near 0 when the engine samples from the live policy; large when weight sync is broken."""
    gap = (rollout_logp - old_logp).abs()[mask.bool()]
    if gap.numel() == 0:
        return {}
    return {"rollout_logp_diff/mean": float(gap.mean()), "rollout_logp_diff/max": float(gap.max())}
