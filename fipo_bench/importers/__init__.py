"""Runs and evaluations made elsewhere -> the store (verl, TRL, lighteval, Inspect, Qwen-Math).

    from fipo_bench.importers import FORMATS, read_source, write_source
    source = read_source("verl-run", Path("runs/dapo"), name=None)   # checks it all, no writes
    result = write_source(source, Path("x.duckdb"))                   # run, evals, samples, ...

One module per format, each with `read(path, name) -> ImportedSource` (records.py): the same
record type out of every format, stored by one writer (writer.py). The source's own score is
kept beside fipo-bench's re-verification (samples.source_score / source_correct).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from fipo_bench.errors import ConfigError, DataError
from fipo_bench.eval.plan import check_db_path
from fipo_bench.importers.records import (
    ImportedEval,
    ImportedRun,
    ImportedSample,
    ImportedSource,
)
from fipo_bench.importers.writer import ImportResult, write_source

# Format name -> module under fipo_bench.importers, each with read(path, name).
FORMATS = {
    "verl-run": "verl",
    "trl": "trl",
    "lighteval": "lighteval",
    "inspect": "inspect_log",
    "qwen-math": "qwen_math",
}


def read_source(format_name: str, path: Path, *, name: str | None = None) -> ImportedSource:
    """Read and check a whole source; ConfigError / DataError before anything is written."""
    if format_name not in FORMATS:
        raise ConfigError(f"format {format_name!r} is unknown; allowed: {', '.join(FORMATS)}")
    if not path.exists():
        raise DataError(f"{path} does not exist; give the {format_name} output to import")
    module = importlib.import_module(f"fipo_bench.importers.{FORMATS[format_name]}")
    return module.read(path, name)


__all__ = [
    "FORMATS",
    "ImportResult",
    "ImportedEval",
    "ImportedRun",
    "ImportedSample",
    "ImportedSource",
    "check_db_path",
    "read_source",
    "write_source",
]
