"""A `Comparison` as rich tables (the terminal), JSON (one list of records) or CSV.

Accuracies show in percent and differences in percentage points; a difference whose 95%
interval excludes 0 is marked with `*` (and bold in a terminal).
"""

from __future__ import annotations

import io
import json
import math

from rich import box
from rich.table import Table

from fipo_bench.analysis.compare import RECORD_KEYS, Comparison
from fipo_bench.analysis.stats import Difference, Estimate

COMPARE_FORMATS = ("table", "json", "csv")
SIGNIFICANT_MARK = "*"
MAX_LABEL_WIDTH = 28  # longer run names fold onto a second line


def _pct(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{100 * value:.1f}"


def _pp(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{100 * value:+.1f}"


def _with_se(est: Estimate) -> str:
    if not math.isfinite(est.se):
        return _pct(est.value)
    return f"{_pct(est.value)} ± {100 * est.se:.1f}"


def _p(value: float) -> str:
    if not math.isfinite(value):
        return "–"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def metric_name(d: Difference) -> str:
    """avg@32, cons@32, pass@4: the metric with its k, as the tables print it."""
    return d.metric.replace("@k", f"@{d.k}")


def _columns(
    table: Table, text: tuple[str, ...], numbers: tuple[str, ...], label_width: int
) -> None:
    """Long labels fold onto a second line; numbers never wrap (a split interval misreads)."""
    for i, name in enumerate(text):
        table.add_column(
            name, overflow="fold", no_wrap=i > 0, min_width=label_width if i == 0 else None
        )
    for name in numbers:
        table.add_column(name, justify="right", no_wrap=True)


def _label_width(comparison: Comparison) -> int:
    return min(MAX_LABEL_WIDTH, max(len(e.label) for e in comparison.evals))


def evals_table(comparison: Comparison) -> Table:
    """One row per eval: label, id, problems x n, avg@n / cons@n / pass@n with SE; an eval
    still running, killed or failed says "(partial)" after its label."""
    table = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
        title="Evals (accuracy %, ± one standard error over problems)",
    )
    _columns(
        table,
        ("eval", "eval_id"),
        ("P x n", "avg@n", "cons@n", "pass@n"),
        _label_width(comparison) + len(" (baseline)"),
    )
    for e in comparison.evals:
        s = e.stats
        role = " (baseline)" if e is comparison.baseline else ""
        table.add_row(
            e.label + role + (" (partial)" if e.stored.partial else ""),
            e.eval_id,
            f"{s.num_problems} x {s.n}",
            _with_se(s.avg),
            _with_se(s.cons),
            _with_se(s.pass_at(s.n)),
        )
    return table


def differences_table(comparison: Comparison) -> Table:
    """eval - baseline per metric with the paired 95% interval, p-value and W/T/L."""
    base = comparison.baseline
    table = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
        title=f"Differences against {base.label} (percentage points)",
        caption=(
            f"{SIGNIFICANT_MARK} the {comparison.confidence:.0%} interval excludes 0. Interval:"
            f" paired bootstrap over problems (BCa, {comparison.resamples} resamples, seed"
            f" {comparison.seed}); p: paired permutation test; W/T/L: problems where the eval"
            " is ahead / level / behind."
        ),
    )
    _columns(
        table,
        ("eval", "metric"),
        ("baseline→eval", "delta", "95% CI", "p", "W/T/L"),
        _label_width(comparison),
    )
    for other in comparison.others:
        for d in comparison.differences[other.eval_id]:
            mark = SIGNIFICANT_MARK if d.excludes_zero else " "
            table.add_row(
                other.label,
                metric_name(d),
                f"{_pct(d.baseline_value)}→{_pct(d.eval_value)}",
                f"{_pp(d.delta)}{mark}",
                f"[{_pp(d.ci_low)}, {_pp(d.ci_high)}]",
                _p(d.p_value),
                f"{d.wins}/{d.ties}/{d.losses}",
                style="bold" if d.excludes_zero else None,
            )
        table.add_section()
    return table


def render_json(comparison: Comparison) -> str:
    return json.dumps(comparison.records(), indent=2) + "\n"


def render_csv(comparison: Comparison) -> str:
    import csv

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(RECORD_KEYS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(comparison.records())
    return buffer.getvalue()
