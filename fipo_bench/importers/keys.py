"""Deterministic ids for imported rows, so importing the same source twice adds nothing."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

_SLUG = re.compile(r"[^A-Za-z0-9_.-]+")


def digest(payload: object, size: int = 6) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.blake2b(text.encode(), digest_size=size).hexdigest()


def slug(name: str) -> str:
    """A run name usable inside ids and `run_id:step` model specs (no ':' or '/')."""
    return _SLUG.sub("-", name).strip("-") or "run"


def run_id(format_name: str, name: str, path: Path) -> str:
    """`<name>-<hash of format and absolute path>`: readable, and two runs that share a folder
    name stay apart."""
    return f"{slug(name)}-{digest([format_name, str(path.resolve())], 3)}"


def eval_id(format_name: str, *parts: object) -> str:
    """`ev-<hash>` of what identifies the source's eval (a path, a step, the tool's own id)."""
    return "ev-" + digest([format_name, *(str(p) if isinstance(p, Path) else p for p in parts)], 8)


def prompt_problem_id(prompt: str) -> str:
    """Rollout dumps carry no prompt id: samples of one prompt share the hash of its text."""
    return "p-" + hashlib.blake2b(prompt.encode(), digest_size=6).hexdigest()
