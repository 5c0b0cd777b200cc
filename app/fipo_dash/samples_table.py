"""The Samples page's table (one row per sample: eval, problem, outcome, answer, gold, length,
reflections) and its filters, as frames (no Streamlit)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

ALL, DIFFERS, A_OVER_B = "all samples", "problems where the evals differ", "A over B"


def problem_accuracy(rows: pd.DataFrame) -> pd.DataFrame:
    """problem_id x eval_id: share of the eval's samples of the problem that are correct."""
    correct = rows["correct"].fillna(False).astype(float)
    return rows.assign(correct=correct).pivot_table(
        index="problem_id", columns="eval_id", values="correct", aggfunc="mean"
    )


def filter_rows(
    rows: pd.DataFrame,
    *,
    mode: str = ALL,
    a: str | None = None,
    b: str | None = None,
    outcome: str = "all",
    reflective_only: bool = False,
) -> pd.DataFrame:
    """The samples a filter keeps.

    mode DIFFERS: problems whose accuracy is not the same in every eval that has them.
    mode A_OVER_B: problems eval `a` gets right more often than eval `b`; only the samples of
    those two evals. outcome: all | correct | wrong. reflective_only: samples with at least one
    reflection phrase.
    """
    if mode == DIFFERS:
        accuracy = problem_accuracy(rows)
        keep = accuracy.index[accuracy.max(axis=1) != accuracy.min(axis=1)]
        rows = rows[rows["problem_id"].isin(keep)]
    elif mode == A_OVER_B and a and b:
        accuracy = problem_accuracy(rows)
        both = accuracy.reindex(columns=[a, b]).dropna()
        keep = both.index[both[a] > both[b]]
        rows = rows[rows["problem_id"].isin(keep) & rows["eval_id"].isin([a, b])]
    if outcome == "correct":
        rows = rows[rows["correct"].fillna(False).astype(bool)]
    elif outcome == "wrong":
        rows = rows[~rows["correct"].fillna(False).astype(bool)]
    if reflective_only:
        rows = rows[rows["reflections"] > 0]
    return rows


def snippet(text: object, width: int = 80) -> str:
    if not isinstance(text, str):
        return ""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def display_table(rows: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    """The columns the page shows, in order; sample_id and eval_id kept for selection."""
    return pd.DataFrame(
        {
            "eval": [labels.get(e, e) for e in rows["eval_id"]],
            "problem": [snippet(t) for t in rows["problem"]],
            "sample": rows["sample_idx"].astype(int),
            "correct": rows["correct"].fillna(False).astype(bool),
            "answer": rows["extracted"],
            "gold": rows["answer"],
            "tokens": rows["n_tokens"].astype(int),
            "reflections": rows["reflections"].astype(int),
            "finish": rows["finish_reason"],
            "problem_id": rows["problem_id"],
            "eval_id": rows["eval_id"],
        }
    ).reset_index(drop=True)


def evals_of(rows: pd.DataFrame, problem_id: str, order: Sequence[str]) -> list[str]:
    """The evals (in `order`) that have samples of the problem."""
    present = set(rows.loc[rows["problem_id"] == problem_id, "eval_id"])
    return [e for e in order if e in present]
