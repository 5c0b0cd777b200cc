"""Presets carry the paper's settings with their sources; the config tree is typed and validated
once; overrides and stored configs go through the same checks."""

from __future__ import annotations

import json
import re

import pytest

from fipo_bench.cli import main
from fipo_bench.commands.presets import flatten
from fipo_bench.config import (
    apply_overrides,
    config_from_dict,
    config_to_dict,
    get_preset,
    leaf_keys,
    loss_with_overrides,
    preset_names,
    preset_sources,
)
from fipo_bench.errors import ConfigError

PAPER = ["fipo-qwen2.5-32b", "dapo-qwen2.5-32b", "fipo-qwen2.5-7b-math", "dapo-qwen2.5-7b-math"]
TINY = ["tiny-grpo", "tiny-dapo", "tiny-fipo"]


def values_of(name: str) -> dict[str, object]:
    return dict(flatten(config_to_dict(get_preset(name))))


def numbers_in(text: str) -> list[float]:
    return [float(n.replace(",", "")) for n in re.findall(r"\d[\d,]*(?:\.\d+)?(?:e-?\d+)?", text)]


@pytest.mark.parametrize("name", PAPER)
def test_every_value_citing_a_paper_table_is_a_number_that_table_row_quotes(name):
    """A source "[T3] safety threshold 3.0" must sit beside the value 3.0: the preset and its
    citation cannot drift apart (the numbers in the citation are read from Tables 2-3)."""
    values, cited = values_of(name), 0
    for key, source in preset_sources(name).items():
        if not source.startswith(("[T2]", "[T3]")) or isinstance(values[key], str):
            continue
        value = values[key]
        wanted = value if isinstance(value, list) else [value]
        quoted = numbers_in(source.split("]", 1)[1])
        assert all(float(v) in quoted for v in wanted), (key, value, source)
        cited += 1
    assert cited >= 12


def test_7b_fipo_preset_carries_table_3():
    """Table 3's FIPO column: G = 32, 10240 response tokens, overlong buffer 2048, safety 3.0,
    band [0.8, 1.2], mini-batch 64 of 512 prompts, each cited to Table 3."""
    cfg, sources = get_preset("fipo-qwen2.5-7b-math"), preset_sources("fipo-qwen2.5-7b-math")
    assert (cfg.rollout.samples_per_prompt, cfg.rollout.max_response_tokens) == (32, 10240)
    assert (cfg.rewards.overlong_buffer, cfg.loss.safety_threshold) == (2048, 3.0)
    assert (cfg.loss.influence_low, cfg.loss.influence_high) == (0.8, 1.2)
    assert cfg.updates_per_step == 8
    for key in ("rollout.samples_per_prompt", "rollout.max_response_tokens",
                "rewards.overlong_buffer", "loss.safety_threshold"):  # fmt: skip
        assert sources[key].startswith("[T3]"), key


@pytest.mark.parametrize(("fipo", "dapo"), [PAPER[:2], PAPER[2:]])
def test_paper_fipo_and_dapo_presets_share_every_setting_but_the_method_specific_ones(fipo, dapo):
    """Tables 2-3: 'most infrastructure and optimization settings remain identical'; only the
    rows under 'Method-Specific Settings' (and the launcher's gen batch) may differ."""
    method_specific = {
        "update.mini_batch_prompts", "rollout.samples_per_prompt", "rollout.max_response_tokens",
        "rewards.overlong_buffer", "rollout.gen_batch_multiplier",
    }  # fmt: skip
    a, b = values_of(fipo), values_of(dapo)
    differing = {k for k in a if a[k] != b[k] and not k.startswith("loss.")}
    assert differing <= method_specific
    assert a["loss.mode"] == "fipo" and b["loss.mode"] == "dapo"


def test_fipo_launchers_sample_4x_and_dapo_3x_prompts_per_generation_round():
    assert get_preset("fipo-qwen2.5-32b").rollout.gen_batch_multiplier == 4
    assert get_preset("dapo-qwen2.5-32b").rollout.gen_batch_multiplier == 3


def test_tiny_presets_differ_only_by_algorithm_conventions():
    """Batch geometry, optimiser, sampling, data and seed are identical, so they compare fairly."""
    algorithm_keys = {"rewards.overlong_buffer", "rollout.dynamic_sampling",
                      "rollout.max_gen_batches"}  # fmt: skip
    tiny = [values_of(n) for n in TINY]
    for key in tiny[0]:
        if key.startswith("loss.") or key in algorithm_keys:
            continue
        assert len({json.dumps(v[key]) for v in tiny}) == 1, key


@pytest.mark.parametrize("name", [*PAPER, "grpo", *TINY])
def test_every_preset_validates_and_fipo_presets_update_at_least_twice_per_step(name):
    cfg = get_preset(name)
    assert set(preset_sources(name)) <= set(leaf_keys())
    if cfg.algo == "fipo":
        assert cfg.updates_per_step >= 2


def test_a_fipo_config_with_one_update_per_step_is_refused_naming_both_fields():
    with pytest.raises(ConfigError) as info:
        apply_overrides(get_preset("tiny-fipo"), ["update.mini_batch_prompts=16"])
    message = str(info.value)
    assert "rollout.prompts_per_step" in message and "update.mini_batch_prompts" in message
    assert "DAPO" in message
    # the same geometry is fine for DAPO, whose weights are 1 by definition
    dapo = apply_overrides(get_preset("tiny-dapo"), ["update.mini_batch_prompts=16"])
    assert dapo.updates_per_step == 1


def test_overrides_are_parsed_by_type_and_applied():
    cfg = apply_overrides(
        get_preset("tiny-fipo"),
        [
            "loss.half_life=24",
            "optimiser.lr=1e-5",
            "optimiser.betas=[0.9,0.95]",
            "update.logprob_chunk_tokens=none",
            "rollout.dynamic_sampling=false",
            "loss.dual_clip_c=none",
            "run.seed=7",
            "rollout.data=2024",  # a text field keeps a number-like name as text
        ],
    )
    assert cfg.loss.half_life == 24.0 and cfg.optimiser.lr == 1e-5
    assert cfg.optimiser.betas == (0.9, 0.95)
    assert cfg.update.logprob_chunk_tokens is None and cfg.rollout.dynamic_sampling is False
    assert cfg.loss.dual_clip_c is None and cfg.run.seed == 7 and cfg.rollout.data == "2024"
    assert get_preset("tiny-fipo").loss.half_life == 16.0  # the preset itself is untouched


def test_the_algorithm_is_the_loss_mode_alone():
    cfg = apply_overrides(get_preset("tiny-dapo"), ["loss.mode=fipo"])
    assert cfg.algo == "fipo"
    with pytest.raises(ConfigError, match="unknown setting 'algo'"):
        apply_overrides(get_preset("tiny-dapo"), ["algo=fipo"])


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("foo=1", "unknown setting 'foo'"),
        ("lr=1e-5", "did you mean optimiser.lr"),
        ("loss.nope=1", "unknown setting 'loss.nope'"),
        ("optimiser.lr=abc", 'optimiser.lr="abc"'),
        ("optimiser.lr=-1", "optimiser.lr=-1"),
        ("optimiser.lr=1e30", "optimiser.lr=1e+30"),
        ("optimiser.betas=[0.9,1.5]", "optimiser.betas"),
        ("optimiser.betas=0.9", "optimiser.betas"),
        ("run.seed=1.5", "run.seed=1.5"),
        ("run.seed=true", "run.seed=true"),
        ("rollout.dynamic_sampling=maybe", "rollout.dynamic_sampling"),
        ("run.dtype=float16", "run.dtype"),
        ("loss.half_life=0", "loss.half_life=0"),
        ("loss.influence_low=2", "influence_low=2.0"),
        ("loss.agg=sum", "loss.agg"),
        ("loss.dual_clip_c=1", "loss.dual_clip_c=1"),
        ("rollout.top_p=1.5", "rollout.top_p=1.5"),
        ("rollout.temperature=Infinity", "rollout.temperature"),
        ("update.mini_batch_prompts=3", "update.mini_batch_prompts=3"),
        ("rollout.samples_per_prompt=1", "rollout.samples_per_prompt=1"),
        ("rewards.overlong_buffer=96", "rewards.overlong_buffer=96"),
        ("rollout.prompt_template=chatml", "rollout.prompt_template"),
        ("rollout.on_exhausted=retry", "rollout.on_exhausted"),
        ("rewards.reward_wrong=2", "reward_correct"),
        ("rewards.reward_fn=nocolon", "module:callable"),
        ("validation.every=3", "validation"),
        ("optimiser.lr", "key=value"),
    ],
)
def test_bad_overrides_raise_one_line_config_errors_naming_the_key(override, needle):
    with pytest.raises(ConfigError, match=re.escape(needle)) as info:
        apply_overrides(get_preset("tiny-fipo"), [override])
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", [*PAPER, "grpo", *TINY])
def test_config_round_trips_through_json(name):
    cfg = get_preset(name)
    assert config_from_dict(json.loads(json.dumps(config_to_dict(cfg)))) == cfg


def test_a_stored_config_is_checked_like_an_override():
    stored = config_to_dict(get_preset("tiny-fipo"))
    with pytest.raises(ConfigError, match="bogus"):
        config_from_dict({**stored, "bogus": 1})
    with pytest.raises(ConfigError, match=r"loss\.half_life=-1"):
        config_from_dict({**stored, "loss": {**stored["loss"], "half_life": -1}})
    del stored["update"]["micro_batch_seqs"]
    with pytest.raises(ConfigError, match="micro_batch_seqs"):
        config_from_dict(stored)
    with pytest.raises(ConfigError, match="must be a JSON object"):
        config_from_dict([1, 2, 3])  # type: ignore[arg-type]


def test_loss_overrides_alone_use_the_same_keys_as_training():
    loss = loss_with_overrides(get_preset("tiny-fipo").loss, ["loss.half_life=4"])
    assert loss.half_life == 4.0 and loss.influence_low == 0.8
    with pytest.raises(ConfigError, match=re.escape("unknown setting 'optimiser.lr'")):
        loss_with_overrides(loss, ["optimiser.lr=1e-5"])


def test_cli_lists_presets_and_shows_every_value_with_its_source(capsys):
    assert main(["presets"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in preset_names())
    assert main(["presets", "fipo-qwen2.5-7b-math"]) == 0
    shown = capsys.readouterr().out
    for key in ("loss.safety_threshold", "rollout.samples_per_prompt", "[T3]", "[dapo-7b]"):
        assert key in shown


def test_cli_unknown_preset_exits_2_with_one_line(capsys):
    assert main(["presets", "nope"]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "tiny-fipo" in err


@pytest.mark.parametrize("name", ["fipo-qwen2.5-32b", "tiny-fipo"])
def test_presets_format_verl_prints_the_overrides_that_reproduce_the_preset(capsys, name):
    from fipo_bench.integrations.verl_presets import verl_overrides

    assert main(["presets", name, "--format", "verl"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == verl_overrides(get_preset(name))
    assert "actor_rollout_ref.actor.policy_loss.loss_mode=fipo" in lines


def test_presets_format_is_checked(capsys):
    assert main(["presets", "tiny-fipo", "--format", "yaml"]) == 2
    assert "--format 'yaml'" in capsys.readouterr().err
    assert main(["presets", "--format", "verl"]) == 2
    assert "needs a preset NAME" in capsys.readouterr().err
