"""Which problems each step trains on: a seeded, resumable walk over shuffled epochs.

The order is a pure function of (seed, epoch), so the state that has to survive a restart is
two integers; a resumed run draws exactly the prompts the uninterrupted run would have drawn.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class DataOrderState:
    epoch: int = 0
    position: int = 0  # index into this epoch's permutation of the next problem to draw


def epoch_permutation(n_problems: int, seed: int, epoch: int) -> list[int]:
    """The shuffled problem order of one epoch (string seed: stable across Python versions)."""
    order = list(range(n_problems))
    random.Random(f"fipo-bench:{seed}:{epoch}").shuffle(order)
    return order


def draw(
    state: DataOrderState, n_problems: int, count: int, seed: int
) -> tuple[list[int], DataOrderState]:
    """The next `count` problem indices and the state after drawing them.

    Crosses epoch boundaries (a new permutation per epoch), so any count works on any data size.
    """
    if n_problems <= 0:
        raise ValueError("cannot draw prompts from an empty problem list")
    indices: list[int] = []
    epoch, position = state.epoch, state.position
    order = epoch_permutation(n_problems, seed, epoch)
    while len(indices) < count:
        if position >= n_problems:
            epoch, position = epoch + 1, 0
            order = epoch_permutation(n_problems, seed, epoch)
        take = min(count - len(indices), n_problems - position)
        indices.extend(order[position : position + take])
        position += take
    return indices, DataOrderState(epoch=epoch, position=position)
