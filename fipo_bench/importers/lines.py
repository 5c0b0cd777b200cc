"""Reading other tools' files row by row, with `file:line: what is wrong` errors."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fipo_bench.errors import DataError
from fipo_bench.tasks.repair import normalize_answer


def json_lines(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(locator "file:line", object) for every non-blank line of a JSON-lines file."""
    try:
        handle = path.open("rb")
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from err
    with handle:
        for line_no, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            where = f"{path}:{line_no}"
            try:
                obj = json.loads(raw)
            except UnicodeDecodeError as err:
                raise DataError(f"{where}: not UTF-8 text (byte {err.start})") from None
            except json.JSONDecodeError as err:
                raise DataError(
                    f"{where}: not valid JSON ({err.msg} at column {err.colno})"
                ) from None
            except RecursionError:
                raise DataError(f"{where}: JSON nested too deeply to read") from None
            if not isinstance(obj, dict):
                raise DataError(f"{where}: line is a JSON {type(obj).__name__}; expected an object")
            yield where, obj


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from err
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: not valid JSON ({err})") from None
    except RecursionError:
        raise DataError(f"{path}: JSON nested too deeply to read") from None


def need(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """obj[key], which must exist and be of `kind` (bool never passes for a number)."""
    if key not in obj:
        raise DataError(f"{where}: no {key!r} field")
    value = obj[key]
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise DataError(f"{where}: {key!r} is {value!r}; expected {_names(kind)}")
    if not isinstance(value, kind):
        shown = f"{type(value).__name__} {value!r:.40}"
        raise DataError(f"{where}: {key!r} is {shown}; expected {_names(kind)}")
    return value


def number(value: Any, where: str, key: str) -> float | None:
    """A finite float from a JSON number or bool (scores are often true/false); None stays."""
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    raise DataError(f"{where}: {key!r} is {value!r:.40}; expected a finite number")


def number_or_nan(value: Any) -> float:
    """A setting the source may omit (temperature, top_p): its value, NaN when absent."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else float("nan")


def verdict(value: Any, where: str, key: str) -> bool | None:
    """The source's own correct/wrong: a bool, or a number read as > 0 (1.0 / 0.0 / -1.0)."""
    score = number(value, where, key)
    return None if score is None else score > 0


def gold_text(value: Any, where: str, key: str) -> str:
    """A gold answer as text; a list of golds (several accepted answers) keeps the first."""
    if isinstance(value, list) and value:
        value = value[0]
    return normalize_answer(value, where=f"{where}: {key!r}")


def _names(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    words = {str: "text", int: "an integer", float: "a number", list: "a list", dict: "an object"}
    return " or ".join(words.get(k, k.__name__) for k in kinds)
