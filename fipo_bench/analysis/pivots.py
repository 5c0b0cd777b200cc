"""Self-reflection pivots of stored trajectories, found three ways (stored in `pivots`).

- keyword: phrases of a reflection lexicon ("wait", "let me re-check", ...), matched
  case-insensitively as whole words on the concatenated token texts, and mapped to every token
  whose characters the match overlaps (a phrase split over several tokens covers all of them).
  One row per covered token: label = the lexicon phrase, score = the hit's 1-based number in
  its sample, so the rows of one hit share a score. Needs token texts only (no credit).
- credit: tokens where future_kl changes sign, or where |future_kl| is in the top
  `credit_top_percent` of its own trajectory (label says which; score = future_kl).
- entropy: "forking" tokens whose entropy is in the top `entropy_top_percent` of all response
  tokens of the eval (score = entropy).

A sample's reflection count is its number of keyword hits; an eval's reflection rate is the
share of its samples with at least one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from fipo_bench.analysis.batching import plan_chunks
from fipo_bench.analysis.settings import PivotSettings
from fipo_bench.reflection import Lexicon

PIVOT_KINDS = ("keyword", "credit", "entropy")
# Token rows read and written per store transaction.
PIVOT_CHUNK_TOKENS = 1 << 19


@dataclass(frozen=True)
class KeywordHit:
    label: str  # the lexicon phrase that matched
    start_char: int
    end_char: int  # exclusive
    first_pos: int  # first token the match overlaps
    last_pos: int  # last token the match overlaps (inclusive)


def keyword_hits(token_texts: Sequence[str], lexicon: Lexicon) -> list[KeywordHit]:
    """Hits of the lexicon on the joined token texts, each mapped to the tokens it covers.

    Offsets come from the token texts themselves, so positions are exact whatever the
    tokenizer (a token may hold several characters, or a phrase span several tokens)."""
    if not token_texts:
        return []
    lengths = np.fromiter((len(t) for t in token_texts), dtype=np.int64, count=len(token_texts))
    ends = np.cumsum(lengths)
    starts = ends - lengths
    text = "".join(token_texts)
    hits = []
    for match in lexicon.pattern.finditer(text):
        a, b = match.span()
        first = int(np.searchsorted(ends, a, side="right"))  # first token ending after a
        last = int(np.searchsorted(starts, b, side="left")) - 1  # last token starting before b
        label = lexicon.phrases[int(match.lastgroup[1:])]  # type: ignore[index]
        hits.append(KeywordHit(label, a, b, first, last))
    return hits


def credit_pivots(
    future_kl: np.ndarray, *, top_percent: float, sign_changes: bool
) -> list[tuple[int, str, float]]:
    """(pos, label, future_kl) of one trajectory's credit pivots, by pos.

    top: |future_kl| >= the k-th largest, k = ceil(n * top_percent / 100) (at least 1), and
    non-zero (an unmoved policy has no pivots); sign change: the sign differs from that of the
    last earlier non-zero token (zeros carry no sign)."""
    fkl = np.asarray(future_kl, dtype=np.float64)
    n = len(fkl)
    if n == 0:
        return []
    magnitude = np.abs(fkl)
    k = max(1, math.ceil(n * top_percent / 100.0))
    threshold = np.partition(magnitude, n - k)[n - k]
    top = (magnitude >= threshold) & (magnitude > 0)
    sign = np.sign(fkl)
    flips = np.zeros(n, dtype=bool)
    if sign_changes and n > 1:
        # Compare with the last non-zero value before t: a zero in between carries no sign.
        last_signed = np.maximum.accumulate(np.where(sign != 0, np.arange(n), -1))
        before = last_signed[:-1]
        flips[1:] = (before >= 0) & (sign[1:] * sign[np.maximum(before, 0)] < 0)
    out = []
    for pos in np.flatnonzero(top | flips):
        label = "+".join(
            name for name, on in (("sign_change", flips[pos]), ("top_abs", top[pos])) if on
        )
        out.append((int(pos), label, float(fkl[pos])))
    return out


def entropy_pivots(entropy: np.ndarray, threshold: float) -> list[tuple[int, float]]:
    """(pos, entropy) of the tokens at or above the eval-wide threshold (NaN never is)."""
    values = np.asarray(entropy, dtype=np.float64)
    return [(int(p), float(values[p])) for p in np.flatnonzero(values >= threshold)]


@dataclass(frozen=True)
class PivotSummary:
    eval_id: str
    kinds: tuple[str, ...]
    rows_written: dict[str, int]
    reflection_counts: dict[int, int]  # sample_id -> keyword hits
    entropy_threshold: float | None

    @property
    def reflection_rate(self) -> float:
        """Share of samples with >= 1 keyword hit (NaN for an eval without samples)."""
        if not self.reflection_counts:
            return math.nan
        return sum(c > 0 for c in self.reflection_counts.values()) / len(self.reflection_counts)


def _append(rows: tuple[list, ...], *values: object) -> None:
    for column, value in zip(rows, values, strict=True):
        column.append(value)


def _rows(
    sample_ids: list[int],
    positions: list[int],
    labels: list[str],
    scores: list[float],
    *,
    kind: str,
) -> pa.Table:
    return pa.table(
        {
            "sample_id": pa.array(sample_ids, pa.int64()),
            "pos": pa.array(positions, pa.int32()),
            "kind": pa.array([kind] * len(sample_ids), pa.string()),
            "label": pa.array(labels, pa.string()),
            "score": pa.array(scores, pa.float64()),
        }
    )


def _per_sample(
    table: pa.Table, column: str
) -> Iterable[tuple[int, np.ndarray, list | np.ndarray]]:
    """(sample_id, positions, values) per sample from token rows ordered by (sample_id, pos);
    rows whose `column` is NULL are left out (a float column of an uncredited token)."""
    if column != "token":
        table = table.filter(table[column].is_valid())
    sids = table["sample_id"].to_numpy()
    if len(sids) == 0:
        return
    positions = table["pos"].to_numpy()
    if column == "token":
        values: list | np.ndarray = [v if v is not None else "" for v in table[column].to_pylist()]
    else:
        values = table[column].to_numpy(zero_copy_only=False).astype(np.float64)
    starts = np.flatnonzero(np.r_[True, sids[1:] != sids[:-1]])
    ends = np.r_[starts[1:], len(sids)]
    for a, b in zip(starts, ends, strict=True):
        yield int(sids[a]), positions[a:b], values[a:b]


def find_pivots(
    store,
    eval_id: str,
    settings: PivotSettings | None = None,
    *,
    kinds: Sequence[str] = PIVOT_KINDS,
) -> PivotSummary:
    """Find and store the pivots of every stored sample of `eval_id`; returns a summary.

    credit and entropy pivots need stored credit (`fipo-bench credit`): without it they are
    skipped (not in `summary.kinds`). Rerunning replaces every stored pivot of each kind it
    finds, for every sample of the eval (a sample with no new hits is left with none).
    """
    from fipo_bench.errors import ConfigError
    from fipo_bench.store.analysis_queries import (
        credit_progress,
        eval_entropy_quantile,
        token_columns,
    )

    settings = settings or PivotSettings()
    unknown = [k for k in kinds if k not in PIVOT_KINDS]
    if unknown:
        raise ConfigError(
            f"pivot kind {unknown[0]!r} is unknown; allowed: {', '.join(PIVOT_KINDS)}"
        )
    lexicon = Lexicon.compile(settings.lexicon)
    samples = [s for s in credit_progress(store, eval_id).to_pylist() if s["n_rows"] > 0]
    has_credit = any(s["n_future_kl"] > 0 for s in samples)
    active = tuple(k for k in kinds if k != "credit" or has_credit)
    threshold = None
    if "entropy" in active:
        threshold = eval_entropy_quantile(store, eval_id, 1.0 - settings.entropy_top_percent / 100)
        if threshold is None:
            active = tuple(k for k in active if k != "entropy")
    columns = [c for k, c in (("keyword", "token"), ("credit", "future_kl"), ("entropy", "entropy"))
               if k in active]  # fmt: skip
    written = dict.fromkeys(active, 0)
    counts: dict[int, int] = {}
    for chunk in plan_chunks([s["n_rows"] for s in samples], PIVOT_CHUNK_TOKENS):
        ids = [samples[i]["sample_id"] for i in chunk]
        tokens = token_columns(store, ids, columns)
        batches = []
        if "keyword" in active:
            rows: tuple[list, ...] = ([], [], [], [])
            for sid, pos, texts in _per_sample(tokens, "token"):
                hits = keyword_hits(texts, lexicon)  # type: ignore[arg-type]
                counts[sid] = len(hits)
                for number, hit in enumerate(hits, start=1):
                    for i in range(hit.first_pos, hit.last_pos + 1):
                        _append(rows, sid, int(pos[i]), hit.label, float(number))
            batches.append(("keyword", _rows(*rows, kind="keyword")))
        if "credit" in active:
            rows = ([], [], [], [])
            for sid, pos, fkl in _per_sample(tokens, "future_kl"):
                for i, label, score in credit_pivots(
                    fkl,  # type: ignore[arg-type]
                    top_percent=settings.credit_top_percent,
                    sign_changes=settings.credit_sign_changes,
                ):
                    _append(rows, sid, int(pos[i]), label, score)
            batches.append(("credit", _rows(*rows, kind="credit")))
        if "entropy" in active:
            assert threshold is not None
            label = f"entropy_top{settings.entropy_top_percent:g}%"
            rows = ([], [], [], [])
            for sid, pos, ent in _per_sample(tokens, "entropy"):
                for i, score in entropy_pivots(ent, threshold):  # type: ignore[arg-type]
                    _append(rows, sid, int(pos[i]), label, score)
            batches.append(("entropy", _rows(*rows, kind="entropy")))
        for kind, table in batches:
            written[kind] += table.num_rows
        # One transaction per chunk that replaces every pivot of these samples of these kinds:
        # a sample without new hits (another lexicon, a higher threshold) keeps no stale ones.
        if batches:
            store.write_pivots(pa.concat_tables([t for _, t in batches]), replace=(ids, active))
    for s in samples:
        counts.setdefault(s["sample_id"], 0)
    store.upsert_analysis(
        eval_id,
        "pivots",
        {**settings.identity(), "kinds": list(active), "entropy_threshold": threshold},
    )
    return PivotSummary(eval_id, active, written, counts, threshold)
