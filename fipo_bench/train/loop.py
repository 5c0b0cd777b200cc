"""The training loop: rollout -> reward -> advantage -> mini-batch updates -> log -> checkpoint.

One readable loop (GRPO-Zero / nanochat chat_rl style); each stage lives in its own module and
reads its settings from the config tree by name (cfg.rollout, cfg.update, cfg.loss, ...):
rollout.py (sampling, rewards, dynamic sampling), update.py (optimiser steps), credit.py
(per-token credit of logged rollouts), checkpoint.py, reporting.py.
"""

from __future__ import annotations

import time
import warnings
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import torch

from fipo_bench.algos.losses import agg_normalizer, aggregate
from fipo_bench.config import TrainConfig
from fipo_bench.engines.hf import HFEngine
from fipo_bench.errors import FipoBenchError
from fipo_bench.store import Store
from fipo_bench.train import validation
from fipo_bench.train.checkpoint import (
    remove_partial_saves,
    restore_rng,
    rng_state,
    save_checkpoint,
)
from fipo_bench.train.credit import token_credit
from fipo_bench.train.credit_rows import credit_tables, pick_logged_rows
from fipo_bench.train.data_order import DataOrderState
from fipo_bench.train.metrics import LENGTH_WEIGHTED_ADVANTAGE, length_weighted_advantage_mean
from fipo_bench.train.prepare import PreparedRun, prepare
from fipo_bench.train.reporting import ConsoleProgress, open_trackers
from fipo_bench.train.rollout import collect_rollouts
from fipo_bench.train.rollout_batch import Rollout, RolloutBatch, build_batch
from fipo_bench.train.run_dir import write_identity
from fipo_bench.train.schedule import make_optimizer, make_scheduler
from fipo_bench.train.update import score_rows, update_policy
from fipo_bench.verify import warm_up


class TrainingDiverged(FipoBenchError):
    """An update left non-finite weights: stopped before they were sampled from or saved."""


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    out_dir: Path
    first_step: int  # the first step this call trained (1 for a fresh run)
    last_step: int
    checkpoints: list[Path]  # written by this call
    last_metrics: dict[str, float]
    n_long_prompts_dropped: int  # problems left out: prompt longer than max_prompt_tokens
    warnings: list[str] = field(default_factory=list)  # printed once each during the run


def train(job: Any) -> TrainResult:
    """Validate the job (nothing written on bad input), then train to `job.steps`."""
    run = prepare(job)
    return run_prepared(run)


def run_prepared(run: PreparedRun) -> TrainResult:
    job, cfg = run.job, run.job.config
    torch.manual_seed(cfg.run.seed)
    store = Store(job.db_path)
    write_identity(job.out_dir, run.identity)
    remove_partial_saves(job.out_dir)
    store.upsert_run(
        run.run_id,
        kind="train",
        name=job.out_dir.name,
        algo=cfg.algo,
        preset=job.preset,
        config=run.identity["config"],
        model_path=str(run.model_source),
    )

    policy, tokenizer = run.policy, run.tokenizer
    policy.eval()  # no dropout anywhere: on-policy ratios must be exactly 1 before an update
    optimizer = make_optimizer(
        policy,
        lr=cfg.optimiser.lr,
        weight_decay=cfg.optimiser.weight_decay,
        betas=cfg.optimiser.betas,
    )
    scheduler = make_scheduler(optimizer, warmup_steps=cfg.optimiser.warmup_steps)
    order_state = DataOrderState()
    done = 0
    if run.resume_state is not None:  # the policy was already loaded from this checkpoint
        state = run.resume_state
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        restore_rng(state["rng"])
        order_state = DataOrderState(**state["data_order"])
        done = int(state["step"])

    written: list[Path] = []
    notices: list[str] = []
    metrics: dict[str, float] = {}
    with ExitStack() as stack:
        engine = run.make_engine(policy, tokenizer)
        stack.callback(engine.close)
        warm_up()  # verifier workers ready before the first rollout (not inside step 1's time)
        trackers = open_trackers(
            job.report_to, run_id=run.run_id, out_dir=job.out_dir, config=run.identity
        )
        for tracker in trackers:
            stack.callback(tracker.close)
        progress = None
        if job.show_progress:
            progress = stack.enter_context(ConsoleProgress(job.steps, done))

        def notice_once(text: str) -> None:
            if text not in notices:
                notices.append(text)
                if progress is not None:
                    progress.notice(text)

        def validate(step: int, model_path: Path | None) -> None:
            """The evaluator on the live policy as this run's validation at `step`."""
            if engine.name == "hf":  # the eval stores the engine's log-probs: score them
                val_engine = HFEngine.from_model(policy, tokenizer, score_logprobs=True)
            else:
                engine.sync_weights(policy.state_dict())
                val_engine = engine
            val = validation.validate_step(
                val_engine,
                cfg,
                run_id=run.run_id,
                step=step,
                db_path=job.db_path,
                model_path=None if model_path is None else str(model_path),
            )
            store.write_train_metrics(run.run_id, step, val)
            for tracker in trackers:
                tracker.log(step, val)

        if validation.due(cfg, done):  # the starting model (or a validation a kill interrupted)
            validate(done, None if run.resume_from is None else run.resume_from.path)

        for step in range(done + 1, job.steps + 1):
            started = time.perf_counter()
            if engine.name != "hf":
                engine.sync_weights(policy.state_dict())  # roll out with the live policy
            sampled = collect_rollouts(
                engine,
                run.problems,
                order_state,
                cfg.rollout,
                cfg.rewards,
                step=step,
                seed=cfg.run.seed,
                plugin=run.plugin_reward,
            )
            order_state = sampled.order_state
            metrics = dict(sampled.metrics)
            metrics["timing/rollout_s"] = time.perf_counter() - started
            metrics["lr"] = scheduler.get_last_lr()[0]
            learned = _learn(run, policy, optimizer, sampled.rollouts, step)
            metrics.update(learned.metrics)
            if cfg.algo == "fipo" and metrics["updates_per_step"] <= 1:
                notice_once(
                    f"step {step}: FIPO made {metrics['updates_per_step']:.0f} optimiser update"
                    " (dynamic sampling kept at most one mini-batch of groups): with one"
                    " on-policy update every influence weight is 1, so the step was DAPO;"
                    " counted in the metric fipo/single_update_step"
                )
            with warnings.catch_warnings():
                # A step whose updates were all skipped (NaN) or that kept no group still
                # advances the schedule; torch warns about that order, harmlessly here.
                warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
                scheduler.step()
            metrics["timing/update_s"] = time.perf_counter() - started - metrics["timing/rollout_s"]
            metrics["step_time_s"] = time.perf_counter() - started
            finite = _weights_finite(policy)
            metrics["nonfinite_weights"] = float(not finite)

            store.write_train_metrics(run.run_id, step, metrics)
            if not finite:
                last = written[-1].name if written else "none written by this call"
                raise TrainingDiverged(
                    f"step {step} left non-finite weights (optimiser.lr={cfg.optimiser.lr:g});"
                    f" stopped before saving or sampling them (last checkpoint: {last}); lower"
                    " optimiser.lr or optimiser.grad_clip and resume from the last checkpoint"
                )
            if learned.samples is not None:
                store.write_samples(learned.samples, learned.tokens)
            for tracker in trackers:
                tracker.log(step, metrics)
            if progress is not None:
                progress.update(step, metrics)

            saved = None
            if step == job.steps or (cfg.run.save_every > 0 and step % cfg.run.save_every == 0):
                state = {
                    "step": step,
                    "run_id": run.run_id,
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "rng": rng_state(),
                    "data_order": {"epoch": order_state.epoch, "position": order_state.position},
                }
                saved = save_checkpoint(job.out_dir, step, policy, tokenizer, state)
                store.add_checkpoint(run.run_id, step, saved)
                written.append(saved)
            if validation.due(cfg, step):  # after the save: credit can later score that folder
                validate(step, saved)
    return TrainResult(
        run_id=run.run_id,
        out_dir=job.out_dir,
        first_step=done + 1,
        last_step=max(done, job.steps),
        checkpoints=written,
        last_metrics=metrics,
        n_long_prompts_dropped=run.n_long_prompts_dropped,
        warnings=notices,
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
    cfg: TrainConfig = run.job.config
    idle = {"num_updates": 0.0, "updates_per_step": 0.0, "skipped_updates": 0.0}
    if not rollouts:  # dynamic sampling found no group with signal within its bound
        return _Learned({**idle, **_single_update_flag(cfg, 0)}, None, None)
    batch = build_batch(rollouts, run.pad_token_id)
    groups = [r.group for r in rollouts]
    rows = range(batch.size)
    # Old log-probs from the policy itself (not the engine's): the ratio is exactly 1 before the
    # first update whatever engine sampled, as in verl's recompute of old_log_prob.
    old_logp, old_entropy = score_rows(policy, batch, rows, cfg)
    ref_logp = score_rows(run.reference, batch, rows, cfg)[0] if run.reference is not None else None
    result = update_policy(policy, optimizer, batch, groups, old_logp, cfg, ref_logp=ref_logp)
    metrics = {
        **result.metrics,
        # sum of token advantages / response tokens over the kept batch (paper 5.2, note 2)
        LENGTH_WEIGHTED_ADVANTAGE: length_weighted_advantage_mean(
            batch.advantages, batch.response_mask
        ),
        # the rollout policy's entropy, aggregated like the loss (verl's actor/entropy)
        "entropy": _aggregated(old_entropy, batch, cfg),
        **_rollout_logp_gap(batch, old_logp, cfg),
        "num_updates": float(result.n_updates),
        "updates_per_step": float(result.n_updates),
        "skipped_updates": float(result.n_skipped),
        **_single_update_flag(cfg, result.n_updates),
    }
    logged = pick_logged_rows(groups, cfg.run.log_rollouts_per_step)
    if not logged:
        return _Learned(metrics, None, None)
    credit = token_credit(policy, batch, logged, old_logp, cfg)
    samples, tokens = credit_tables(run.run_id, step, [rollouts[i] for i in logged], credit)
    return _Learned(metrics, samples, tokens)


def _single_update_flag(cfg: TrainConfig, n_updates: int) -> dict[str, float]:
    """FIPO only: 1.0 for a step whose batch gave at most one update (FIPO == DAPO there)."""
    return {"fipo/single_update_step": float(n_updates <= 1)} if cfg.algo == "fipo" else {}


def _aggregated(values: torch.Tensor, batch: RolloutBatch, cfg: TrainConfig) -> float:
    mask = batch.response_mask
    divisor = agg_normalizer(
        mask, cfg.loss.agg, max_response_tokens=cfg.rollout.max_response_tokens
    )
    return float(aggregate(values, mask, cfg.loss.agg, normalizer=max(divisor, 1.0)))


def _rollout_logp_gap(
    batch: RolloutBatch, old_logp: torch.Tensor, cfg: TrainConfig
) -> dict[str, float]:
    """|engine log-prob - policy log-prob| of the sampled tokens (verl's rollout_probs_diff):
    near 0 when the engine samples from the live policy; large when weight sync is broken.
    Engines report raw (temperature-1) log-probs: comparable only when T = 1."""
    if batch.rollout_logp is None or cfg.rollout.temperature != 1.0:
        return {}
    gap = (batch.rollout_logp - old_logp).abs()[batch.response_mask.bool()]
    if gap.numel() == 0:
        return {}
    return {"rollout_logp_diff/mean": float(gap.mean()), "rollout_logp_diff/max": float(gap.max())}


def _weights_finite(model: torch.nn.Module) -> bool:
    """One reduction per parameter, one sync: cheap next to a training step."""
    flags = [torch.isfinite(p).all() for p in model.parameters()]
    return bool(torch.stack(flags).all()) if flags else True
