"""Page URLs with their state in the query string, so every link and click navigates.

Page paths are the `url_path`s given to st.Page in app/Home.py. Links are relative ("compare?
..."), so they work under any server base path.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

# Page scripts, relative to Home.py (st.page_link / st.switch_page take these), and their URLs.
PAGES = {
    "runs": "views/runs.py",
    "compare": "views/compare.py",
    "trajectory": "views/trajectory.py",
    "training": "views/training.py",
    "export": "views/export.py",
}

# Query-parameter names, shared by the pages that write and read them.
EVALS = "evals"  # Compare: comma-separated eval ids
EVAL_A, EVAL_B = "a", "b"  # Trajectory: the two panels' evals
PROBLEM = "problem"
SAMPLE_A, SAMPLE_B = "sa", "sb"  # sample_idx within the problem
SCALAR = "scalar"
RUNS = "runs"  # Training: comma-separated run ids


def compare_url(eval_ids: Sequence[str]) -> str:
    return "compare?" + urlencode({EVALS: ",".join(eval_ids)})


def trajectory_url(
    eval_a: str, problem_id: str, eval_b: str | None = None, sample_a: int = 0, sample_b: int = 0
) -> str:
    params = {EVAL_A: eval_a, PROBLEM: problem_id, SAMPLE_A: sample_a}
    if eval_b:
        params.update({EVAL_B: eval_b, SAMPLE_B: sample_b})
    return "trajectory?" + urlencode(params)


def split_ids(value: str | None) -> list[str]:
    """'a,b,,c' -> ['a', 'b', 'c']."""
    return [v for v in (value or "").split(",") if v]
