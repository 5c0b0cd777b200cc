"""One colour per training run and per evaluated checkpoint, the same on every dashboard page
and in the HTML report.

A colour depends only on what the database holds, never on what a page selected or the order
rows came in: the runs in the order they were created take plotly's D3 palette in turn; an eval
of one of a run's checkpoints takes its run's colour, the run's last evaluated step in the pure
colour and earlier steps progressively mixed with white (up to EARLIEST_MIX at its first), so a
run's checkpoints read as one family that darkens with training; a model that is no run's
checkpoint (a base model folder, a hub id) takes a grey, in name order.

Pure: callers read the rows (every run id, every eval's run_id + step and model) through the
store and pass them in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from plotly.colors import qualitative

RUN_PALETTE = tuple(c.lower() for c in qualitative.D3)  # #rrggbb, as mix_with_white writes
GREYS = ("#636363", "#969696", "#252525", "#bdbdbd")
EARLIEST_MIX = 0.5  # share of white in the colour of a run's first evaluated step


def mix_with_white(colour: str, share: float) -> str:
    """`colour` (#rrggbb) with `share` (0..1) of white mixed in."""
    rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    mixed = [round(c + (255 - c) * share) for c in rgb]
    return "#" + "".join(f"{c:02x}" for c in mixed)


@dataclass(frozen=True)
class SeriesColours:
    runs: Mapping[str, str]  # run_id -> colour
    evals: Mapping[str, str]  # eval_id -> colour

    def run(self, run_id: str) -> str:
        """The run's colour; a run not in the database gets the first grey."""
        return self.runs.get(run_id, GREYS[0])

    def eval(self, eval_id: str) -> str:
        return self.evals.get(eval_id, GREYS[0])


def _step(row: Mapping) -> int | None:
    step = row.get("step")
    if step is None or step != step:  # None, or the NaN pandas puts in an empty cell
        return None
    return int(step)


def series_colours(run_ids: Sequence[str], eval_rows: Sequence[Mapping]) -> SeriesColours:
    """Colours of every run and eval in a database.

    run_ids: every run, in creation order (Store.list_runs order). eval_rows: every eval, each
    with eval_id, run_id and step of the checkpoint it evaluated (None for a model that is no
    run's checkpoint) and model_path (what groups those other models).
    """
    runs = {run_id: RUN_PALETTE[i % len(RUN_PALETTE)] for i, run_id in enumerate(run_ids)}
    steps: dict[str, set[int]] = {}
    others: set[str] = set()
    for row in eval_rows:
        run_id, step = row.get("run_id"), _step(row)
        if run_id in runs and step is not None:
            steps.setdefault(run_id, set()).add(step)
        else:
            others.add(str(row.get("model_path") or row["eval_id"]))
    greys = {model: GREYS[i % len(GREYS)] for i, model in enumerate(sorted(others))}
    shade: dict[tuple[str, int], str] = {}
    for run_id, run_steps in steps.items():
        ordered = sorted(run_steps)
        last = len(ordered) - 1
        for rank, step in enumerate(ordered):
            share = EARLIEST_MIX * (last - rank) / last if last else 0.0
            shade[(run_id, step)] = mix_with_white(runs[run_id], share)
    evals = {}
    for row in eval_rows:
        run_id, step = row.get("run_id"), _step(row)
        if run_id in runs and step is not None:
            evals[str(row["eval_id"])] = shade[(run_id, step)]
        else:
            evals[str(row["eval_id"])] = greys[str(row.get("model_path") or row["eval_id"])]
    return SeriesColours(runs, evals)
