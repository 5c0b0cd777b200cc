"""Deterministic sample ids: the same (owner, problem, sample index) always maps to one BIGINT.

Idempotent writes rest on this: rerunning an eval or a training step recomputes the same ids,
so the store replaces rows instead of duplicating them.
"""

from __future__ import annotations

import hashlib

_MASK_63 = (1 << 63) - 1  # DuckDB BIGINT is signed: keep ids non-negative
_SEP = "\x1f"  # ASCII unit separator: cannot occur in a run/eval id or a problem id by accident


def sample_id(owner: str, problem_id: str, sample_idx: int) -> int:
    """63-bit id of one sampled response.

    owner: the eval_id for evaluation samples, or f"{run_id}@{step}" for training rollouts.
    """
    if sample_idx < 0:
        raise ValueError(f"sample_idx must be >= 0, got {sample_idx}")
    key = f"{owner}{_SEP}{problem_id}{_SEP}{int(sample_idx)}".encode()
    digest = hashlib.blake2b(key, digest_size=8).digest()
    return int.from_bytes(digest, "big") & _MASK_63


def rollout_owner(run_id: str, step: int) -> str:
    """The owner string of a training rollout sample (see `sample_id`)."""
    return f"{run_id}@{int(step)}"
