"""Eval keys: the same inputs give the same eval_id and unit seeds; any change gives new ones."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from fipo_bench.errors import ConfigError
from fipo_bench.eval.fingerprint import model_dir_fingerprint
from fipo_bench.eval.identity import eval_id, problems_fingerprint, unit_seed
from fipo_bench.eval.plan import plan_units
from fipo_bench.eval.settings import EvalSettings
from fipo_bench.tasks.problem import Problem


def _model_dir(root, weights: bytes):
    root.mkdir()
    (root / "config.json").write_text('{"model_type": "qwen2"}')
    (root / "model.safetensors").write_bytes(weights)
    (root / "README.md").write_text("notes")
    return root


def test_fingerprint_follows_content_not_path_or_unrelated_files(tmp_path):
    weights = bytes(range(256)) * 20_000  # 5 MB: spans all three hashed windows
    a = _model_dir(tmp_path / "a", weights)
    b = tmp_path / "b"
    shutil.copytree(a, b)
    (b / "README.md").write_text("other notes")
    assert model_dir_fingerprint(a) == model_dir_fingerprint(b)

    changed = bytearray(weights)
    changed[len(weights) // 2] ^= 1  # one bit in the middle window
    (b / "model.safetensors").write_bytes(bytes(changed))
    assert model_dir_fingerprint(a) != model_dir_fingerprint(b)

    shutil.rmtree(b)
    shutil.copytree(a, b)
    (b / "config.json").write_text('{"model_type": "qwen2", "hidden_size": 8}')
    assert model_dir_fingerprint(a) != model_dir_fingerprint(b)


def _key(settings: EvalSettings, **over) -> str:
    args = {
        "model_identity": "/m#abc",
        "engine": "hf",
        "prompt_template": "dapo",
        "problems_key": "p1",
    } | over
    return eval_id(args.pop("model_identity"), settings, **args)


def test_eval_id_is_stable_and_changes_with_every_input():
    base = EvalSettings(dataset="aime24", n=2, max_tokens=16)
    assert _key(base) == _key(EvalSettings(dataset="aime24", n=2, max_tokens=16))
    variants = {
        _key(dataclasses.replace(base, n=3)),
        _key(dataclasses.replace(base, temperature=0.5)),
        _key(dataclasses.replace(base, top_p=0.9)),
        _key(dataclasses.replace(base, max_tokens=17)),
        _key(dataclasses.replace(base, seed=1)),
        _key(dataclasses.replace(base, dataset="aime25")),
        _key(base, model_identity="/m#abd"),
        _key(base, engine="vllm"),
        _key(base, prompt_template="boxed"),
        _key(base, problems_key="p2"),
    }
    assert _key(base) not in variants
    assert len(variants) == 10


def test_problems_fingerprint_sees_prompt_and_answer():
    p = [Problem("aime24", "1", "What?", "25")]
    assert problems_fingerprint(p, ["x"]) == problems_fingerprint(list(p), ["x"])
    assert problems_fingerprint(p, ["x"]) != problems_fingerprint(p, ["y"])
    q = [Problem("aime24", "1", "What?", "26")]
    assert problems_fingerprint(p, ["x"]) != problems_fingerprint(q, ["x"])


def test_unit_seed_depends_on_seed_and_problem_ids_only():
    assert unit_seed(0, ["1", "2"]) == unit_seed(0, ["1", "2"])
    assert unit_seed(0, ["1", "2"]) != unit_seed(1, ["1", "2"])
    assert unit_seed(0, ["1", "2"]) != unit_seed(0, ["1", "3"])
    assert 0 <= unit_seed(123, ["x"]) < 2**31


@pytest.mark.parametrize(
    ("field", "value", "flag"),
    [
        ("n", 0, "--n 0"),
        ("temperature", -0.1, "--temperature -0.1"),
        ("top_p", 0.0, "--top-p 0.0"),
        ("top_p", 1.5, "--top-p 1.5"),
        ("limit", 0, "--limit 0"),
        ("max_tokens", 0, "--max-tokens 0"),
        ("engine", "tgi", "--engine 'tgi'"),
        ("prompt", "chat", "--prompt 'chat'"),
    ],
)
def test_settings_refuse_bad_values_naming_them(field, value, flag):
    with pytest.raises(ConfigError, match="^" + flag.replace("(", r"\(")) as info:
        EvalSettings(dataset="aime24", **{field: value})
    assert "\n" not in str(info.value) and "allowed" in str(info.value)


def test_problems_per_unit_keeps_whole_problems():
    assert EvalSettings(dataset="x", n=32).problems_per_unit == 2
    assert EvalSettings(dataset="x", n=100).problems_per_unit == 1
    assert EvalSettings(dataset="x", n=2).problems_per_unit == 32


def test_units_cover_every_sample_once_and_never_exceed_unit_samples():
    """n larger than a unit: each problem's samples are split, so one engine call never holds
    more than unit_samples responses, whatever --n is."""
    problems = [Problem("x", str(i), "q", "1") for i in range(3)]
    for n, unit in ((5, 64), (64, 64), (130, 64), (7, 2)):
        settings = EvalSettings(dataset="x", n=n, unit_samples=unit)
        units = plan_units(len(problems), settings)
        keys = [key for u in units for key in u.keys(problems)]
        assert sorted(keys) == sorted((p.problem_id, k) for p in problems for k in range(n))
        assert max(len(u.problems) * u.n_samples for u in units) <= unit


def test_split_problems_get_a_new_eval_id_and_one_seed_per_chunk():
    whole = EvalSettings(dataset="x", n=64, unit_samples=64)
    split = EvalSettings(dataset="x", n=64, unit_samples=32)
    assert _key(whole) != _key(split)
    assert unit_seed(0, ["1"], 0) == unit_seed(0, ["1"])  # whole-problem seeds are unchanged
    assert unit_seed(0, ["1"], 32) != unit_seed(0, ["1"], 0)


@pytest.mark.parametrize(
    ("field", "value", "flag"),
    [
        ("n", 3_000_000_000, "--n 3000000000"),
        ("max_tokens", 3_000_000_000, "--max-tokens 3000000000"),
        ("seed", 10**20, "--seed 100000000000000000000"),
        ("seed", -1, "--seed -1"),
        ("unit_samples", 2**31, "--unit-samples 2147483648"),
    ],
)
def test_sizes_past_their_storage_type_are_refused_naming_the_range(field, value, flag):
    """n and max_tokens are INTEGER columns and seed a BIGINT: a larger value must fail here,
    not in DuckDB after rows were written."""
    with pytest.raises(ConfigError, match="^" + flag) as info:
        EvalSettings(dataset="aime24", **{field: value})
    assert "allowed: " in str(info.value) and "\n" not in str(info.value)
