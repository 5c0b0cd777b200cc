"""The import command's progress bar (samples stored / total, ETA)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from fipo_bench.importers.writer import ProgressSink


class RichImportProgress(ProgressSink):
    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("samples ETA"),
            TimeRemainingColumn(),
            console=console,
        )
        self._task = None

    def __enter__(self) -> RichImportProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress.live.is_started:
            self._progress.stop()

    def start(self, label: str, total: int) -> None:
        if total and not self._progress.live.is_started:
            self._progress.start()
        self._task = self._progress.add_task(label, total=total)

    def advance(self, samples: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, samples)

    def finish(self) -> None:
        self._task = None
