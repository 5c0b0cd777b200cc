"""Every number of a report: evals side by side, their differences, training runs over steps.

Per eval (one column each, headed by the run/checkpoint it evaluated, e.g. `tiny-fipo@12`):
avg@k and cons@k with standard errors over problems, pass@k, response length min / q25 /
mean / median / q75 / max (the paper's Figure 3), accuracy per length quartile
(`algos.lengths`: ties split fractionally), the accuracy-length fit per sample and, separately
named, per problem (`analysis.length_accuracy`: w per 1k tokens with its 95% interval, R^2,
Pearson r), reflection (`analysis.reflection`: rate, accuracy of reflective and direct
responses, reflections per 1k tokens, each with a 95% interval), and, when credit is stored,
the mean influence weight and the share of tokens at its clip bounds.
Between evals: every eval against the first on the same problems (`analysis.compare`: paired
bootstrap intervals, permutation p-values, wins/ties/losses); evals on other problems are
listed as not compared. Per training run: response_length/* per step, and per stage of steps
the accuracy-length fit over its checkpoints' evals (Figure 3(f)).
An eval that is running, was killed or failed is reported with its stored samples and a note
that its numbers are partial.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from fipo_bench.algos.lengths import LENGTH_STATS, length_stats
from fipo_bench.analysis.compare import Comparison, ScoredEval, compare_scored, score
from fipo_bench.analysis.evals import load_evals
from fipo_bench.analysis.length_accuracy import (
    LengthFit,
    Stage,
    StageFit,
    problem_length_fit,
    sample_length_fit,
    stage_fits,
)
from fipo_bench.analysis.reflection import ReflectionStats, eval_reflection
from fipo_bench.analysis.run_curves import RunInfo, checkpoint_points, run_infos
from fipo_bench.analysis.series_style import GREYS, series_colours
from fipo_bench.analysis.stats import DEFAULT_RESAMPLES, comparison_ks
from fipo_bench.errors import DataError

# Weights within this of a bound count as clipped (as algos.losses' clip_frac metrics).
EDGE_TOL = 1e-6
RUN_LENGTH_NAMES = tuple(f"response_length/{s}" for s in LENGTH_STATS)


@dataclass(frozen=True)
class EvalDetail:
    """What a report knows about one eval beyond its table column (the figures draw these)."""

    scored: ScoredEval
    per_sample_fit: LengthFit
    per_problem_fit: LengthFit
    reflection: ReflectionStats


@dataclass(frozen=True)
class Report:
    evals: pd.DataFrame  # rows: metric names; columns: eval labels (side by side)
    details: tuple[EvalDetail, ...]  # one per column, in column order
    comparison: Comparison | None  # every eval on the baseline's problems against it
    runs: pd.DataFrame  # long: run, run_id, step, stat, value (response_length/<stat>)
    run_infos: tuple[RunInfo, ...] = ()
    stage_fits: tuple[StageFit, ...] = ()
    notes: tuple[str, ...] = field(default=())  # partial evals, evals not compared
    colours: dict[str, str] = field(default_factory=dict)  # label -> '#rrggbb'

    def colour(self, label: str) -> str:
        """The dashboard's colour of an eval or run label (series_style), grey if unknown."""
        return self.colours.get(label, GREYS[0])

    @property
    def eval_ids(self) -> dict[str, str]:
        """Column label -> eval id."""
        return {d.scored.label: d.scored.eval_id for d in self.details}


def _ci(prefix: str, low: float, high: float) -> dict[str, float]:
    return {f"{prefix} ci_low": low, f"{prefix} ci_high": high}


def _fit_rows(fit: LengthFit) -> dict[str, float]:
    return {
        fit.name: fit.slope_per_1k,
        **_ci(fit.name, fit.slope_ci_low, fit.slope_ci_high),
        f"R^2 ({fit.basis})": fit.fit.r_squared,
        f"Pearson r ({fit.basis})": fit.fit.pearson_r,
    }


def _column(store, detail: EvalDetail) -> dict[str, float | str]:
    """Every report number of one eval (keys are the report's row names)."""
    from fipo_bench.algos.lengths import accuracy_by_length_quartile
    from fipo_bench.store.analysis_queries import influence_weight_summary

    e, s = detail.scored, detail.scored.stats
    outcomes = e.stored.outcomes
    col: dict[str, float | str] = {
        "eval id": e.eval_id,
        "dataset": e.stored.dataset,
        "status": e.stored.status + (" (partial)" if e.stored.partial else ""),
        "problems": s.num_problems,
        "samples": s.num_samples,
        "k (samples per problem)": s.n,
        "avg@k": s.avg.value,
        "avg@k SE": s.avg.se,
        "cons@k": s.cons.value,
        "cons@k SE": s.cons.se,
    }
    col.update({f"pass@{k}": s.pass_at(k).value for k in comparison_ks(s.n)})
    lengths = [o.n_tokens for o in outcomes]
    col.update({f"response length {k}": v for k, v in length_stats(lengths).items()})
    for q in accuracy_by_length_quartile(lengths, [float(o.correct) for o in outcomes]):
        col[f"accuracy length quartile {q.quartile}"] = q.accuracy
        col[f"length quartile {q.quartile} tokens"] = f"{q.min_tokens}-{q.max_tokens}"
    col.update(_fit_rows(detail.per_sample_fit))
    col.update(_fit_rows(detail.per_problem_fit))
    r = detail.reflection
    for name, ratio in (
        ("reflection rate", r.rate),
        ("accuracy reflective", r.accuracy_reflective),
        ("accuracy direct", r.accuracy_direct),
        ("reflections per 1k tokens", r.per_1k_tokens),
    ):
        col[name] = ratio.value
        col.update(_ci(name, ratio.ci_low, ratio.ci_high))
    record = store.get_analysis(e.eval_id, "credit")
    if record:
        credit = record["settings"]
        summary = influence_weight_summary(
            store, e.eval_id, low=credit["influence_low"], high=credit["influence_high"],
            tol=EDGE_TOL,
        )  # fmt: skip
        col["influence weight mean"] = _num(summary["mean_weight"])
        col["influence weight share at upper bound"] = _num(summary["share_upper"])
        col["influence weight share at lower bound"] = _num(summary["share_lower"])
        col["credited tokens"] = summary["n_tokens"]
    return col


def _num(value: object) -> float:
    return math.nan if value is None else float(value)  # type: ignore[arg-type]


def _compare(
    scored: list[ScoredEval], resamples: int, seed: int
) -> tuple[Comparison | None, list[str]]:
    """Every eval on the baseline's problems against the first; the others get a note."""
    if len(scored) < 2:
        return None, []
    base, notes, paired = scored[0], [], [scored[0]]
    for other in scored[1:]:
        if other.scores.problem_ids == base.scores.problem_ids:
            paired.append(other)
        else:
            notes.append(
                f"{other.label} is not compared with {base.label}: they are not on the same"
                " problems (see `fipo-bench compare` for which are missing)"
            )
    if len(paired) < 2:
        return None, notes
    return compare_scored(paired, resamples=resamples, seed=seed), notes


def _run_lengths(store, runs: Sequence[RunInfo]) -> pd.DataFrame:
    frames = []
    for run in runs:
        frame = store.train_metrics(run.run_id, list(RUN_LENGTH_NAMES)).to_pandas()
        frame["stat"] = frame.pop("name").str.removeprefix("response_length/")
        frames.append(frame.assign(run=run.label, run_id=run.run_id))
    columns = ["run", "run_id", "step", "stat", "value"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


def _stage_fits(store, runs: Sequence[RunInfo], stages: Sequence[Stage]) -> list[StageFit]:
    out: list[StageFit] = []
    for run in runs:
        points = checkpoint_points(store, run)
        for dataset in sorted({p.dataset for p in points}):
            inside = [p for p in points if p.dataset == dataset]
            out.extend(stage_fits(inside, stages, run_label=run.label, dataset=dataset))
    return out


def _colours(store, details: Sequence[EvalDetail], runs: Sequence[RunInfo]) -> dict[str, str]:
    """Colours from every run and eval of the database, so that a report colours a run and
    its checkpoints exactly as every dashboard page does, whatever the selection."""
    from fipo_bench.store.analysis_queries import eval_rows

    every_eval = eval_rows(store, store.list_evals()["eval_id"].to_pylist()).to_pylist()
    colours = series_colours(store.list_runs()["run_id"].to_pylist(), every_eval)
    return {
        **{d.scored.label: colours.eval(d.scored.eval_id) for d in details},
        **{r.label: colours.run(r.run_id) for r in runs},
    }


def build_report(
    store,
    eval_ids: Sequence[str],
    run_ids: Sequence[str] = (),
    *,
    stages: Sequence[Stage] = (),
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Report:
    """Every number of the report, read through `store` (read-only is enough)."""
    runs = run_infos(store, run_ids)  # unknown run ids fail before any eval work
    if stages and not runs:
        raise DataError("--stages needs one or more --run RUN_ID whose checkpoints were evaluated")
    details = []
    for stored in load_evals(store, eval_ids):
        scored = score(stored)
        details.append(
            EvalDetail(
                scored=scored,
                per_sample_fit=sample_length_fit(stored.outcomes, seed=seed),
                per_problem_fit=problem_length_fit(stored.outcomes, seed=seed),
                reflection=eval_reflection(store, stored.eval_id, seed=seed),
            )
        )
    evals = pd.DataFrame({d.scored.label: _column(store, d) for d in details})
    comparison, notes = _compare([d.scored for d in details], resamples, seed)
    partial = [d.scored.stored.partial_note for d in details if d.scored.stored.partial]
    if comparison is not None:  # its other caveats (sample counts that differ)
        notes += [n for n in comparison.notes if n not in partial]
    return Report(
        evals=evals,
        details=tuple(details),
        comparison=comparison,
        runs=_run_lengths(store, runs),
        run_infos=tuple(runs),
        stage_fits=tuple(_stage_fits(store, runs, stages)) if stages else (),
        notes=tuple(partial + notes),
        colours=_colours(store, details, runs),
    )
