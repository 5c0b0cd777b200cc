"""Token-level credit between two checkpoints: every stored trajectory of an eval, re-scored.

    plan = plan_credit(db_path, eval_id, CreditSettings(ref_model="ckpt/step-0"))  # no writes
    result = run_credit(plan, progress=RichProgress(console))

For every response token of every stored sample of the eval it stores (tokens table) ref_logp,
delta, future_kl, influence_weight and entropy. The evaluated model is the current policy and
the reference (`--ref`: the base or an earlier checkpoint) the old policy; both are scored
teacher-forced with `engines.scoring.score_tokens`, and delta / Future-KL / the influence weight
come from `algos.fipo_token_credit`, the very function the FIPO loss calls (pair_scoring.py).

Advantage: the safety rule of the influence weight needs the sign of each token's advantage.
A sample's advantage is its correctness-based group advantage within its problem, as GRPO
computes it during training: reward +1 (correct) / -1 (wrong), then (R - mean) / (std + eps)
over the problem's samples (`algos.group_advantages`). A problem whose samples are all right
or all wrong gets 0 (the safety rule never applies there).

delta uses the policy's teacher-forced log-prob, not the `logp` column the sampling engine
stored: both sides of the difference then come from one scorer, so engine numerics (vLLM's
bf16 kernels, say) never show up as credit. The `logp` column keeps the engine's value.

Resumable: the settings are recorded with the eval (`Store.upsert_analysis(eval_id, "credit",
...)`, the `analyses` table). Rerunning with the same
settings skips samples whose credit is stored; other settings clear the stored credit first,
so no sample ever mixes two settings. Memory: scoring batches hold at most `batch_tokens`
positions and a longer trajectory is scored alone, so a 20,000-token response fits on a CPU
and memory does not depend on the number of trajectories.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from fipo_bench.algos.losses import LossConfig
from fipo_bench.analysis.batching import plan_batches, plan_chunks
from fipo_bench.analysis.models import check_same_vocab
from fipo_bench.analysis.pair_scoring import Trajectory, TrajectoryCredit, score_pair
from fipo_bench.analysis.settings import CreditSettings
from fipo_bench.engines.loading import load_causal_lm, load_tokenizer
from fipo_bench.errors import ModelError, StoreError

CREDIT_FIELDS = ("ref_logp", "delta", "future_kl", "influence_weight", "entropy")
# Token rows read, scored and written per store transaction (a kill loses at most this many).
WRITE_CHUNK_TOKENS = 1 << 18


class ProgressSink:
    """Where the run reports progress (the CLI plugs in a rich progress bar)."""

    def start(self, label: str, total: int, done: int) -> None: ...

    def advance(self, samples: int) -> None: ...

    def finish(self) -> None: ...


@dataclass(frozen=True)
class CreditPlan:
    db_path: Path
    eval_id: str
    eval_row: dict[str, Any]
    policy_location: str  # the evaluated model: the current policy
    ref_location: str  # the reference model's directory or hub id: the old policy
    settings: CreditSettings  # ref_model = the reference's identity (location + content hash)


@dataclass(frozen=True)
class CreditResult:
    eval_id: str
    num_samples: int  # samples of the eval with stored tokens
    scored_samples: int  # by this command
    reused_samples: int  # credit already stored with the same settings
    scored_tokens: int
    cleared_samples: int  # stored credit of other settings, cleared first
    wall_s: float


def open_eval(db_path: Path, eval_id: str) -> dict[str, Any]:
    """The eval row, read-only; StoreError for a missing database or an unknown eval id."""
    from fipo_bench.store import Store

    if not db_path.exists():
        raise StoreError(f"database {db_path} does not exist; run `fipo-bench eval` first")
    row = Store(db_path, read_only=True).get_eval(eval_id)
    if row is None:
        raise StoreError(
            f"eval {eval_id!r} is not in {db_path}; see `fipo-bench db info` for stored evals"
        )
    return row


def loss_config_of_run(db_path: Path, run_id: str) -> LossConfig:
    """The loss config training run `run_id` trained with (as stored in its runs row)."""
    from fipo_bench.config import config_from_dict
    from fipo_bench.store import Store

    if not db_path.exists():
        raise StoreError(f"database {db_path} does not exist; give the --db the run wrote to")
    run = Store(db_path, read_only=True).get_run(run_id)
    if run is None or run.get("kind") != "train":
        raise StoreError(
            f"--run {run_id!r} is not a training run in {db_path}; see `fipo-bench db info`"
        )
    return config_from_dict(run.get("config") or {}, what=f"config of run {run_id!r}").loss


def plan_credit(db_path: Path, eval_id: str, settings: CreditSettings) -> CreditPlan:
    """Check the eval, the reference model and their tokenizers; writes nothing."""
    from fipo_bench.eval.model_ref import resolve_model
    from fipo_bench.store import Store

    eval_row = open_eval(db_path, eval_id)
    policy = eval_row.get("model_path")
    if not policy:
        raise ModelError(f"eval {eval_id!r} has no stored model path; cannot score its samples")
    if not Store(db_path, read_only=True).done_sample_keys(eval_id):
        raise StoreError(
            f"eval {eval_id!r} has no stored samples (status {eval_row.get('status')!r});"
            " run or resume `fipo-bench eval` first, then credit it"
        )
    try:
        ref = resolve_model(settings.ref_model, db_path=db_path)
    except ModelError as err:
        raise ModelError(str(err).replace("--model", "--ref", 1)) from None
    check_same_vocab(
        load_tokenizer(policy, role="evaluated model"),
        load_tokenizer(ref.location, role="--ref"),
        policy,
        settings.ref_model,
    )
    return CreditPlan(
        db_path=db_path,
        eval_id=eval_id,
        eval_row=eval_row,
        policy_location=str(policy),
        ref_location=ref.location,
        settings=settings.model_copy(update={"ref_model": ref.identity}),
    )


def group_advantages_by_problem(problem_ids: Sequence[str], correct: Sequence[Any]) -> np.ndarray:
    """GRPO's advantage of each sample within its problem's group (reward +1 right, -1 wrong;
    NULL correctness counts as wrong)."""
    import torch

    from fipo_bench.algos import group_advantages, outcome_rewards

    if not problem_ids:
        return np.zeros(0, dtype=np.float32)
    index = {pid: i for i, pid in enumerate(dict.fromkeys(problem_ids))}
    groups = torch.tensor([index[p] for p in problem_ids])
    rewards = outcome_rewards(torch.tensor([bool(c) for c in correct]))
    return group_advantages(rewards, groups).numpy()


def prompt_token_ids(
    store, eval_row: dict[str, Any], tokenizer, problem_ids: set[str]
) -> dict[str, tuple[int, ...]]:
    """Prompt ids of these problems, rendered and tokenized exactly as the evaluator's engines
    did (stored problem, the eval's prompt template, `tokenizer(prompt)`)."""
    from fipo_bench.tasks import render_prompt
    from fipo_bench.tasks.problem import Problem

    template = eval_row.get("prompt_template") or "dapo"
    out: dict[str, tuple[int, ...]] = {}
    for row in store.problems(eval_row["dataset"]).to_pylist():
        if str(row["problem_id"]) not in problem_ids:
            continue
        problem = Problem(row["dataset"], row["problem_id"], row["problem"], row["answer"], {})
        out[str(row["problem_id"])] = tuple(
            tokenizer(render_prompt(problem, template))["input_ids"]
        )
    return out


def credit_table(credits: Sequence[TrajectoryCredit]) -> pa.Table:
    """The rows `Store.update_token_credit` takes: sample_id, pos and the credit columns."""
    sids = np.concatenate([np.full(len(c.delta), c.sample_id, np.int64) for c in credits])
    pos = np.concatenate([np.arange(len(c.delta), dtype=np.int32) for c in credits])
    columns = {"sample_id": pa.array(sids, pa.int64()), "pos": pa.array(pos, pa.int32())}
    for name in CREDIT_FIELDS:
        values = np.concatenate([getattr(c, name) for c in credits]).astype(np.float32)
        columns[name] = pa.array(values, pa.float32())
    return pa.table(columns)


def _clear_credit(store, sample_ids: Sequence[int], lengths: Sequence[int]) -> None:
    """Set the credit columns of these samples' tokens to NULL (chunked transactions)."""
    from fipo_bench.store.analysis_queries import token_columns

    for chunk in plan_chunks(list(lengths), WRITE_CHUNK_TOKENS):
        keys = token_columns(store, [sample_ids[i] for i in chunk], [])
        nulls = {name: pa.nulls(keys.num_rows, pa.float32()) for name in CREDIT_FIELDS}
        store.update_token_credit(
            pa.table({"sample_id": keys["sample_id"], "pos": keys["pos"], **nulls})
        )


def run_credit(plan: CreditPlan, *, progress: ProgressSink | None = None) -> CreditResult:
    """Score every stored trajectory of the planned eval not yet credited with these settings."""
    from fipo_bench.store import Store
    from fipo_bench.store.analysis_queries import credit_progress, token_columns

    started = time.perf_counter()
    progress = progress or ProgressSink()
    settings = plan.settings
    ref_location = plan.ref_location
    store = Store(plan.db_path)
    samples = credit_progress(store, plan.eval_id).to_pylist()
    advantages = group_advantages_by_problem(
        [s["problem_id"] for s in samples], [s["correct"] for s in samples]
    )
    for sample, advantage in zip(samples, advantages, strict=True):
        sample["advantage"] = float(advantage)
    samples = [s for s in samples if s["n_rows"] > 0]
    identity = settings.identity()
    stored = store.get_analysis(plan.eval_id, "credit")
    same_settings = stored is not None and stored["settings"] == identity
    if same_settings and all(s["n_credited"] >= s["n_rows"] for s in samples):
        return CreditResult(plan.eval_id, len(samples), 0, len(samples), 0, 0,
                            time.perf_counter() - started)  # fmt: skip

    tokenizer = load_tokenizer(plan.policy_location, role="evaluated model")
    prompts = prompt_token_ids(
        store, plan.eval_row, tokenizer, {str(s["problem_id"]) for s in samples}
    )
    missing = sorted({s["problem_id"] for s in samples} - set(prompts))
    if missing:
        raise StoreError(
            f"eval {plan.eval_id!r}: problem {missing[0]!r} of dataset"
            f" {plan.eval_row['dataset']!r} is not stored; the eval's problems are needed"
        )
    # Load both models before the first write: a model that fails to load changes nothing.
    policy = load_causal_lm(plan.policy_location, role="evaluated model", dtype=settings.dtype)
    ref = load_causal_lm(ref_location, role="--ref", dtype=settings.dtype)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    cleared = 0
    if not same_settings:
        stale = [s for s in samples if s["n_credited"] > 0]
        _clear_credit(store, [s["sample_id"] for s in stale], [s["n_rows"] for s in stale])
        cleared = len(stale)
        for s in stale:
            s["n_credited"] = 0
        # Recorded only after the clear: a kill in between leaves the old record over cleared
        # (or old) credit, never new settings over old credit.
        store.upsert_analysis(plan.eval_id, "credit", identity)

    todo = [s for s in samples if s["n_credited"] < s["n_rows"]]
    loss_config = settings.loss_config()
    scored_tokens = 0
    progress.start(plan.eval_id, len(samples), len(samples) - len(todo))
    try:
        for chunk in plan_chunks([s["n_rows"] for s in todo], WRITE_CHUNK_TOKENS):
            chunk_samples = [todo[i] for i in chunk]
            ids = token_columns(store, [s["sample_id"] for s in chunk_samples], ["token_id"])
            token_ids = _split_by_sample(ids)
            trajectories = [
                Trajectory(
                    sample_id=s["sample_id"],
                    prompt_ids=prompts[s["problem_id"]],
                    token_ids=token_ids[s["sample_id"]],
                    advantage=s["advantage"],
                )
                for s in chunk_samples
            ]
            lengths = [len(t.prompt_ids) + len(t.token_ids) for t in trajectories]
            credits: list[TrajectoryCredit] = []
            for batch in plan_batches(lengths, settings.batch_tokens):
                credits += score_pair(
                    policy,
                    ref,
                    [trajectories[i] for i in batch],
                    loss_config,
                    pad_id=pad_id,
                    chunk_tokens=settings.chunk_tokens,
                )
            store.update_token_credit(credit_table(credits))
            scored_tokens += sum(len(c.delta) for c in credits)
            progress.advance(len(chunk_samples))
    finally:
        progress.finish()
    return CreditResult(
        eval_id=plan.eval_id,
        num_samples=len(samples),
        scored_samples=len(todo),
        reused_samples=len(samples) - len(todo),
        scored_tokens=scored_tokens,
        cleared_samples=cleared,
        wall_s=time.perf_counter() - started,
    )


def _split_by_sample(tokens: pa.Table) -> dict[int, tuple[int, ...]]:
    """token_id per sample, in pos order (the query returns rows by (sample_id, pos))."""
    sids = tokens["sample_id"].to_numpy()
    values = tokens["token_id"].to_numpy()
    if len(sids) == 0:
        return {}
    starts = np.flatnonzero(np.r_[True, sids[1:] != sids[:-1]])
    ends = np.r_[starts[1:], len(sids)]
    return {
        int(sids[a]): tuple(int(v) for v in values[a:b]) for a, b in zip(starts, ends, strict=True)
    }
