"""run_eval_with_engine: a validation eval on an engine the caller holds (the trainer's policy),
linked to its run and step, resumable, and the engine left open."""

from __future__ import annotations

import pytest

from fipo_bench.engines.hf import HFEngine
from fipo_bench.errors import ModelError
from fipo_bench.eval import EvalSettings, run_eval_with_engine
from fipo_bench.store import Store

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    return HFEngine.from_pretrained(str(tiny_model_dir))


def _settings(**over) -> EvalSettings:
    return EvalSettings(dataset="synthetic", n=2, max_tokens=24, limit=2, engine="hf", **over)


def test_validation_is_stored_under_run_and_step_and_a_rerun_reuses_it(tmp_path, engine):
    db = tmp_path / "v.duckdb"
    first = run_eval_with_engine(
        engine, model_label="run-a@3", settings=_settings(), db_path=db, run_id="run-a", step=3
    )
    assert first.generated_samples == 4 and first.reused_samples == 0
    store = Store(db, read_only=True)
    row = store.get_eval(first.model.eval_id)
    assert (row["run_id"], row["step"], row["status"], row["engine"]) == ("run-a", 3, "done", "hf")
    assert store.eval_samples(first.model.eval_id).num_rows == 4

    again = run_eval_with_engine(
        engine, model_label="run-a@3", settings=_settings(), db_path=db, run_id="run-a", step=3
    )
    assert again.model.eval_id == first.model.eval_id
    assert (again.generated_samples, again.reused_samples) == (0, 4)
    assert engine.model is not None  # still usable by the caller

    later = run_eval_with_engine(
        engine, model_label="run-a@4", settings=_settings(), db_path=db, run_id="run-a", step=4
    )
    assert later.model.eval_id != first.model.eval_id and later.generated_samples == 4


def test_a_prompt_past_the_engines_context_writes_nothing(tmp_path, engine):
    data = tmp_path / "long.jsonl"
    data.write_text('{"problem": "' + "1" * 9000 + '", "answer": "1"}\n')
    db = tmp_path / "v.duckdb"
    settings = EvalSettings(dataset=str(data), n=1, max_tokens=4, engine="hf")
    with pytest.raises(ModelError, match="context of --model run-a@1 is 8192"):
        run_eval_with_engine(
            engine, model_label="run-a@1", settings=settings, db_path=db, run_id="run-a", step=1
        )
    assert not db.exists()
