"""Bad input to `fipo-bench train`: one line, exit 2, and nothing written (no db, no run dir)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fipo_bench.cli import main
from fipo_bench.store import Store


@pytest.fixture(scope="module")
def model_dir(request) -> Path:
    return Path(request.getfixturevalue("tiny_model_quick"))


def _argv(model: Path, out: Path, db: Path, *extra: str, preset: str = "tiny-grpo") -> list[str]:
    return [
        "train", "--preset", preset, "--model", str(model), "--steps", "1",
        "--out", str(out), "--db", str(db), "--quiet", *extra,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "preset", "message"),
    [
        ((), "tiny-nope", "unknown preset 'tiny-nope'"),
        (("--set", "loss.nope=1"), "tiny-fipo", "unknown setting 'loss.nope'"),
        (("--set", "optimiser.lr=fast"), "tiny-fipo", 'optimiser.lr="fast" is invalid'),
        (("--set", "lr=1e-5"), "tiny-fipo", "did you mean optimiser.lr"),
        (("--set", "optimiser.lr=1e30"), "tiny-fipo", "optimiser.lr=1e+30 is invalid"),
        (("--set", "loss.half_life=0"), "tiny-fipo", "half_life"),
        (("--set", "rollout.prompts_per_step=3"), "tiny-fipo", "mini_batch_prompts=4 must divide"),
        (("--set", "optimiser.lr"), "tiny-fipo", "key=value"),
        (("--engine", "tpu"), "tiny-fipo", "--engine 'tpu'"),
        (("--report-to", "mlflow"), "tiny-fipo", "--report-to 'mlflow'"),
        (("--steps", "0"), "tiny-fipo", "--steps 0"),
        (("--data", "no-such-set"), "tiny-fipo", "unknown dataset 'no-such-set'"),
    ],
)
def test_bad_settings_exit_2_and_write_nothing(model_dir, tmp_path, capsys, extra, preset, message):
    out, db = tmp_path / "run", tmp_path / "fipo.duckdb"
    assert main(_argv(model_dir, out, db, *extra, preset=preset)) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not out.exists() and not db.exists()


def test_missing_or_unloadable_model_exits_2_and_writes_nothing(tmp_path, capsys):
    out, db = tmp_path / "run", tmp_path / "fipo.duckdb"
    assert main(_argv(tmp_path / "absent", out, db)) == 2
    assert "does not exist" in capsys.readouterr().err
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"model_type": "qwen2"}))  # no weights
    assert main(_argv(broken, out, db)) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot load" in err and len(err.splitlines()) == 1, err
    assert not out.exists() and not db.exists()


def test_out_dir_holding_another_run_is_refused_untouched(model_dir, tmp_path, capsys):
    out, db = tmp_path / "run", tmp_path / "fipo.duckdb"
    small = ["--set", "rollout.prompts_per_step=2", "--set", "update.mini_batch_prompts=1",
             "--set", "rollout.samples_per_prompt=2", "--set", "rollout.max_response_tokens=8",
             "--set", "rewards.overlong_buffer=0"]  # fmt: skip
    assert main(_argv(model_dir, out, db, *small)) == 0
    run_json = (out / "run.json").read_text()
    counts = Store(db, read_only=True).table_counts()
    listing = sorted(p.relative_to(out) for p in out.rglob("*"))
    capsys.readouterr()
    # same folder, different algorithm: refused even with --resume
    assert main(_argv(model_dir, out, db, *small, "--resume", preset="tiny-fipo")) == 2
    err = capsys.readouterr().err
    assert "holds a different run (config.loss.mode was 'grpo', now 'fipo'; " in err
    # same run without --resume: refused (it would silently overwrite)
    assert main(_argv(model_dir, out, db, *small)) == 2
    assert "pass --resume" in capsys.readouterr().err
    # a file where the folder should be
    assert main(_argv(model_dir, tmp_path / "fipo.duckdb", tmp_path / "other.duckdb")) == 2
    assert (out / "run.json").read_text() == run_json
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == listing
    assert Store(db, read_only=True).table_counts() == counts
    assert not (tmp_path / "other.duckdb").exists()
