"""The settings an eval's stored analysis was computed with, kept as a row of `runs`.

The schema has no table for analysis settings, so each analysed eval gets one `runs` row of
kind "import" per analysis: `credit:<eval_id>` (reference model, half-life, bounds, ...) and
`pivots:<eval_id>` (lexicon and thresholds). Its config JSON is the settings' identity: a
resume keeps stored values only when it is equal, and reports read the bounds from it.
"""

from __future__ import annotations

from typing import Any

CREDIT_PREFIX = "credit:"
PIVOTS_PREFIX = "pivots:"


def credit_record_id(eval_id: str) -> str:
    return f"{CREDIT_PREFIX}{eval_id}"


def pivots_record_id(eval_id: str) -> str:
    return f"{PIVOTS_PREFIX}{eval_id}"


def read_record(store, record_id: str) -> dict[str, Any] | None:
    """The stored settings (config JSON) of a record, or None when there is none."""
    run = store.get_run(record_id)
    return None if run is None else run.get("config")


def write_record(
    store, record_id: str, eval_id: str, settings: dict[str, Any], model_path: str | None
) -> None:
    store.upsert_run(
        record_id,
        kind="import",
        name=record_id.split(":", 1)[0],
        algo=None,
        preset=None,
        config={"eval_id": eval_id, **settings},
        model_path=model_path,
    )


def settings_of(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """A record's settings without the eval_id it is keyed on (what `identity()` returns)."""
    if record is None:
        return None
    return {k: v for k, v in record.items() if k != "eval_id"}
