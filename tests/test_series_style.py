"""Run and checkpoint colours: one per run and checkpoint, decided by the database's contents
alone (never by a page's selection or row order), a run's checkpoints one family."""

from __future__ import annotations

import random

from fipo_bench.analysis.series_style import (
    EARLIEST_MIX,
    GREYS,
    RUN_PALETTE,
    mix_with_white,
    series_colours,
)

RUNS = ["grpo-1", "dapo-1", "fipo-1"]
EVALS = [
    {"eval_id": "e-base", "run_id": None, "step": None, "model_path": "/m/base"},
    {"eval_id": "e-base-aime", "run_id": None, "step": None, "model_path": "/m/base"},
    {"eval_id": "e-hub", "run_id": None, "step": None, "model_path": "Qwen/Qwen2.5-7B"},
    {"eval_id": "e-dapo-12", "run_id": "dapo-1", "step": 12, "model_path": "/r/d/12"},
    {"eval_id": "e-fipo-4", "run_id": "fipo-1", "step": 4, "model_path": "/r/f/4"},
    {"eval_id": "e-fipo-8", "run_id": "fipo-1", "step": 8, "model_path": "/r/f/8"},
    {"eval_id": "e-fipo-12", "run_id": "fipo-1", "step": 12, "model_path": "/r/f/12"},
    {"eval_id": "e-fipo-12-aime", "run_id": "fipo-1", "step": 12, "model_path": "/r/f/12"},
]


def test_runs_take_the_palette_in_creation_order_and_evals_their_runs_colour():
    colours = series_colours(RUNS, EVALS)
    assert [colours.run(r) for r in RUNS] == list(RUN_PALETTE[:3])
    assert colours.eval("e-dapo-12") == colours.run("dapo-1")  # its only evaluated step
    assert colours.eval("e-fipo-12") == colours.run("fipo-1")  # the last step: pure colour
    # One colour per checkpoint, whatever the dataset it was evaluated on.
    assert colours.eval("e-fipo-12-aime") == colours.eval("e-fipo-12")
    assert colours.eval("e-base-aime") == colours.eval("e-base")


def test_earlier_checkpoints_are_lighter_shades_of_the_run():
    colours = series_colours(RUNS, EVALS)
    fipo = colours.run("fipo-1")
    assert colours.eval("e-fipo-4") == mix_with_white(fipo, EARLIEST_MIX)
    assert colours.eval("e-fipo-8") == mix_with_white(fipo, EARLIEST_MIX / 2)

    def brightness(colour: str) -> int:
        return sum(int(colour[i : i + 2], 16) for i in (1, 3, 5))

    shades = [colours.eval(e) for e in ("e-fipo-4", "e-fipo-8", "e-fipo-12")]
    assert brightness(shades[0]) > brightness(shades[1]) > brightness(shades[2])


def test_models_outside_runs_are_grey_and_distinct():
    colours = series_colours(RUNS, EVALS)
    base, hub = colours.eval("e-base"), colours.eval("e-hub")
    assert {base, hub} <= set(GREYS) and base != hub
    assert base not in RUN_PALETTE and hub not in RUN_PALETTE


def test_colours_do_not_depend_on_row_order():
    expected = series_colours(RUNS, EVALS)
    rows = list(EVALS)
    for seed in range(5):
        random.Random(seed).shuffle(rows)
        shuffled = series_colours(RUNS, rows)
        assert shuffled.evals == expected.evals and shuffled.runs == expected.runs


def test_mix_with_white_ends():
    assert mix_with_white("#1f77b4", 0.0) == "#1f77b4"
    assert mix_with_white("#1f77b4", 1.0) == "#ffffff"
    assert mix_with_white("#000000", 0.5) == "#808080"
