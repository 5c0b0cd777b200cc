"""Generation records + verification results -> the Arrow batches the store writes.

Bulk data goes in as Arrow, never row by row: one samples table and one tokens table per unit
of work, tokens already in (sample_id, pos) key order so the store appends them as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from fipo_bench.engines.record import GenerationRecord
from fipo_bench.store import sample_id
from fipo_bench.tasks.problem import Problem
from fipo_bench.verify import VerifyResult

SAMPLE_SCHEMA = pa.schema(
    [
        ("sample_id", pa.int64()),
        ("eval_id", pa.string()),
        ("dataset", pa.string()),
        ("problem_id", pa.string()),
        ("sample_idx", pa.int32()),
        ("text", pa.string()),
        ("n_tokens", pa.int32()),
        ("finish_reason", pa.string()),
        ("extracted", pa.string()),
        ("correct", pa.bool_()),
        ("verify_status", pa.string()),
        ("answer_source", pa.string()),  # which marker the answer came from (box, ...)
    ]
)
TOKEN_SCHEMA = pa.schema(
    [
        ("sample_id", pa.int64()),
        ("pos", pa.int32()),
        ("token_id", pa.int32()),
        ("token", pa.string()),
        ("logp", pa.float32()),
    ]
)


@dataclass(frozen=True)
class UnitRows:
    samples: pa.Table
    tokens: pa.Table


def unit_rows(
    eval_id: str,
    problems: Sequence[Problem],
    records: Sequence[GenerationRecord],
    results: Sequence[VerifyResult],
) -> UnitRows:
    """Rows of one unit: `records[i].prompt_index` indexes `problems` (the unit's problems)."""
    if not records:
        raise ValueError("unit_rows needs at least one record")
    sample_cols: dict[str, list] = {name: [] for name in SAMPLE_SCHEMA.names}
    token_chunks: list[tuple[np.ndarray, ...]] = []
    token_texts: list[str] = []
    # Sorted by sample_id so the token batch is in key order without an Arrow sort.
    keyed = []
    for record, result in zip(records, results, strict=True):
        problem = problems[record.prompt_index]
        sid = sample_id(eval_id, problem.problem_id, record.sample_idx)
        keyed.append((sid, problem, record, result))
    keyed.sort(key=lambda item: item[0])
    for sid, problem, record, result in keyed:
        for name, value in (
            ("sample_id", sid),
            ("eval_id", eval_id),
            ("dataset", problem.dataset),
            ("problem_id", problem.problem_id),
            ("sample_idx", record.sample_idx),
            ("text", record.text),
            ("n_tokens", record.n_tokens),
            ("finish_reason", record.finish_reason),
            ("extracted", result.extracted),
            ("correct", result.correct),
            ("verify_status", result.status),
            ("answer_source", result.source),
        ):
            sample_cols[name].append(value)
        length = record.n_tokens
        token_chunks.append(
            (
                np.full(length, sid, dtype=np.int64),
                np.arange(length, dtype=np.int32),
                np.asarray(record.token_ids, dtype=np.int32),
                np.asarray(record.logprobs, dtype=np.float32),
            )
        )
        token_texts.extend(record.token_texts)
    samples = pa.Table.from_pydict(sample_cols, schema=SAMPLE_SCHEMA)
    sid_col, pos_col, tid_col, logp_col = (
        np.concatenate(c) for c in zip(*token_chunks, strict=True)
    )
    tokens = pa.Table.from_arrays(
        [
            pa.array(sid_col, pa.int64()),
            pa.array(pos_col, pa.int32()),
            pa.array(tid_col, pa.int32()),
            pa.array(token_texts, pa.string()),
            pa.array(logp_col, pa.float32()),
        ],
        schema=TOKEN_SCHEMA,
    )
    return UnitRows(samples=samples, tokens=tokens)
