"""The dashboard tests' database, built with the real pipeline on the embedded tiny model.

    base checkpoint (step 0) --warm-up on the synthetic task--> checkpoint (step 4)
    evaluator (hf engine): one eval per checkpoint, a few synthetic problems, n samples each
    analysis (fipo_bench.analysis): credit of the step-4 eval against the base and of the base
        against itself (plan_credit/run_credit), then find_pivots of both evals
    training rollouts of two runs with per-token credit and per-step metrics

Nothing is typed in by hand: every sample, token and number comes from the model, the
verifier, `fipo_bench.algos` and `fipo_bench.analysis`, written through
`fipo_bench.store.Store`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

RUN_ID = "fixture-fipo"
OTHER_RUN_ID = "fixture-dapo"
HALF_LIFE = 32.0
INFLUENCE_LOW, INFLUENCE_HIGH, DUAL_CLIP_C = 0.8, 1.2, 10.0


@dataclass(frozen=True)
class DashboardDb:
    path: Path
    base_dir: Path
    ckpt_dir: Path
    eval_ids: tuple[str, str]  # (base, checkpoint)
    credited_eval: str  # the eval whose tokens carry credit and pivots
    run_ids: tuple[str, str]


def _load(model_dir: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="float32")
    return model.eval(), AutoTokenizer.from_pretrained(model_dir)


def warm_checkpoint(base_dir: Path, out_dir: Path, *, steps: int = 80) -> Path:
    """A 'trained' checkpoint: the base after a few real warm-up steps on the synthetic task."""
    from fipo_bench.models.warmup import WarmupConfig, warmup

    model, tokenizer = _load(base_dir)
    warmup(model, tokenizer, WarmupConfig(steps=steps, batch_size=8, warmup_steps=5), seed=0)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def _score(model, sequences: list[list[int]], pad_id: int):
    """Teacher-forced (logp, entropy) [B, L-1] of right-padded sequences."""
    import torch

    from fipo_bench.engines.scoring import score_tokens

    length = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), length), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
    with torch.no_grad():
        logp, entropy = score_tokens(model, ids, mask)
    return logp, entropy


def token_credit(policy, ref, prompts: list[list[int]], responses: list[list[int]], pad_id: int):
    """Per response token: logp, ref_logp, delta, future_kl, influence_weight, entropy.

    The policy plays the updated model and `ref` the old one, exactly as the loss sees them
    (DESIGN.md, "The objective"); lists of numpy arrays, one per response.
    """
    import torch

    from fipo_bench.algos.future_kl import future_kl, influence_weights

    sequences = [p + r for p, r in zip(prompts, responses, strict=True)]
    logp, entropy = _score(policy, sequences, pad_id)
    ref_logp, _ = _score(ref, sequences, pad_id)
    mask = torch.zeros_like(logp)
    for row, (p, r) in enumerate(zip(prompts, responses, strict=True)):
        mask[row, len(p) - 1 : len(p) - 1 + len(r)] = 1.0
    delta = (logp - ref_logp).clamp(-20.0, 20.0) * mask
    outlier = (torch.exp(delta) <= DUAL_CLIP_C).float()
    fkl = future_kl(delta, mask * outlier, HALF_LIFE)
    _, weight = influence_weights(
        fkl, torch.ones_like(fkl), torch.exp(delta), INFLUENCE_LOW, INFLUENCE_HIGH, DUAL_CLIP_C
    )
    out = []
    for row, (p, r) in enumerate(zip(prompts, responses, strict=True)):
        cols = slice(len(p) - 1, len(p) - 1 + len(r))
        out.append(
            {
                "logp": logp[row, cols].numpy(),
                "ref_logp": ref_logp[row, cols].numpy(),
                "delta": delta[row, cols].numpy(),
                "future_kl": fkl[row, cols].float().numpy(),
                "influence_weight": weight[row, cols].float().numpy(),
                "entropy": entropy[row, cols].numpy(),
            }
        )
    return out


def add_analysis(db: Path, eval_id: str, ref_dir: Path) -> None:
    """Credit of every stored trajectory of `eval_id` against `ref_dir`, then its pivots of all
    three kinds: the analysis API that `fipo-bench credit` calls, settings kept in `analyses`."""
    from fipo_bench.algos import LossConfig
    from fipo_bench.analysis.credit import plan_credit, run_credit
    from fipo_bench.analysis.pivots import find_pivots
    from fipo_bench.analysis.settings import CreditSettings
    from fipo_bench.store import Store

    loss = LossConfig(
        mode="fipo",
        half_life=HALF_LIFE,
        influence_low=INFLUENCE_LOW,
        influence_high=INFLUENCE_HIGH,
        dual_clip_c=DUAL_CLIP_C,
    )
    settings = CreditSettings(ref_model=str(ref_dir), loss=loss)
    run_credit(plan_credit(db, eval_id, settings))
    find_pivots(Store(db), eval_id)


def add_training_run(store, run_id: str, policy_dir: Path, ref_dir: Path, steps: int) -> None:
    """Real rollouts of the policy on synthetic training problems, their credit and metrics."""
    import torch

    from fipo_bench.algos.advantages import group_advantages_2d
    from fipo_bench.engines import SamplingSettings, make_engine
    from fipo_bench.tasks import synthetic
    from fipo_bench.train.credit_rows import LoggedCredit, credit_tables
    from fipo_bench.train.metrics import rollout_stats
    from fipo_bench.train.rollout_batch import Rollout
    from fipo_bench.verify import check_many

    policy, tokenizer = _load(policy_dir)
    ref, _ = _load(ref_dir)
    engine = make_engine("hf", policy_dir)
    problems = synthetic.load_problems("train", n=2 * steps, seed=1)
    n = 2
    try:
        for step in range(1, steps + 1):
            batch = problems[2 * (step - 1) : 2 * step]
            prompts = [p.problem + "\n" for p in batch]
            records = engine.generate(
                prompts, SamplingSettings(n=n, max_tokens=32, temperature=1.0, seed=step)
            )
            results = check_many([(batch[r.prompt_index].answer, r.text) for r in records])
            rewards = torch.tensor([1.0 if v.correct else -1.0 for v in results])
            adv = group_advantages_2d(rewards.view(len(batch), n)).flatten()
            rollouts = [
                Rollout(
                    batch[r.prompt_index],
                    r.prompt_index,
                    r,
                    v.correct,
                    v.extracted,
                    v.status,
                    float(rw),
                    float(a),
                )
                for r, v, rw, a in zip(records, results, rewards, adv, strict=True)
            ]
            credit = token_credit(
                policy,
                ref,
                [r.prompt_token_ids for r in records],
                [r.token_ids for r in records],
                tokenizer.pad_token_id,
            )
            width = max(len(r.token_ids) for r in records)

            def padded(name: str, credit=credit, width=width) -> torch.Tensor:
                out = torch.zeros(len(credit), width)
                for row, values in enumerate(credit):
                    out[row, : len(values[name])] = torch.from_numpy(values[name])
                return out

            mask = torch.zeros(len(records), width)
            for row, r in enumerate(records):
                mask[row, : len(r.token_ids)] = 1.0
            engine_logp = torch.zeros(len(records), width)
            for row, r in enumerate(records):
                engine_logp[row, : len(r.logprobs)] = torch.tensor(r.logprobs)
            logged = LoggedCredit(
                logp=engine_logp,
                delta=padded("delta"),
                future_kl=padded("future_kl"),
                influence_weight=padded("influence_weight"),
                entropy=padded("entropy"),
                response_mask=mask,
            )
            samples, tokens = credit_tables(run_id, step, rollouts, logged)
            store.write_samples(samples, tokens)
            on = mask.bool()
            metrics = rollout_stats(
                rewards.tolist(),
                [v.correct for v in results],
                [r.text for r in records],
                [len(r.token_ids) for r in records],
            )
            metrics.update(
                {
                    "future_kl/mean": float(logged.future_kl[on].mean()),
                    "future_kl/min": float(logged.future_kl[on].min()),
                    "future_kl/max": float(logged.future_kl[on].max()),
                    "influence_weight/mean": float(logged.influence_weight[on].mean()),
                    "entropy": float(logged.entropy[on].mean()),
                    "policy_kl": float(-logged.delta[on].mean()),
                }
            )
            store.write_train_metrics(run_id, step, metrics)
    finally:
        engine.close()


def build_dashboard_db(root: Path, base_dir: Path, *, n: int = 3, limit: int = 4) -> DashboardDb:
    """The whole fixture database under `root` (base_dir: a tiny model checkpoint folder)."""
    import torch

    from fipo_bench.eval.plan import plan_eval
    from fipo_bench.eval.runner import run_eval
    from fipo_bench.eval.settings import EvalSettings
    from fipo_bench.store import Store

    torch.set_num_threads(1)
    ckpt_dir = warm_checkpoint(base_dir, root / "ckpt-4")
    db = root / "dashboard.duckdb"
    store = Store(db)
    for run_id, algo in ((RUN_ID, "fipo"), (OTHER_RUN_ID, "dapo")):
        store.upsert_run(
            run_id,
            kind="train",
            name=run_id,
            algo=algo,
            preset=f"tiny-{algo}",
            config={"half_life": HALF_LIFE},
            model_path=str(base_dir),
        )
        store.add_checkpoint(run_id, 0, base_dir)
    store.add_checkpoint(RUN_ID, 4, ckpt_dir)

    settings = EvalSettings(
        dataset="synthetic",
        n=n,
        temperature=1.0,
        top_p=1.0,
        max_tokens=64,
        engine="hf",
        limit=limit,
    )
    job = plan_eval(settings, [f"{RUN_ID}:0", f"{RUN_ID}:4"], db)
    run_eval(job)
    eval_ids = tuple(m.eval_id for m in job.models)

    add_analysis(db, eval_ids[1], base_dir)
    # The base against itself (what `fipo-bench credit --eval BASE --ref BASE` gives): delta 0,
    # influence 1, but real entropies; its pivots are keyword and entropy ones.
    add_analysis(db, eval_ids[0], base_dir)
    add_training_run(store, RUN_ID, ckpt_dir, base_dir, steps=2)
    add_training_run(store, OTHER_RUN_ID, base_dir, base_dir, steps=2)
    return DashboardDb(
        db, base_dir, ckpt_dir, (eval_ids[0], eval_ids[1]), eval_ids[1], (RUN_ID, OTHER_RUN_ID)
    )


def _source_key(base_dir: Path) -> str:
    """Changes when this builder, the evaluator, the store or the base weights change."""
    import hashlib

    import fipo_bench
    from fipo_bench.eval.fingerprint import model_dir_fingerprint

    package = Path(fipo_bench.__file__).parent
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for folder in ("eval", "store", "algos", "engines", "analysis"):
        for source in sorted((package / folder).glob("*.py")):
            digest.update(source.read_bytes())
    digest.update(model_dir_fingerprint(base_dir).encode())
    return digest.hexdigest()[:16]


def cached_dashboard_db(request, tmp_path_factory) -> DashboardDb:
    """The fixture database, reused across pytest runs through pytest's cache folder.

    The base model is conftest's `tiny_model_dir` (the warmed-up embedded model). A finished
    build leaves a marker file; an interrupted one is rebuilt from scratch.
    """
    base_dir = Path(request.getfixturevalue("tiny_model_dir"))
    root = Path(request.config.cache.mkdir(f"dashboard-db-{_source_key(base_dir)}"))
    marker = root / "built.json"
    if marker.exists():
        import json

        saved = json.loads(marker.read_text())
        return DashboardDb(
            Path(saved["path"]), Path(saved["base_dir"]), Path(saved["ckpt_dir"]),
            tuple(saved["eval_ids"]), saved["credited_eval"], tuple(saved["run_ids"]),
        )  # fmt: skip
    import json
    import shutil

    for child in root.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    # The base may live in a temporary folder: keep a copy beside the database that names it.
    shutil.copytree(base_dir, root / "base")
    built = build_dashboard_db(root, root / "base")
    marker.write_text(
        json.dumps(
            {
                "path": str(built.path),
                "base_dir": str(built.base_dir),
                "ckpt_dir": str(built.ckpt_dir),
                "eval_ids": list(built.eval_ids),
                "credited_eval": built.credited_eval,
                "run_ids": list(built.run_ids),
            }
        )
    )
    return built
