"""Grouping stored trajectories into scoring batches whose memory does not grow with the eval.

Two bounds: a read chunk (the token ids of a few hundred thousand tokens, read, scored and
written as one store transaction: a kill loses at most one chunk) and a scoring batch (padded
batch x length <= batch_tokens, so the transformer body never holds more than that many
positions; a longer sequence is scored alone and unpadded, where attention needs no mask).
"""

from __future__ import annotations

from collections.abc import Sequence


def plan_batches(lengths: Sequence[int], batch_tokens: int) -> list[list[int]]:
    """Indices of `lengths` grouped so that len(group) * max(length in group) <= batch_tokens.

    Sequences are taken longest first, so each group pads to lengths close to its own; a
    sequence longer than batch_tokens forms a group of one. Every index appears once.
    """
    if batch_tokens < 1:
        raise ValueError(f"batch_tokens must be >= 1; got {batch_tokens}")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    groups: list[list[int]] = []
    current: list[int] = []
    width = 0
    for i in order:
        # Longest first: the group's width is its first member's length.
        if current and (len(current) + 1) * width > batch_tokens:
            groups.append(current)
            current = []
        if not current:
            width = lengths[i]
        current.append(i)
    if current:
        groups.append(current)
    return groups


def plan_chunks(lengths: Sequence[int], chunk_tokens: int) -> list[list[int]]:
    """Consecutive runs of indices whose lengths add up to at most chunk_tokens (a longer item
    forms a run of one): the samples read, scored and written together."""
    if chunk_tokens < 1:
        raise ValueError(f"chunk_tokens must be >= 1; got {chunk_tokens}")
    chunks: list[list[int]] = []
    current: list[int] = []
    total = 0
    for i, length in enumerate(lengths):
        if current and total + length > chunk_tokens:
            chunks.append(current)
            current, total = [], 0
        current.append(i)
        total += length
    if current:
        chunks.append(current)
    return chunks
