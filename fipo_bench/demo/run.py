"""The demo's stages. Each is resumable and is skipped when its result is already stored:
the model build reuses a matching build, training resumes from (or stops at) its latest
checkpoint, evals keep stored samples, credit keeps stored per-token values."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from fipo_bench.demo.plan import ALGOS, DemoPlan


@dataclass(frozen=True)
class StageOutcome:
    name: str
    reused: bool  # True when the stage found its result stored and did no work
    seconds: float
    detail: str


@dataclass(frozen=True)
class DemoResult:
    plan: DemoPlan
    stages: list[StageOutcome]
    eval_ids: dict[str, str]  # model label -> eval id (synthetic test split)
    aime_eval_ids: dict[str, str]  # model label -> eval id (aime24), when --aime-file
    run_ids: dict[str, str]  # algo -> training run id
    reports: list[Path]
    summary: list[dict[str, object]] = field(default_factory=list)


def _timed(stages: list[StageOutcome], name: str, work: Callable[[], tuple[bool, str]]) -> None:
    start = time.perf_counter()
    reused, detail = work()
    stages.append(StageOutcome(name, reused, time.perf_counter() - start, detail))


def build_base(plan: DemoPlan, console: Console) -> tuple[bool, str]:
    from fipo_bench.models.build import BuildSettings, build_tiny_model

    settings = BuildSettings(seed=plan.seed, eval_problems=plan.sizes.build_eval_problems)
    if plan.sizes.build_steps is not None:
        settings = settings.with_steps(plan.sizes.build_steps)
    with Progress(
        TextColumn("build tiny model: {task.fields[stage]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[loss]}"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("build", total=None, stage="", loss="")

        def on_progress(stage: str, done: int, total: int, loss: float | None) -> None:
            text = "" if loss is None else f"loss {loss:.3f}"
            bar.update(task, completed=done, total=total, stage=stage, loss=text)

        result = build_tiny_model(plan.base_model_dir, settings, on_progress=on_progress)
    accuracy = result.info.get("accuracy")
    acc_text = f", base accuracy {accuracy:.1%}" if isinstance(accuracy, float) else ""
    return result.reused, f"{plan.base_model_dir}{acc_text}"


def final_checkpoint(run_dir: Path) -> Path | None:
    from fipo_bench.train.checkpoint import latest_checkpoint

    latest = latest_checkpoint(run_dir)
    return None if latest is None else latest.path


def train_algo(plan: DemoPlan, algo: str) -> tuple[bool, str]:
    from fipo_bench.config import apply_overrides, get_preset
    from fipo_bench.train import TrainJob, train
    from fipo_bench.train.checkpoint import latest_checkpoint
    from fipo_bench.train.run_dir import RUN_FILE

    run_dir = plan.run_dir(algo)
    latest = latest_checkpoint(run_dir)
    if latest is not None and latest.step >= plan.sizes.train_steps:
        return True, f"step {latest.step} stored in {run_dir}"
    preset = f"tiny-{algo}"
    job = TrainJob(
        preset=preset,
        config=apply_overrides(
            get_preset(preset), [*plan.sizes.train_overrides, f"run.seed={plan.seed}"]
        ),
        model_dir=plan.base_model_dir,
        out_dir=run_dir,
        db_path=plan.db_path,
        steps=plan.sizes.train_steps,
        engine=plan.engine,
        resume=(run_dir / RUN_FILE).exists(),
    )
    result = train(job)
    acc = result.last_metrics.get("acc/mean")
    acc_text = "" if acc is None else f", last rollout acc {acc:.2f}"
    return False, f"steps {result.first_step}-{result.last_step}{acc_text}"


def evaluate(
    plan: DemoPlan, models: dict[str, Path], console: Console, *, aime: bool
) -> tuple[dict[str, str], bool, str]:
    from fipo_bench.eval import EvalSettings, plan_eval, run_eval
    from fipo_bench.eval.console import RichProgress

    s = plan.sizes
    if aime:
        # The paper's sampling (T=1.0, top-p 0.7) on real AIME 2024 problems: the tiny model
        # scores ~0 here; this shows the real benchmark pipeline end to end.
        settings = EvalSettings(
            dataset="aime24",
            data_file=str(plan.aime_file),
            n=s.aime_n,
            temperature=1.0,
            top_p=0.7,
            max_tokens=s.aime_max_tokens,
            engine=plan.engine,  # type: ignore[arg-type]
            limit=s.aime_problems,
            seed=plan.seed,
        )
    else:
        # Sample as the policy was trained (T=1.0, no top-p) on the disjoint test split.
        settings = EvalSettings(
            dataset="synthetic",
            n=s.eval_n,
            temperature=1.0,
            top_p=1.0,
            max_tokens=s.eval_max_tokens,
            engine=plan.engine,  # type: ignore[arg-type]
            limit=s.eval_problems,
            seed=plan.seed,
        )
    labels = list(models)
    job = plan_eval(settings, [str(models[label]) for label in labels], plan.db_path)
    with RichProgress(console) as progress:
        results = run_eval(job, progress=progress)
    eval_ids = {label: r.model.eval_id for label, r in zip(labels, results, strict=True)}
    generated = sum(r.generated_samples for r in results)
    detail = f"{len(job.problems)} problems x n={settings.n} x {len(labels)} models"
    return eval_ids, generated == 0, detail


def credit_and_pivots(plan: DemoPlan, eval_ids: dict[str, str], console: Console):
    from fipo_bench.analysis.credit import plan_credit, run_credit
    from fipo_bench.analysis.pivots import find_pivots
    from fipo_bench.analysis.settings import CreditSettings
    from fipo_bench.eval.console import RichProgress
    from fipo_bench.store import Store

    fipo_eval = eval_ids["fipo"]
    # The loss config the FIPO run trained with, so the credit reads like its objective did.
    settings = CreditSettings(ref_model=str(plan.base_model_dir), loss=_fipo_run_loss(plan))
    with RichProgress(console) as progress:
        result = run_credit(plan_credit(plan.db_path, fipo_eval, settings), progress=progress)
    store = Store(plan.db_path)
    summary = find_pivots(store, fipo_eval)  # keyword, credit and entropy pivots
    for label, eval_id in eval_ids.items():
        if label != "fipo":
            find_pivots(store, eval_id, kinds=("keyword",))  # reflections need no credit
    detail = (
        f"fipo vs base: {result.scored_tokens} tokens scored, {result.reused_samples} samples"
        f" reused; reflection rate {summary.reflection_rate:.1%}"
    )
    return result.scored_samples == 0, detail


def _fipo_run_loss(plan: DemoPlan):
    from fipo_bench.analysis.credit import loss_config_of_run
    from fipo_bench.train.run_dir import run_id_for

    return loss_config_of_run(plan.db_path, run_id_for(plan.run_dir("fipo")))


def write_reports(plan: DemoPlan, eval_ids: list[str], run_ids: list[str]) -> list[Path]:
    from fipo_bench.analysis.report_render import write_report
    from fipo_bench.analysis.reports import build_report
    from fipo_bench.store import Store

    report = build_report(Store(plan.db_path, read_only=True), eval_ids, run_ids)
    return [
        write_report(report, fmt, plan.report_stem.with_suffix(f".{fmt}")) for fmt in ("html", "md")
    ]


def summary_rows(plan: DemoPlan, eval_ids: dict[str, str]) -> list[dict[str, object]]:
    from fipo_bench.eval.stored import stored_eval_metrics
    from fipo_bench.store import Store

    store = Store(plan.db_path, read_only=True)
    rows = []
    for label, eval_id in eval_ids.items():
        m = stored_eval_metrics(store, eval_id)
        rows.append(
            {
                "model": label,
                "eval_id": eval_id,
                f"avg@{m.n}": m.avg_at_n,
                f"cons@{m.n}": m.cons_at_n,
                f"pass@{max(m.pass_at_k)}": m.pass_at_k[max(m.pass_at_k)],
                "mean length": m.response_length["mean"],
            }
        )
    return rows


def run_demo(plan: DemoPlan, console: Console) -> DemoResult:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # rich bars only: no "Writing model shards" lines
    stages: list[StageOutcome] = []
    plan.workdir.mkdir(parents=True, exist_ok=True)
    console.rule("1/5 tiny base model")
    _timed(stages, "build tiny model", lambda: build_base(plan, console))

    console.rule(f"2/5 train {', '.join(ALGOS)} ({plan.sizes.train_steps} steps each)")
    for algo in ALGOS:
        _timed(stages, f"train tiny-{algo}", lambda algo=algo: train_algo(plan, algo))
    from fipo_bench.train.run_dir import run_id_for

    run_ids = {algo: run_id_for(plan.run_dir(algo)) for algo in ALGOS}
    models: dict[str, Path] = {"base": plan.base_model_dir}
    for algo in ALGOS:
        checkpoint = final_checkpoint(plan.run_dir(algo))
        assert checkpoint is not None, f"training {algo} left no checkpoint"
        models[algo] = checkpoint

    console.rule("3/5 evaluate base and final checkpoints side by side")
    eval_ids: dict[str, str] = {}
    aime_eval_ids: dict[str, str] = {}

    def synthetic_stage() -> tuple[bool, str]:
        ids, reused, detail = evaluate(plan, models, console, aime=False)
        eval_ids.update(ids)
        return reused, detail

    _timed(stages, "eval synthetic test split", synthetic_stage)
    if plan.aime_file is not None:

        def aime_stage() -> tuple[bool, str]:
            ids, reused, detail = evaluate(plan, models, console, aime=True)
            aime_eval_ids.update(ids)
            return reused, detail

        _timed(stages, "eval aime24", aime_stage)

    console.rule("4/5 Future-KL credit of the FIPO checkpoint against the base, pivots")
    _timed(stages, "credit + pivots", lambda: credit_and_pivots(plan, eval_ids, console))

    console.rule("5/5 quartile report")
    reports: list[Path] = []

    def report_stage() -> tuple[bool, str]:
        all_evals = [*eval_ids.values(), *aime_eval_ids.values()]
        reports.extend(write_reports(plan, all_evals, list(run_ids.values())))
        return False, ", ".join(str(p) for p in reports)

    _timed(stages, "report", report_stage)
    return DemoResult(
        plan=plan,
        stages=stages,
        eval_ids=eval_ids,
        aime_eval_ids=aime_eval_ids,
        run_ids=run_ids,
        reports=reports,
        summary=summary_rows(plan, eval_ids),
    )
