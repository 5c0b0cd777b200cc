"""Page URLs with their state in the query string, so every link and click navigates and a
reload keeps what the user chose.

Page paths are the `url_path`s given to st.Page in Home.py. Links are relative ("compare?
..."), so they work under any server base path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import urlencode

# Page scripts, relative to Home.py (st.page_link / st.switch_page take these).
PAGES = {
    "runs": "views/runs.py",
    "compare": "views/compare.py",
    "samples": "views/samples.py",
    "trajectory": "views/trajectory.py",
    "training": "views/training.py",
    "export": "views/export.py",
}

# Query-parameter names, shared by the pages that write and read them.
EVALS = "evals"  # comma-separated eval ids
PROBLEM = "problem"
SAMPLES = "samples"  # Trajectory: the sample shown per eval, "EVAL:IDX,EVAL:IDX"
SCALAR = "scalar"
KINDS = "pivots"  # pivot kinds shown, comma-separated
RUNS = "runs"  # Training / Export: comma-separated run ids
# Older Trajectory links named two panels: a / b with sample_idx sa / sb.
EVAL_A, EVAL_B, SAMPLE_A, SAMPLE_B = "a", "b", "sa", "sb"


def compare_url(eval_ids: Sequence[str]) -> str:
    return "compare?" + urlencode({EVALS: ",".join(eval_ids)})


def join_samples(samples: Mapping[str, int]) -> str:
    return ",".join(f"{e}:{int(i)}" for e, i in samples.items())


def split_samples(value: str | None) -> dict[str, int]:
    """'e1:0,e2:3' -> {'e1': 0, 'e2': 3}; malformed parts are skipped."""
    out: dict[str, int] = {}
    for part in split_ids(value):
        eval_id, _, idx = part.rpartition(":")
        if eval_id and idx.isdigit():
            out[eval_id] = int(idx)
    return out


def trajectory_url(
    eval_ids: Sequence[str], problem_id: str, samples: Mapping[str, int] | None = None
) -> str:
    """The Trajectory page on one problem with these evals side by side (sample 0 of each
    unless `samples` says otherwise)."""
    params = {EVALS: ",".join(eval_ids), PROBLEM: problem_id}
    if samples:
        params[SAMPLES] = join_samples(samples)
    return "trajectory?" + urlencode(params)


def split_ids(value: str | None) -> list[str]:
    """'a,b,,c' -> ['a', 'b', 'c']."""
    return [v for v in (value or "").split(",") if v]
