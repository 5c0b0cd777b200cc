"""How far an eval got and whether it is still being written, from its stored row.

A row of `dashboard_queries.eval_overview`. The store says `running` from the moment an eval
starts until it finishes; an eval killed with SIGKILL (or a lost machine) keeps `running`
forever. Where the evaluator recorded its writer process (config.writer = {host, pid}), a
writer that no longer exists on this host makes the eval `interrupted`; without that record the
page can only say "running or interrupted".
"""

from __future__ import annotations

import json
import math
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

RESUME_HINT = "rerun the same `fipo-bench eval` command to resume"


def present(value: object) -> bool:
    """False for None and for the NaN pandas puts in an empty cell (NaN is truthy)."""
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def json_field(value: object) -> dict[str, Any]:
    """A JSON column (config, metrics) as a dict: {} while it is NULL (every running or killed
    eval's metrics), not an object, or not JSON at all."""
    if isinstance(value, Mapping):
        return dict(value)
    if not isinstance(value, str | bytes) or not value:
        return {}
    try:
        parsed = json.loads(value)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except (OverflowError, ValueError):
        return False
    return True


@dataclass(frozen=True)
class EvalProgress:
    state: str  # done | running | interrupted | failed | unknown (running or interrupted)
    stored: int  # samples stored so far
    expected: int | None  # samples the eval holds when done; None when not known

    @property
    def partial(self) -> bool:
        """Numbers over this eval cover only part of what it will hold."""
        return self.state != "done"

    @property
    def counts(self) -> str:
        if self.expected:
            share = self.stored / self.expected
            return f"{self.stored:,} of {self.expected:,} samples ({share:.0%})"
        return f"{self.stored:,} samples"

    @property
    def word(self) -> str:
        """The state in one or three words, for a table cell."""
        return "running or interrupted" if self.state == "unknown" else self.state

    @property
    def text(self) -> str:
        """One line for a table cell or a page note."""
        if self.state == "done":
            return "done"
        if self.state == "running":
            return f"running: {self.counts} so far"
        if self.state == "unknown":
            return f"running or interrupted: {self.counts} so far"
        return f"{self.state} at {self.counts}; {RESUME_HINT}"


def expected_samples(row: Mapping) -> int | None:
    """Samples a finished eval holds: the evaluator's own total where it stored one, else n x
    the problems it covers (its --limit, capped by the problems stored for its dataset)."""
    config = json_field(row.get("config"))
    total = config.get("total_samples")
    if isinstance(total, int) and total > 0:
        return total
    problems = int(row["dataset_problems"]) if present(row.get("dataset_problems")) else 0
    limit = config.get("limit")
    if isinstance(limit, int) and limit > 0:
        problems = min(problems, limit) if problems else limit
    return int(row["n"]) * problems if problems else None


def eval_progress(
    row: Mapping,
    *,
    host: str | None = None,
    alive: Callable[[int], bool] = pid_alive,
) -> EvalProgress:
    """State and progress of the eval in `row` (host: this machine's name, default its own)."""
    stored = int(row["n_samples"]) if present(row.get("n_samples")) else 0
    expected = expected_samples(row)
    status = row.get("status")
    if status in ("done", "failed"):
        return EvalProgress(str(status), stored, expected)
    writer = json_field(row.get("config")).get("writer")
    if not isinstance(writer, Mapping) or not isinstance(writer.get("pid"), int):
        return EvalProgress("unknown", stored, expected)
    if writer.get("host") != (host if host is not None else socket.gethostname()):
        return EvalProgress("running", stored, expected)  # on another machine: trust the row
    return EvalProgress("running" if alive(writer["pid"]) else "interrupted", stored, expected)
