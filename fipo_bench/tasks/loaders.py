"""Read problem rows from local files (jsonl, json, parquet) or the Hugging Face hub and turn
them into `Problem` records.

Two row layouts are understood:
- flat: one field for the problem (problem / question / Problem), one for the answer
  (answer / Answer / ground_truth), optionally an id (id / unique_id / problem_id / idx);
- verl: prompt [{role, content}], reward_model.ground_truth, extra_info.{index, raw_problem}
  (DAPO's parquet files). Rows repeated k times (AIME-2024 x32) collapse to one problem.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fipo_bench.errors import DataError
from fipo_bench.tasks.problem import Problem
from fipo_bench.tasks.prompts import unwrap_dapo
from fipo_bench.tasks.repair import normalize_answer, repair_escapes

FILE_SUFFIXES = (".jsonl", ".json", ".parquet")
_TOO_DEEP = "JSON nested too deeply to read; expected one flat object per problem"


@dataclass(frozen=True)
class SourceRow:
    where: str  # "aime25.jsonl line 19" / "x.parquet row 18" / "hub:org/name[train] row 3"
    index: int  # 0-based position in the source, used as the id when rows carry none
    record: dict[str, Any]


@dataclass(frozen=True)
class FieldNames:
    """Candidate field names, tried in order; the first present in the first row is used."""

    problem: tuple[str, ...] = ("problem", "question", "Problem", "Question")
    answer: tuple[str, ...] = ("answer", "Answer", "ground_truth", "final_answer")
    problem_id: tuple[str, ...] = ("id", "unique_id", "problem_id", "ID", "idx")

    def preferring(
        self, problem: str | None = None, answer: str | None = None, problem_id: str | None = None
    ) -> FieldNames:
        """These candidates with a dataset's known field names tried first."""

        def first(name: str | None, names: tuple[str, ...]) -> tuple[str, ...]:
            return names if name is None else (name, *(n for n in names if n != name))

        return FieldNames(
            first(problem, self.problem),
            first(answer, self.answer),
            first(problem_id, self.problem_id),
        )


# ---------------------------------------------------------------- reading rows


def read_file_rows(path: Path) -> list[SourceRow]:
    """All rows of a .jsonl / .json / .parquet file, each with a locator for error messages."""
    if path.suffix.lower() not in FILE_SUFFIXES:
        raise DataError(
            f"{path}: unsupported file type {path.suffix or '(none)'!r}; "
            f"use one of {', '.join(FILE_SUFFIXES)}"
        )
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if not path.is_file():
        raise DataError(f"{path}: not a regular file")
    try:
        if path.stat().st_size == 0:
            raise DataError(f"{path}: file is empty; expected problem rows")
        rows = _read_parquet(path) if path.suffix.lower() == ".parquet" else _read_json(path)
    except OSError as err:
        raise DataError(f"{path}: cannot read file ({err.strerror or err})") from err
    if not rows:
        raise DataError(f"{path}: file has no rows; expected problem rows")
    return rows


def _read_json(path: Path) -> list[SourceRow]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text (byte {err.start}); expected JSON") from err
    if path.suffix.lower() == ".json":
        # A .json file is a JSON array of objects, but `datasets.Dataset.to_json` writes JSON
        # lines under that name: fall back to lines when the whole text is not one document.
        try:
            document = json.loads(text)
        except json.JSONDecodeError:
            pass
        except RecursionError:
            raise DataError(f"{path}: {_TOO_DEEP}") from None
        else:
            if not isinstance(document, list):
                raise DataError(
                    f"{path}: top-level JSON is {type(document).__name__}; expected an array of "
                    "objects or JSON lines"
                )
            return [
                SourceRow(f"{path.name} row {i}", i, _as_object(obj, f"{path.name} row {i}"))
                for i, obj in enumerate(document)
            ]
    rows = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path.name} line {line_no}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{where}: not valid JSON ({err.msg} at column {err.colno})") from err
        except RecursionError:
            # json recurses once per nesting level: a pathological line would otherwise end in
            # a RecursionError traceback.
            raise DataError(f"{where}: {_TOO_DEEP}") from None
        rows.append(SourceRow(where, len(rows), _as_object(obj, where)))
    return rows


def _read_parquet(path: Path) -> list[SourceRow]:
    import pyarrow as pa  # lazy: keeps `import fipo_bench.tasks` light
    import pyarrow.parquet as pq

    try:
        records = pq.read_table(path).to_pylist()
    except (pa.ArrowException, ValueError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DataError(f"{path}: not a readable parquet file ({reason})") from err
    return [SourceRow(f"{path.name} row {i}", i, rec) for i, rec in enumerate(records)]


def read_hub_rows(hub_id: str, *, config: str | None, split: str) -> list[SourceRow]:
    """Rows of a hub dataset split via `datasets` (needs a network or a warm local cache)."""
    label = f"hub:{hub_id}" + (f"/{config}" if config else "") + f"[{split}]"
    hint = "pass --data-file with a local .jsonl/.parquet copy"
    try:
        import datasets  # lazy: optional dependency (extra "hub"), slow to import
    except ImportError as err:
        raise DataError(f"{label}: the 'datasets' package is not installed; {hint}") from err
    try:
        loaded = datasets.load_dataset(hub_id, name=config, split=split)
    except Exception as err:  # network, auth, missing split: all end the same way for a user
        lines = str(err).strip().splitlines()
        reason = lines[0] if lines else type(err).__name__
        raise DataError(f"{label}: could not load ({reason}); {hint}") from err
    rows = [SourceRow(f"{label} row {i}", i, dict(rec)) for i, rec in enumerate(loaded)]
    if not rows:
        raise DataError(f"{label}: split has no rows; {hint}")
    return rows


def _as_object(obj: Any, where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise DataError(f"{where}: row is {type(obj).__name__}; expected a JSON object")
    return obj


# ---------------------------------------------------------------- rows -> problems


@dataclass(frozen=True)
class _Parsed:
    source_id: str | None  # the row's own id; None: the row carries none
    problem: str
    answer: str
    meta: dict[str, Any]


def rows_to_problems(
    rows: Sequence[SourceRow], *, dataset: str, source: str, fields: FieldNames = FieldNames()
) -> list[Problem]:
    """Normalise rows into problems, collapsing exact repeats (verl files repeat each problem
    k times): rows with an id repeat when id, problem and answer match; rows without one when
    problem and answer match, and are then numbered by their first position.

    meta holds "source" ("file:PATH" / "hub:ID"), "copies" (when repeated), "source_prompt"
    (verl: the stored, already templated prompt) and "fields": the row's other fields, kept
    apart so that a row field named "source" cannot collide with the loader's keys.

    An id used for two different problems is an error: downstream tables are keyed by
    (dataset, problem_id).
    """
    parse = _parse_verl if _is_verl(rows[0].record) else _flat_parser(rows[0], fields)
    by_id: dict[str, tuple[_Parsed, str]] = {}  # problem_id -> first parse and its locator
    id_of_content: dict[tuple[str, str], str] = {}  # id-less rows: content -> problem_id
    copies: dict[str, int] = {}
    for row in rows:
        parsed = parse(row)
        if parsed.source_id is None:
            pid = id_of_content.setdefault((parsed.problem, parsed.answer), str(row.index))
        else:
            pid = parsed.source_id
        seen = by_id.get(pid)
        if seen is None:
            by_id[pid] = (parsed, row.where)
            copies[pid] = 1
            continue
        earlier, earlier_where = seen
        if (earlier.problem, earlier.answer) != (parsed.problem, parsed.answer):
            raise DataError(
                f"{row.where}: problem id {pid!r} already used at {earlier_where} "
                "with a different problem or answer; ids must be unique"
            )
        copies[pid] += 1
    problems = []
    for pid, (parsed, _) in by_id.items():
        meta = {"source": source, **parsed.meta}
        if copies[pid] > 1:
            meta["copies"] = copies[pid]
        problems.append(Problem(dataset, pid, parsed.problem, parsed.answer, meta))
    return problems


def _pick(record: dict[str, Any], names: Iterable[str]) -> str | None:
    return next((n for n in names if n in record), None)


def _flat_parser(first: SourceRow, fields: FieldNames):
    problem_key = _pick(first.record, fields.problem)
    answer_key = _pick(first.record, fields.answer)
    id_key = _pick(first.record, fields.problem_id)
    if problem_key is None:
        raise DataError(
            f"{first.where}: no problem field; expected one of {', '.join(fields.problem)} "
            "(or the verl layout prompt + reward_model.ground_truth)"
        )
    if answer_key is None:
        raise DataError(
            f"{first.where}: no answer field; expected one of {', '.join(fields.answer)}"
        )
    used = {problem_key, answer_key, id_key}

    def parse(row: SourceRow) -> _Parsed:
        record = row.record
        problem = _problem_text(record.get(problem_key), row.where, problem_key)
        if answer_key not in record:
            raise DataError(f"{row.where}: no {answer_key!r} field; every row needs an answer")
        answer = normalize_answer(record[answer_key], where=row.where)
        # "025"-style ids are kept as text; rows without one get a position in rows_to_problems.
        raw_id = record.get(id_key) if id_key else None
        source_id = None if raw_id is None else str(raw_id)
        # Copies of the problem text (aime24/amc23 repeat it as "question") are dropped.
        fields = {
            k: _repair_meta(v)
            for k, v in record.items()
            if k not in used and not (isinstance(v, str) and repair_escapes(v) == problem)
        }
        return _Parsed(source_id, problem, answer, {"fields": fields})

    return parse


def _is_verl(record: dict[str, Any]) -> bool:
    return isinstance(record.get("reward_model"), dict) and (
        "prompt" in record or "extra_info" in record
    )


def _parse_verl(row: SourceRow) -> _Parsed:
    record = row.record
    extra = record.get("extra_info") or {}
    reward = record.get("reward_model") or {}
    prompt_text = _last_user_content(record.get("prompt"))
    raw = extra.get("raw_problem")
    if raw is None and prompt_text is not None:
        # DAPO-Math-17k keeps only the wrapped prompt: take the problem out of the instruction.
        raw = unwrap_dapo(prompt_text) or prompt_text
    problem = _problem_text(raw, row.where, "extra_info.raw_problem or prompt")
    if reward.get("ground_truth") is None:
        raise DataError(f"{row.where}: no reward_model.ground_truth; every row needs an answer")
    answer = normalize_answer(reward["ground_truth"], where=row.where)
    index = extra.get("index")
    source_id = None if index is None else str(index)
    fields = {k: record[k] for k in ("data_source", "ability") if record.get(k) is not None}
    if reward.get("style") is not None:
        fields["reward_model.style"] = reward["style"]
    meta: dict[str, Any] = {"fields": fields}
    if prompt_text is not None:
        meta["source_prompt"] = prompt_text
    return _Parsed(source_id, problem, answer, meta)


def _last_user_content(prompt: Any) -> str | None:
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list):
        users = [m for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        if users and isinstance(users[-1].get("content"), str):
            return users[-1]["content"]
    return None


def _problem_text(value: Any, where: str, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        shown = "missing" if value is None else f"{type(value).__name__} {value!r:.40}"
        raise DataError(f"{where}: problem field {field!r} is {shown}; expected non-empty text")
    return repair_escapes(value)


def _repair_meta(value: Any) -> Any:
    # Solutions carry the same mangled escapes as problems; keep reference text readable.
    return repair_escapes(value) if isinstance(value, str) else value
