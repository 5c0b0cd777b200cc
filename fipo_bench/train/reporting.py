"""Where step metrics go besides DuckDB: a rich progress bar, and TensorBoard or W&B on request.

The trackers are imported lazily (they are optional extras) and checked before the run starts,
so a missing package fails in validation, not after the first step.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from fipo_bench.errors import ConfigError

TRACKERS = ("tensorboard", "wandb")
_TRACKER_PACKAGE = {"tensorboard": "tensorboard", "wandb": "wandb"}


class Tracker(Protocol):
    def log(self, step: int, metrics: Mapping[str, float]) -> None: ...
    def close(self) -> None: ...


def check_trackers(names: Sequence[str]) -> tuple[str, ...]:
    """Validate --report-to values and that their packages import; returns them de-duplicated."""
    checked: list[str] = []
    for name in names:
        if name not in TRACKERS:
            raise ConfigError(f"--report-to {name!r} is unknown; allowed: {', '.join(TRACKERS)}")
        package = _TRACKER_PACKAGE[name]
        if importlib.util.find_spec(package) is None:
            raise ConfigError(
                f"--report-to {name} needs the {package!r} package, which is not installed "
                f"(pip install {package})"
            )
        if name not in checked:
            checked.append(name)
    return tuple(checked)


class TensorBoardTracker:
    def __init__(self, log_dir: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(log_dir=str(log_dir))

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        for name, value in metrics.items():
            self._writer.add_scalar(name, value, global_step=step)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


class WandbTracker:
    def __init__(self, run_id: str, out_dir: Path, config: Mapping[str, Any]) -> None:
        import wandb

        # id=run_id + resume="allow": a resumed training run continues the same W&B run.
        self._run = wandb.init(
            project="fipo-bench",
            id=run_id,
            name=run_id,
            dir=str(out_dir),
            config=dict(config),
            resume="allow",
        )

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        self._run.log(dict(metrics), step=step)

    def close(self) -> None:
        self._run.finish()


def open_trackers(
    names: Sequence[str], *, run_id: str, out_dir: Path, config: Mapping[str, Any]
) -> list[Tracker]:
    trackers: list[Tracker] = []
    for name in names:
        if name == "tensorboard":
            trackers.append(TensorBoardTracker(out_dir / "tensorboard"))
        elif name == "wandb":
            trackers.append(WandbTracker(run_id, out_dir, config))
    return trackers


class ConsoleProgress:
    """A progress bar whose line shows reward, accuracy, mean length and influence-weight mean."""

    def __init__(self, total_steps: int, first_step: int, *, console: Console | None = None):
        self._progress = Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[summary]}"),
            TimeElapsedColumn(),
            console=console or Console(stderr=True),
            transient=False,
        )
        self._task = self._progress.add_task(
            "train", total=total_steps, completed=first_step, summary=""
        )

    def __enter__(self) -> ConsoleProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def update(self, step: int, metrics: Mapping[str, float]) -> None:
        self._progress.update(self._task, completed=step, summary=summary_line(metrics))

    def notice(self, text: str) -> None:
        """A one-off message printed above the bar."""
        self._progress.console.print(f"[yellow]warning:[/] {text}", highlight=False)


def summary_line(metrics: Mapping[str, float]) -> str:
    parts = [
        ("reward", "reward/mean", "{:+.3f}"),
        ("acc", "acc/mean", "{:.3f}"),
        ("len", "response_length/mean", "{:.1f}"),
        ("f", "influence_weight/mean", "{:.4f}"),
    ]
    return "  ".join(
        f"{label} {fmt.format(metrics[name])}" for label, name, fmt in parts if name in metrics
    )
