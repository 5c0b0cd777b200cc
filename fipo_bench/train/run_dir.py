"""The run folder: a deterministic run id and the identity (run.json) a resume must match."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fipo_bench.errors import ConfigError

RUN_FILE = "run.json"


def run_id_for(out_dir: Path) -> str:
    """`<folder name>-<8 hex of the resolved path>`: readable, and stable for the same folder."""
    resolved = out_dir.expanduser().resolve()
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:8]
    return f"{resolved.name}-{digest}"


def read_identity(out_dir: Path) -> dict[str, Any] | None:
    path = out_dir / RUN_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"--out {out_dir}: {RUN_FILE} is unreadable ({exc}); use an empty or new folder"
        ) from exc


def check_out_dir(out_dir: Path, identity: Mapping[str, Any], *, resume: bool) -> None:
    """Refuse an out dir that holds another run, or this run without --resume. Writes nothing."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir} is a file; an output folder is required")
    existing = read_identity(out_dir)
    if existing is None:
        if out_dir.is_dir() and any(out_dir.iterdir()):
            raise ConfigError(
                f"--out {out_dir} is a non-empty folder without {RUN_FILE}; "
                "use an empty or new folder"
            )
        return
    diff = sorted(k for k in set(existing) | set(identity) if existing.get(k) != identity.get(k))
    if diff:
        key = diff[0]
        detail = _first_difference(existing.get(key), identity.get(key), key)
        raise ConfigError(
            f"--out {out_dir} holds a different run ({detail}); "
            "use a new --out folder or the original settings"
        )
    if not resume:
        raise ConfigError(
            f"--out {out_dir} already holds run {existing.get('run_id')}; "
            "pass --resume to continue it or choose a new --out folder"
        )


def write_identity(out_dir: Path, identity: Mapping[str, Any]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f".{RUN_FILE}.tmp"
    tmp.write_text(json.dumps(identity, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, out_dir / RUN_FILE)


def _first_difference(old: Any, new: Any, path: str) -> str:
    """Up to three differing settings, the algorithm (`...mode`) first when it differs."""
    diffs = sorted(_differences(old, new, path), key=lambda d: not d[0].endswith(".mode"))
    shown = "; ".join(f"{p} was {o!r}, now {n!r}" for p, o, n in diffs[:3])
    more = f"; {len(diffs) - 3} more" if len(diffs) > 3 else ""
    return shown + more


def _differences(old: Any, new: Any, path: str) -> list[tuple[str, Any, Any]]:
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[tuple[str, Any, Any]] = []
        for key in [*new, *(k for k in old if k not in new)]:  # the config's declaration order
            if old.get(key) != new.get(key):
                out.extend(_differences(old.get(key), new.get(key), f"{path}.{key}"))
        return out
    return [(path, old, new)]
