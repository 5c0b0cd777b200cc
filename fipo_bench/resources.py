"""The small data files the project ships (top-level data/, installed as `fipo_bench.data`).

Read through importlib.resources, so they are found the same way in a source checkout, an
editable install and an installed wheel.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

# In a source checkout the package sits beside the top-level data/ folder; the installed package
# (a wheel, or an editable install seen from another checkout) finds it as fipo_bench.data.
_CHECKOUT_DATA = Path(__file__).resolve().parent.parent / "data"


def data_text(name: str) -> str:
    """The text of data file `name` (UTF-8): this checkout's data/ first, else the package's."""
    local = _CHECKOUT_DATA / name
    if local.is_file():
        return local.read_text(encoding="utf-8")
    return (resources.files("fipo_bench.data") / name).read_text(encoding="utf-8")


def phrase_lines(text: str) -> tuple[str, ...]:
    """Non-empty lines of a phrase list, `#` comment lines and surrounding space dropped."""
    lines = (line.strip() for line in text.splitlines())
    return tuple(line for line in lines if line and not line.startswith("#"))
