"""Compare the packages installed in this interpreter with a pip constraints file.

    python scripts/check_lock.py constraints.txt --strict=1

With --strict=1 (a fresh venv) exit 1 when an installed package has another version than its
pin or is not pinned at all; with --strict=0 (a venv that may hold packages installed by hand)
both are only reported. Standard library only:
it runs before anything else is known to work.
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib.metadata import distributions
from pathlib import Path

# Not pinned on purpose: pip comes with the interpreter's venv, fipo-bench is the project.
UNPINNED = {"pip", "fipo-bench"}


def normalize(name: str) -> str:
    """PEP 503 names: `Jinja2` -> `jinja2`, `typing_extensions` -> `typing-extensions`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            if not sep:
                raise SystemExit(f"check_lock: {path}: {line!r} is not NAME==VERSION")
            pins[normalize(name)] = version.strip()
    return pins


def installed() -> dict[str, str]:
    """Name -> version of what `import` finds: the first distribution of each name on sys.path
    (later ones, such as setuptools' vendored copies once setuptools is imported, are shadowed)."""
    found: dict[str, str] = {}
    for dist in distributions():
        found.setdefault(normalize(dist.metadata["Name"]), dist.version)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("constraints", type=Path)
    parser.add_argument("--strict", choices=("0", "1"), default="1")
    args = parser.parse_args(argv)
    pins = read_pins(args.constraints)
    have = installed()
    wrong = sorted(
        f"{name} {version} (locked {pins[name]})"
        for name, version in have.items()
        if name in pins and version != pins[name]
    )
    unpinned = sorted(f"{name}=={v}" for name, v in have.items() if name not in {*pins, *UNPINNED})
    strict = args.strict == "1"
    failed = strict and bool(wrong or unpinned)
    if wrong:
        print(
            f"check_lock: not at their {args.constraints} version: {', '.join(wrong)}",
            file=sys.stderr,
        )
    if unpinned:
        print(
            f"check_lock: not in {args.constraints}"
            f"{' (pyproject.toml changed? run scripts/lock.sh)' if strict else ''}: "
            + ", ".join(unpinned),
            file=sys.stderr,
        )
    if failed:
        return 1
    if not (wrong or unpinned):
        print(f"check_lock: every installed package is at its {args.constraints} version")
    return 0


if __name__ == "__main__":
    sys.exit(main())
