"""What `fipo-bench train` was asked to do, validated before anything is written."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fipo_bench.config import TrainConfig
from fipo_bench.errors import ConfigError

ENGINES = ("hf", "vllm")


@dataclass(frozen=True)
class TrainJob:
    preset: str  # the preset's name (recorded; `config` already holds its values + overrides)
    config: TrainConfig  # preset values with --set overrides applied (validated)
    model_dir: Path
    out_dir: Path
    db_path: Path
    steps: int  # train until this many steps are done (a resumed run continues to it)
    engine: str = "hf"
    resume: bool = False
    report_to: tuple[str, ...] = field(default_factory=tuple)
    show_progress: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ConfigError(f"--steps {self.steps!r} is invalid; allowed: an integer >= 1")
        if self.engine not in ENGINES:
            raise ConfigError(f"--engine {self.engine!r} is unknown; allowed: {', '.join(ENGINES)}")
