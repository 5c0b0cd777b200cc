"""The benchmark registry: names -> where the problems come from and how to prompt for them.

`load_problems("aime24")` reads the hub dataset (needs a network); `load_problems("aime24",
data_file="aime24.jsonl")` reads a local copy under the registry name; `load_problems(
"path/to/file.parquet")` reads any file in a known layout, named after the file's stem.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fipo_bench.errors import ConfigError, DataError
from fipo_bench.tasks.loaders import (
    FILE_SUFFIXES,
    FieldNames,
    SourceRow,
    read_file_rows,
    read_hub_rows,
    rows_to_problems,
)
from fipo_bench.tasks.problem import Problem
from fipo_bench.tasks.prompts import check_template


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    hub_id: str | None  # None: generated locally (synthetic)
    split: str  # default split on the hub (or of the generator)
    prompt: str  # default prompt template
    hub_config: str | None = None
    # Field names on the hub (files and the verl layout are detected); None: detect.
    problem_field: str | None = None
    answer_field: str | None = None
    id_field: str | None = None

    def __post_init__(self) -> None:
        check_template(self.prompt)


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "aime24", "AIME 2024, 30 problems, integer answers 0-999",
            "HuggingFaceH4/aime_2024", "train", "dapo",
            problem_field="problem", answer_field="answer", id_field="id",
        ),
        DatasetSpec(
            "aime25", "AIME 2025 (I and II), 30 problems, integer answers 0-999",
            "yentinglin/aime_2025", "train", "dapo",
            problem_field="problem", answer_field="answer", id_field="id",
        ),
        DatasetSpec(
            "amc23", "AMC 12 2023, 40 problems with numeric answers",
            "math-ai/amc23", "test", "dapo",
            problem_field="question", answer_field="answer", id_field="id",
        ),
        DatasetSpec(
            "math500", "MATH-500 (PRM800K test subset), 500 problems, LaTeX answers",
            "HuggingFaceH4/MATH-500", "test", "dapo",
            problem_field="problem", answer_field="answer", id_field="unique_id",
        ),
        DatasetSpec(
            "dapo-aime24", "DAPO's AIME 2024 eval parquet (verl layout, each problem x32)",
            "BytedTsinghua-SIA/AIME-2024", "train", "dapo",
        ),
        DatasetSpec(
            "synthetic", "embedded multi-step arithmetic task for the tiny model (generated)",
            None, "test", "raw",
        ),
    )
}  # fmt: skip


def default_prompt(name: str) -> str:
    """The prompt template a dataset is evaluated with: "dapo" for benchmarks, "raw" for the
    synthetic task (the embedded model was warmed up on bare problems). Files get "dapo"."""
    spec = DATASETS.get(name)
    return spec.prompt if spec is not None else "dapo"


def load_problems(
    name_or_file: str,
    *,
    data_file: str | None = None,
    split: str | None = None,
    limit: int | None = None,
) -> list[Problem]:
    """Problems of a registry dataset or a local file, repaired and de-duplicated, in source
    order; at most `limit` of them."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"limit must be a positive integer, got {limit!r}")
    spec = DATASETS.get(name_or_file)
    if spec is None:
        problems = _load_file(name_or_file, data_file=data_file, split=split)
    elif data_file is not None:
        problems = _load_named_file(spec, Path(data_file), split=split)
    elif spec.hub_id is None:
        problems = _load_synthetic(split)
    else:
        problems = _load_hub(spec, split=split)
    return problems if limit is None else problems[:limit]


def _load_file(path_text: str, *, data_file: str | None, split: str | None) -> list[Problem]:
    path = Path(path_text)
    if path.suffix.lower() not in FILE_SUFFIXES:
        known = ", ".join(DATASETS)
        raise DataError(
            f"unknown dataset {path_text!r}; known datasets: {known}, or a path to a "
            f"{'/'.join(FILE_SUFFIXES)} file"
        )
    if data_file is not None:
        raise ConfigError(
            f"--data-file {data_file!r} goes with a registry name ({', '.join(DATASETS)}), "
            f"not with the file {path_text!r}"
        )
    _reject_split_for_file(split, path)
    rows = read_file_rows(path)
    return rows_to_problems(rows, dataset=path.stem, source=f"file:{path}")


def _load_named_file(spec: DatasetSpec, path: Path, *, split: str | None) -> list[Problem]:
    _reject_split_for_file(split, path)
    rows = read_file_rows(path)
    return rows_to_problems(rows, dataset=spec.name, source=f"file:{path}", fields=_fields(spec))


def _load_hub(spec: DatasetSpec, *, split: str | None) -> list[Problem]:
    assert spec.hub_id is not None
    rows: list[SourceRow] = read_hub_rows(
        spec.hub_id, config=spec.hub_config, split=split or spec.split
    )
    return rows_to_problems(
        rows, dataset=spec.name, source=f"hub:{spec.hub_id}", fields=_fields(spec)
    )


def _load_synthetic(split: str | None) -> list[Problem]:
    # Imported here: the synthetic task lives in its own module and is not needed for files.
    from fipo_bench.tasks import synthetic

    return synthetic.load_problems(split=split or DATASETS["synthetic"].split)


def _fields(spec: DatasetSpec) -> FieldNames:
    return FieldNames().preferring(spec.problem_field, spec.answer_field, spec.id_field)


def _reject_split_for_file(split: str | None, path: Path) -> None:
    # A silently ignored flag would let a user believe they evaluated a split they did not.
    if split is not None:
        raise ConfigError(
            f"--split {split!r} applies to hub and synthetic datasets; the file {path} is "
            "loaded whole (omit --split)"
        )
