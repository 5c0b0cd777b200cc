"""What the eval command shows: a rich progress bar (samples done / total, ETA), the metrics
table, one column per model so checkpoints read side by side, and with several models the
difference of every model from the first with its 95% interval (fipo_bench.analysis.compare,
the numbers `fipo-bench compare` prints)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from fipo_bench.eval.runner import ModelResult, ProgressSink


class RichProgress(ProgressSink):
    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("samples"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task = None

    def __enter__(self) -> RichProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress.live.is_started:
            self._progress.stop()

    def start(self, label: str, total: int, done: int) -> None:
        """One bar per model; bars of finished models stay on screen."""
        if not self._progress.live.is_started:
            self._progress.start()
        self._task = self._progress.add_task(label, total=total, completed=done)

    def advance(self, samples: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, samples)

    def finish(self) -> None:
        self._task = None


def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def metrics_table(results: Sequence[ModelResult], *, title: str) -> Table:
    """Rows are metrics, columns models; accuracies in percent, lengths in tokens."""
    table = Table(title=title, show_lines=False)
    table.add_column("metric")
    for result in results:
        table.add_column(result.model.ref.label, justify="right", overflow="fold")
    first = results[0].metrics
    n = first.n
    rows: list[tuple[str, list[str]]] = [
        (f"avg@{n} (%)", [_pct(r.metrics.avg_at_n) for r in results]),
        (f"cons@{n} (%)", [_pct(r.metrics.cons_at_n) for r in results]),
    ]
    for k in first.pass_at_k:
        rows.append((f"pass@{k} (%)", [_pct(r.metrics.pass_at_k.get(k, 0.0)) for r in results]))
    for stat in ("min", "q25", "mean", "median", "q75", "max"):
        rows.append(
            (
                f"response_length/{stat}",
                [f"{r.metrics.response_length[stat]:.0f}" for r in results],
            )
        )
    for q in range(1, 5):
        cells = []
        for r in results:
            match = [x for x in r.metrics.accuracy_by_length_quartile if x.quartile == q]
            cells.append(
                f"{_pct(match[0].accuracy)} ({match[0].min_tokens}-{match[0].max_tokens})"
                if match
                else "-"
            )
        rows.append((f"acc by length Q{q} (%)", cells))
    rows.append(
        ("problems x samples", [f"{r.metrics.num_problems} x {r.metrics.n}" for r in results])
    )
    rows.append(("eval_id", [r.model.eval_id for r in results]))
    for name, cells in rows:
        table.add_row(name, *cells)
    return table


def differences_tables(
    db_path: Path,
    results: Sequence[ModelResult],
    *,
    resamples: int | None = None,
    seed: int = 0,
) -> list[Table]:
    """With two or more models: each model against the first (paired bootstrap interval,
    permutation p-value, wins/ties/losses over the problems), read back from the store. All
    models of one eval command answer the same problems, so they always pair. resamples:
    default that of `fipo-bench compare` (analysis.stats.DEFAULT_RESAMPLES)."""
    from fipo_bench.analysis.compare import compare_evals
    from fipo_bench.analysis.compare_render import differences_table
    from fipo_bench.analysis.stats import DEFAULT_RESAMPLES
    from fipo_bench.store import Store

    eval_ids = list(dict.fromkeys(r.model.eval_id for r in results))
    if len(eval_ids) < 2:
        return []
    store = Store(db_path, read_only=True)
    with store.reading():
        comparison = compare_evals(
            store,
            eval_ids,
            resamples=DEFAULT_RESAMPLES if resamples is None else resamples,
            seed=seed,
        )
    return [differences_table(comparison)]
