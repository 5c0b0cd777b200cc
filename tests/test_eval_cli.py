"""`fipo-bench eval` refuses bad input with one line and exit 2, and writes nothing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from fipo_bench.cli import main
from fipo_bench.store import Store


@pytest.fixture
def aime24_file(shared_benchmarks):
    return str(shared_benchmarks / "aime24.jsonl")


@pytest.fixture
def fake_model_dir(tmp_path):
    """A directory that looks like a model but whose config is not a causal LM (a ViT)."""
    folder = tmp_path / "vit"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "vit"}))
    (folder / "model.safetensors").write_bytes(b"\0" * 16)
    return folder


def _args(model, aime24_file, db, *extra):
    return [
        "eval",
        "--model",
        str(model),
        "--dataset",
        "aime24",
        "--data-file",
        aime24_file,
        "--n",
        "2",
        "--max-tokens",
        "8",
        "--engine",
        "hf",
        "--db",
        str(db),
        *extra,
    ]


@pytest.mark.parametrize(
    ("extra", "names"),
    [
        (["--n", "0"], "--n 0"),
        (["--temperature", "-0.5"], "--temperature -0.5"),
        (["--top-p", "0"], "--top-p 0.0"),
        (["--top-p", "1.01"], "--top-p 1.01"),
        (["--limit", "0"], "--limit 0"),
        (["--prompt", "fancy"], "--prompt 'fancy'"),
        (["--unit-samples", "0"], "--unit-samples 0"),
    ],
)
def test_bad_settings_exit_2_with_one_line_and_no_database(
    tmp_path, capsys, aime24_file, fake_model_dir, extra, names
):
    db = tmp_path / "e.duckdb"
    assert main(_args(fake_model_dir, aime24_file, db, *extra)) == 2
    err = capsys.readouterr().err.strip()
    assert names in err and "allowed" in err
    assert len(err.splitlines()) == 1
    assert not db.exists()


def test_missing_model_path_exits_2(tmp_path, capsys, aime24_file):
    db = tmp_path / "e.duckdb"
    assert main(_args(tmp_path / "no-such-model", aime24_file, db)) == 2
    err = capsys.readouterr().err.strip()
    assert "no-such-model" in err and "does not exist" in err and len(err.splitlines()) == 1
    assert not db.exists()


def test_dir_that_is_not_a_causal_lm_exits_2(tmp_path, capsys, aime24_file, fake_model_dir):
    db = tmp_path / "e.duckdb"
    assert main(_args(fake_model_dir, aime24_file, db)) == 2
    err = capsys.readouterr().err.strip()
    assert "'vit'" in err and "causal LM" in err and len(err.splitlines()) == 1
    assert not db.exists()


def test_unknown_dataset_exits_2(tmp_path, capsys, fake_model_dir):
    db = tmp_path / "e.duckdb"
    rc = main(["eval", "--model", str(fake_model_dir), "--dataset", "aime99", "--db", str(db)])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert "aime99" in err and "aime24" in err and len(err.splitlines()) == 1
    assert not db.exists()


def test_run_step_not_stored_exits_2_and_leaves_the_database_as_it_was(
    tmp_path, capsys, aime24_file
):
    db = tmp_path / "e.duckdb"
    store = Store(db)
    store.upsert_run("run-a", kind="train")
    store.add_checkpoint("run-a", 3, tmp_path / "ckpt3")
    before = store.table_counts()
    size = db.stat().st_size
    assert main(_args("run-a:7", aime24_file, db)) == 2
    err = capsys.readouterr().err.strip()
    assert "run-a:7" in err and "step 7" in err and len(err.splitlines()) == 1
    assert Store(db, read_only=True).table_counts() == before
    assert db.stat().st_size == size
    # Another run's name at a stored step is refused the same way.
    assert main(_args("run-b:3", aime24_file, db)) == 2
    assert "'run-b'" in capsys.readouterr().err


def test_vllm_requested_but_not_installed_exits_2_with_install_hint(tmp_path, aime24_file):
    """vLLM is hidden from this child process (sys.modules['vllm'] = None makes it unimportable),
    which is what a machine without the package looks like to the evaluator."""
    db = tmp_path / "e.duckdb"
    model = tmp_path / "no-model-needed"  # the engine check comes first
    args = _args(model, aime24_file, db)
    args[args.index("hf")] = "vllm"
    code = (
        "import sys; sys.modules['vllm'] = None\n"
        "from fipo_bench.cli import main\n"
        f"sys.exit(main({args!r}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip()
    assert "vllm is not installed" in err.lower() and "--engine hf" in err
    assert len(err.splitlines()) == 1
    assert not db.exists()


def test_database_that_is_not_duckdb_exits_2_untouched(
    tmp_path, capsys, aime24_file, fake_model_dir
):
    db = tmp_path / "e.duckdb"
    db.write_text("not a database")
    assert main(_args(fake_model_dir, aime24_file, db)) == 2
    assert "not a DuckDB" in capsys.readouterr().err
    assert db.read_text() == "not a database"


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--n", "3000000000"), ("--max-tokens", "3000000000"), ("--seed", "100000000000000000000")],
)
def test_sizes_past_the_store_column_types_exit_2_before_any_write(
    tmp_path, capsys, aime24_file, tiny_model_dir, flag, value
):
    """A real model and an existing database: the value is refused, naming the flag, and the
    file keeps exactly the rows it had (no problems row, no failed eval row)."""
    db = tmp_path / "e.duckdb"
    Store(db).upsert_run("other", kind="train")
    before = Store(db, read_only=True).table_counts()
    assert main(_args(tiny_model_dir, aime24_file, db, flag, value)) == 2
    err = capsys.readouterr().err.strip()
    assert f"{flag} {value}" in err and "allowed" in err and len(err.splitlines()) == 1
    assert Store(db, read_only=True).table_counts() == before


def test_a_hundred_million_samples_per_problem_is_refused_at_once(
    tmp_path, capsys, aime24_file, tiny_model_dir
):
    db = tmp_path / "e.duckdb"
    assert main(_args(tiny_model_dir, aime24_file, db, "--n", "100000000", "--limit", "1")) == 2
    err = capsys.readouterr().err.strip()
    assert "--n 100000000" in err and "10,000,000 samples per eval" in err
    assert len(err.splitlines()) == 1 and not db.exists()


def test_a_prompt_longer_than_the_model_context_is_refused_before_any_write(
    tmp_path, capsys, tiny_model_dir
):
    """A 5 MB problem line: the tiny model's context is 8,192 tokens."""
    data = tmp_path / "long.jsonl"
    rows = [{"id": "short", "problem": "1+1?", "answer": "2"},
            {"id": "huge", "problem": "x" * 5_000_000, "answer": "1"}]  # fmt: skip
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    db = tmp_path / "e.duckdb"
    Store(db).upsert_run("other", kind="train")
    before = Store(db, read_only=True).table_counts()
    args = ["eval", "--model", str(tiny_model_dir), "--dataset", str(data), "--n", "1",
            "--max-tokens", "4", "--engine", "hf", "--db", str(db)]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "'huge'" in err and "8192" in err and len(err.splitlines()) == 1
    assert Store(db, read_only=True).table_counts() == before


def test_a_model_whose_weights_fail_to_load_leaves_no_database_file(
    tmp_path, capsys, aime24_file, tiny_model_dir
):
    """A truncated model.safetensors passes every cheap check and fails in the engine: exit 2
    with one line naming the model, and no (empty) database created."""
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    db = tmp_path / "e.duckdb"
    assert main(_args(broken, aime24_file, db, "--limit", "1")) == 2
    err = capsys.readouterr().err.strip()
    assert str(broken) in err and len(err.splitlines()) == 1
    assert not db.exists()


def test_a_deeply_nested_json_line_is_one_data_error(tmp_path, capsys, fake_model_dir):
    data = tmp_path / "nested.jsonl"
    data.write_text('{"problem": "p", "answer": "1", "x": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    db = tmp_path / "e.duckdb"
    args = ["eval", "--model", str(fake_model_dir), "--dataset", str(data), "--db", str(db)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "nested.jsonl line 1" in err and "nested too deeply" in err
    assert len(err.splitlines()) == 1 and not db.exists()
