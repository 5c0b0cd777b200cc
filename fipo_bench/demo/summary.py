"""The demo's closing table: each model against the base, with intervals, and what it shows.

Per model (its stored eval on the synthetic test split): avg@n with its standard error over
problems, the difference to the base with its paired bootstrap 95% interval
(`analysis.compare`), the reflection rate (`analysis.reflection`, the project's lexicon), the
mean response length and the share of each reasoning style. The headline says which trained
models beat the base (interval above 0) and how FIPO and DAPO compare.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from fipo_bench.analysis.compare import Comparison, compare_evals
from fipo_bench.analysis.reflection import eval_reflection
from fipo_bench.analysis.stats import Difference
from fipo_bench.models.traces import STYLES, response_style


@dataclass(frozen=True)
class ModelSummary:
    model: str
    eval_id: str
    n: int  # samples per problem
    num_problems: int
    avg: float  # avg@n
    se: float  # its standard error over problems
    vs_base: Difference | None  # avg@n minus the base's, paired interval (None for the base)
    reflection_rate: float
    mean_length: float  # tokens
    styles: dict[str, float]  # share of responses per style (and "other")

    def row(self) -> dict[str, str]:
        """The printed row: percentages in points."""
        d = self.vs_base
        return {
            "model": self.model,
            f"avg@{self.n}": f"{100 * self.avg:.1f} ± {100 * self.se:.1f}",
            "vs base": "" if d is None else f"{100 * d.delta:+.1f}",
            "95% CI": "" if d is None else f"[{100 * d.ci_low:+.1f}, {100 * d.ci_high:+.1f}]",
            "reflection": f"{100 * self.reflection_rate:.1f}%",
            "mean length": f"{self.mean_length:.1f}",
            "direct/steps/checked %": "/".join(f"{100 * self.styles[s]:.0f}" for s in STYLES),
        }


@dataclass(frozen=True)
class DemoSummary:
    models: list[ModelSummary]
    fipo_vs_dapo: Difference | None
    headline: str


def _avg(comparison: Comparison, eval_id: str) -> Difference:
    return next(d for d in comparison.differences[eval_id] if d.metric == "avg@k")


def summarize(store, eval_ids: Mapping[str, str], *, seed: int = 0) -> DemoSummary:
    """The summary of the demo's synthetic evals; `eval_ids` maps "base" first, then each
    algorithm, to its eval."""
    labels = list(eval_ids)
    comparison = compare_evals(store, [eval_ids[label] for label in labels], seed=seed)
    models = []
    for label, scored in zip(labels, comparison.evals, strict=True):
        samples = store.eval_samples(scored.eval_id).select(["text", "n_tokens"]).to_pydict()
        styles = [response_style(text) for text in samples["text"]]
        models.append(
            ModelSummary(
                model=label,
                eval_id=scored.eval_id,
                n=scored.stats.n,
                num_problems=scored.stats.num_problems,
                avg=scored.stats.avg.value,
                se=scored.stats.avg.se,
                vs_base=None if label == labels[0] else _avg(comparison, scored.eval_id),
                reflection_rate=eval_reflection(store, scored.eval_id).rate.value,
                mean_length=float(np.mean(samples["n_tokens"])),
                styles={s: styles.count(s) / len(styles) for s in (*STYLES, "other")},
            )
        )
    fipo_vs_dapo = None
    if "fipo" in eval_ids and "dapo" in eval_ids:
        pair = compare_evals(store, [eval_ids["dapo"], eval_ids["fipo"]], seed=seed)
        fipo_vs_dapo = _avg(pair, eval_ids["fipo"])
    return DemoSummary(models, fipo_vs_dapo, headline(models, fipo_vs_dapo))


def _points(d: Difference) -> str:
    return f"{100 * d.delta:+.1f} points, 95% CI [{100 * d.ci_low:+.1f}, {100 * d.ci_high:+.1f}]"


def headline(models: list[ModelSummary], fipo_vs_dapo: Difference | None) -> str:
    """One plain sentence: which trained models beat the base, and FIPO against DAPO."""
    trained = [m for m in models if m.vs_base is not None]
    better = [m.model.upper() for m in trained if m.vs_base.ci_low > 0]
    worse = [m.model.upper() for m in trained if m.vs_base.ci_high < 0]
    same = [m.model.upper() for m in trained if m.vs_base.ci_low <= 0 <= m.vs_base.ci_high]
    parts = []
    if better:
        gains = ", ".join(f"{100 * m.vs_base.delta:+.1f}" for m in trained if m.vs_base.ci_low > 0)
        subject = "all three" if len(better) == len(trained) == 3 else " and ".join(better)
        parts.append(f"{subject} beat the base ({gains} points avg@{trained[0].n})")
    if worse:
        parts.append(f"{' and '.join(worse)} fell below the base")
    if same:
        parts.append(f"{' and '.join(same)}: no significant difference from the base")
    if fipo_vs_dapo is not None:
        verdict = "significant" if fipo_vs_dapo.excludes_zero else "no significant difference"
        parts.append(f"FIPO vs DAPO: {verdict} ({_points(fipo_vs_dapo)})")
    return "; ".join(parts) + "."
