"""A bounded, thread-safe LRU of verdicts keyed by (gold, extracted answer).

Keyed by the extracted answer rather than the whole response: the verdict depends only on it,
keys stay short (responses run to tens of kilobytes), and two responses that end in the same
answer share one entry. A timeout is remembered with the budget it had, so a later call with a
longer `timeout_s` tries again; errors are not remembered (a crashed worker may not recur).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from fipo_bench.verify.judge import STATUS_ERROR, STATUS_TIMEOUT, Verdict

MAX_ENTRIES = 65_536
MAX_KEY_CHARS = 4_096  # longer answers are judged every time rather than pinned in memory


@dataclass(frozen=True)
class CacheInfo:
    hits: int
    misses: int
    entries: int
    max_entries: int


class VerdictCache:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str], tuple[Verdict, float]] = OrderedDict()
        self._max_entries = max_entries
        self._hits = 0
        self._misses = 0

    def get(self, gold: str, answer: str, timeout_s: float) -> Verdict | None:
        key = (gold, answer)
        with self._lock:
            entry = self._entries.get(key)
            usable = entry is not None and (entry[0][0] != STATUS_TIMEOUT or entry[1] >= timeout_s)
            if not usable:
                self._misses += 1
                return None
            self._entries.move_to_end(key)
            self._hits += 1
            return entry[0]

    def put(self, gold: str, answer: str, verdict: Verdict, timeout_s: float) -> None:
        if verdict[0] == STATUS_ERROR or len(gold) + len(answer) > MAX_KEY_CHARS:
            return
        with self._lock:
            self._entries[(gold, answer)] = (verdict, timeout_s)
            self._entries.move_to_end((gold, answer))
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def info(self) -> CacheInfo:
        with self._lock:
            return CacheInfo(self._hits, self._misses, len(self._entries), self._max_entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._hits = 0
            self._misses = 0
