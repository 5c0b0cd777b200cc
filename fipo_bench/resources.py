"""The small data files the project ships (top-level data/, installed as `fipo_bench.data`).

Read through importlib.resources, so they are found the same way in a source checkout, an
editable install and an installed wheel.
"""

from __future__ import annotations

from importlib import resources


def data_text(name: str) -> str:
    """The text of data file `name` (UTF-8)."""
    return (resources.files("fipo_bench.data") / name).read_text(encoding="utf-8")


def phrase_lines(text: str) -> tuple[str, ...]:
    """Non-empty lines of a phrase list, `#` comment lines and surrounding space dropped."""
    lines = (line.strip() for line in text.splitlines())
    return tuple(line for line in lines if line and not line.startswith("#"))
