"""The verl plug-in: both registration routes, the loss equals fipo_bench.algos (and verl's own
`vanilla` when f = 1), sharding invariance, presets as verl overrides, and every bad input.

verl 0.9.1 needs its own venv (scripts/install_integrations.sh builds .venv-verl; scripts/test.sh
runs this file there with FIPO_BENCH_REQUIRE_VERL=1, where nothing may skip). In a venv without
verl only the tests that need no verl run (the missing-extra error among them).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from fipo_bench.algos.losses import LossConfig, agg_normalizer, policy_loss
from fipo_bench.config import get_preset, preset_names
from fipo_bench.errors import ConfigError
from fipo_bench.integrations.verl_presets import verl_overrides

HAVE_VERL = importlib.util.find_spec("verl") is not None
if os.environ.get("FIPO_BENCH_REQUIRE_VERL") == "1" and not HAVE_VERL:
    raise RuntimeError("FIPO_BENCH_REQUIRE_VERL=1 but verl is not importable in this venv")
needs_verl = pytest.mark.skipif(
    not HAVE_VERL, reason="verl is not installed here; scripts/test.sh runs these in .venv-verl"
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
VERL_AGG_MODES = [
    "token-mean",
    "token-sum",
    "seq-mean-token-mean",
    "seq-mean-token-sum",
    "seq-mean-token-sum-norm",
]
SHARED_AGG_MODES = ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"]
POLICY_LOSS = "actor_rollout_ref.actor.policy_loss"
TARGET = f"{POLICY_LOSS}._target_=fipo_bench.integrations.verl.FipoPolicyLossConfig"
FIPO_KNOBS = {
    "half_life": 16.0,
    "influence_low": 0.8,
    "influence_high": 1.2,
    "safety_threshold": 3.0,
    "safety_mode": "clamp",
    "drop_dual_clipped_seqs": True,
}


def fipo_overrides(agg: str = "token-mean", **knobs) -> tuple[str, ...]:
    values = {**FIPO_KNOBS, **knobs}
    return (
        f"{POLICY_LOSS}.loss_mode=fipo",
        TARGET,
        f"actor_rollout_ref.actor.loss_agg_mode={agg}",
        *(
            f"+{POLICY_LOSS}.{k}={str(v).lower() if isinstance(v, bool) else v}"
            for k, v in values.items()
        ),
    )


@functools.lru_cache(maxsize=32)
def composed(overrides: tuple[str, ...]):
    """verl's own ppo_trainer config with `overrides` (hydra compose, as main_ppo does)."""
    from hydra import compose, initialize_config_module

    base = (
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=2",
        "actor_rollout_ref.actor.clip_ratio_low=0.2",
        "actor_rollout_ref.actor.clip_ratio_high=0.28",
        "actor_rollout_ref.actor.clip_ratio_c=10.0",
    )
    with initialize_config_module(config_module="verl.trainer.config", version_base=None):
        return compose(config_name="ppo_trainer", overrides=[*base, *overrides])


def actor_config(overrides: tuple[str, ...]):
    """The typed actor config verl's workers build (`omega_conf_to_dataclass` via _target_)."""
    from verl.utils.config import omega_conf_to_dataclass

    return omega_conf_to_dataclass(composed(overrides).actor_rollout_ref.actor)


def moved_batch(batch: int = 8, length: int = 48, seed: int = 0):
    """float64 old/current log-probs of a moved policy with a few far-moved tokens (so the dual
    clip, the outlier mask, the safety rule and the sequence drop all act), token advantages,
    ragged response mask (one response empty)."""
    gen = torch.Generator().manual_seed(seed)
    old = -torch.rand(batch, length, generator=gen, dtype=torch.float64) * 3
    shift = 0.3 * torch.randn(batch, length, generator=gen, dtype=torch.float64)
    spikes = torch.rand(batch, length, generator=gen, dtype=torch.float64) < 0.06
    logp = (old + shift + 3.0 * spikes).requires_grad_(True)
    adv = torch.randn(batch, generator=gen, dtype=torch.float64)[:, None].expand(batch, length)
    lengths = torch.randint(length // 4, length + 1, (batch,), generator=gen)
    lengths[-1] = 0
    mask = torch.arange(length)[None, :] < lengths[:, None]
    return logp, old, adv.contiguous(), mask


def call(name: str, logp, old, adv, mask, agg: str, config):
    from verl.trainer.ppo.core_algos import get_policy_loss_fn

    return get_policy_loss_fn(name)(
        old_log_prob=old,
        log_prob=logp,
        advantages=adv,
        response_mask=mask,
        loss_agg_mode=agg,
        config=config,
        rollout_is_weights=None,
    )


def grad_of(loss: torch.Tensor, leaf: torch.Tensor) -> torch.Tensor:
    (g,) = torch.autograd.grad(loss, leaf)
    return g


def run_python(code: str, *, plugin_dir: Path | None = None, plugins: str = "auto"):
    """`code` in a fresh interpreter of this venv (imports and registries start empty)."""
    env = {**os.environ, "VERL_USE_EXTERNAL_PLUGINS": plugins}
    paths = [str(PROJECT_ROOT)] + ([str(plugin_dir)] if plugin_dir else [])
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=PROJECT_ROOT,
    )


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Path:
    """A distribution whose only content is fipo-bench's `verl.plugins` entry point, so verl's
    discovery is exercised whatever the installed fipo-bench declares."""
    info = tmp_path / "fipo_bench_plugin_probe-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fipo-bench-plugin-probe\n")
    (info / "entry_points.txt").write_text(
        "[verl.plugins]\nfipo = fipo_bench.integrations.verl_plugin\n"
    )
    return tmp_path


REGISTERED = """
    import verl
    from verl.trainer.ppo.core_algos import POLICY_LOSS_REGISTRY
    print("registered" if "fipo" in POLICY_LOSS_REGISTRY else "absent")
"""


# ------------------------------------------------------------------ registration routes


@needs_verl
@pytest.mark.slow
def test_import_verl_registers_fipo_through_the_entry_point(plugin_dir):
    """`import verl` loads the verl.plugins entry point, which registers loss mode fipo; with
    plug-ins off nothing else registers it."""
    on = run_python(REGISTERED, plugin_dir=plugin_dir)
    off = run_python(REGISTERED, plugin_dir=plugin_dir, plugins="none")
    assert on.returncode == 0, on.stderr
    assert on.stdout.split() == ["registered"]
    assert off.stdout.split() == ["absent"], off.stderr


@needs_verl
def test_the_installed_distribution_declares_the_entry_point():
    """fipo-bench's own metadata (pyproject) carries the entry point verl discovers."""
    from importlib.metadata import entry_points

    declared = {ep.name: ep.value for ep in entry_points(group="verl.plugins")}
    assert declared.get("fipo") == "fipo_bench.integrations.verl_plugin"


@needs_verl
@pytest.mark.slow
def test_a_broken_plugin_import_is_reported_at_error_level(plugin_dir):
    """verl swallows plug-in import errors at DEBUG; ours reaches stderr, naming the cause."""
    broken = run_python(
        "import sys; sys.modules['fipo_bench.algos.losses'] = None\n" + textwrap.dedent(REGISTERED),
        plugin_dir=plugin_dir,
    )
    assert broken.returncode == 0, broken.stderr  # verl itself carries on
    assert broken.stdout.split() == ["absent"]
    assert "fipo-bench's verl plug-in failed to import" in broken.stderr
    assert "fipo_bench.algos.losses" in broken.stderr


@needs_verl
@pytest.mark.slow
def test_the_target_route_registers_fipo_and_types_its_keys():
    """Naming FipoPolicyLossConfig as policy_loss._target_ imports the plug-in (registering fipo)
    and the FIPO keys arrive as typed fields; entry points are off in this interpreter."""
    overrides = [
        *fipo_overrides(half_life=16),
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=2",
    ]
    result = run_python(
        f"""
        from hydra import compose, initialize_config_module
        from verl.trainer.ppo.core_algos import POLICY_LOSS_REGISTRY
        from verl.utils.config import omega_conf_to_dataclass
        before = "fipo" in POLICY_LOSS_REGISTRY
        with initialize_config_module(config_module="verl.trainer.config", version_base=None):
            cfg = compose(config_name="ppo_trainer", overrides={overrides!r})
        actor = omega_conf_to_dataclass(cfg.actor_rollout_ref.actor)
        pl = actor.policy_loss
        print(before, "fipo" in POLICY_LOSS_REGISTRY, type(pl).__name__, repr(pl.half_life),
              pl.influence_low, pl.safety_threshold, pl.drop_dual_clipped_seqs)
        """,
        plugins="none",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "False",
        "True",
        "FipoPolicyLossConfig",
        "16.0",
        "0.8",
        "3.0",
        "True",
    ]


# ------------------------------------------------------------------ the loss itself


@needs_verl
@pytest.mark.parametrize("agg", SHARED_AGG_MODES)
def test_fipo_through_verl_equals_fipo_bench_policy_loss(agg):
    """Through verl's get_policy_loss_fn on random inputs, fipo equals
    fipo_bench.algos.policy_loss (same settings, verl's divisor) to 1e-6, its gradient to 1e-5,
    and the FIPO metrics are algos' own."""
    config = actor_config(fipo_overrides(agg))
    logp, old, adv, mask = moved_batch()
    loss, metrics = call("fipo", logp, old, adv, mask, agg, config)
    reference = policy_loss(
        logp,
        old,
        adv,
        mask,
        LossConfig(
            mode="fipo", clip_low=0.2, clip_high=0.28, dual_clip_c=10.0, agg=agg, **FIPO_KNOBS
        ),
        token_normalizer=agg_normalizer(mask, agg),
    )
    ref = reference.metrics
    # the batch exercises every FIPO rule
    assert ref["seq_dropped_frac"] > 0 and ref["clip_ratio/dual"] > 0
    assert ref["influence_weight/min"] < 1.0 < ref["influence_weight/max"]
    assert abs(loss.item() - reference.loss.item()) <= 1e-6
    gap = (grad_of(loss, logp) - grad_of(reference.loss, logp)).abs().max().item()
    assert gap <= 1e-5
    for name in ("future_kl/mean", "future_kl/max", "influence_weight/mean", "seq_dropped_frac"):
        assert metrics[name] == pytest.approx(ref[name], abs=1e-9)
    assert metrics["actor/ppo_kl"] == pytest.approx(ref["policy_kl"], abs=1e-9)


@needs_verl
def test_loss_mode_fipo_without_the_typed_config_uses_fipo_benchs_defaults():
    """`policy_loss.loss_mode=fipo` alone (verl's plain PolicyLossConfig) runs FIPO with
    LossConfig's defaults, the paper's 32B settings."""
    config = actor_config((f"{POLICY_LOSS}.loss_mode=fipo",))
    assert type(config.policy_loss).__name__ == "PolicyLossConfig"
    logp, old, adv, mask = moved_batch(seed=4)
    loss, _ = call("fipo", logp, old, adv, mask, "token-mean", config)
    defaults = LossConfig(mode="fipo", clip_low=0.2, clip_high=0.28, dual_clip_c=10.0)
    reference = policy_loss(
        logp, old, adv, mask, defaults, token_normalizer=agg_normalizer(mask, "token-mean")
    )
    assert abs(loss.item() - reference.loss.item()) <= 1e-12


@needs_verl
@pytest.mark.parametrize("agg", VERL_AGG_MODES)
@pytest.mark.parametrize("sharded", [False, True], ids=["local", "global_batch_info"])
def test_fipo_with_unit_weights_equals_verls_vanilla_loss(agg, sharded):
    """With f forced to 1 (band [1, 1], no drop) fipo is verl's own vanilla loss, value,
    gradient and clip metrics, in every loss_agg_mode, with and without global_batch_info."""
    config = actor_config(
        fipo_overrides(agg, influence_low=1.0, influence_high=1.0, drop_dual_clipped_seqs=False)
    )
    logp, old, adv, mask = moved_batch(seed=1)
    config.global_batch_info.clear()
    if sharded:
        config.global_batch_info.update(
            dp_size=2,
            batch_num_tokens=3 * int(mask.sum()),
            global_batch_size=11,
            loss_scale_factor=64,
        )
    fipo, fipo_metrics = call("fipo", logp, old, adv, mask, agg, config)
    vanilla, vanilla_metrics = call("vanilla", logp, old, adv, mask, agg, config)
    assert abs(fipo.item() - vanilla.item()) <= 1e-9
    gap = (grad_of(fipo, logp) - grad_of(vanilla, logp)).abs().max().item()
    assert gap <= 1e-9
    for name, value in vanilla_metrics.items():
        assert fipo_metrics[name] == pytest.approx(value, abs=1e-9), name
    assert vanilla_metrics["actor/pg_clipfrac_lower"] > 0  # the dual clip acted


@needs_verl
@pytest.mark.parametrize("agg", VERL_AGG_MODES)
def test_two_ranks_with_global_batch_info_give_the_unsharded_loss(agg):
    """Two data-parallel 'ranks', each holding half the responses and verl's global_batch_info,
    average (as DDP does) to the loss and gradient of the whole batch on one rank."""
    config = actor_config(fipo_overrides(agg))
    logp, old, adv, mask = moved_batch(seed=2)
    config.global_batch_info.clear()
    whole, _ = call("fipo", logp, old, adv, mask, agg, config)
    whole_grad = grad_of(whole, logp)
    halves = [slice(0, 4), slice(4, 8)]
    config.global_batch_info.update(
        dp_size=2,
        batch_num_tokens=int(mask.sum()),
        global_batch_size=int(mask.any(dim=1).sum()),
        loss_scale_factor=None,
    )
    rank_losses = []
    for rows in halves:
        part = logp.detach()[rows].clone().requires_grad_(True)
        loss, metrics = call("fipo", part, old[rows], adv[rows], mask[rows], agg, config)
        rank_losses.append(loss.item())
        gap = (grad_of(loss, part) / 2 - whole_grad[rows]).abs().max().item()
        assert gap <= 1e-12
    assert sum(rank_losses) / 2 == pytest.approx(whole.item(), abs=1e-12)
    assert metrics["seq_dropped_frac"] >= 0  # metrics still come back per rank


@needs_verl
def test_verls_actor_loss_logs_fipo_metrics_under_verls_names():
    """Through verl's own actor loss (workers.utils.losses.ppo_loss: unpadding, global batch
    info, metric wrapping) fipo gives the direct call's loss, verl adds actor/pg_loss, and the
    FIPO metrics arrive beside verl's."""
    from tensordict import TensorDict
    from verl.utils import tensordict_utils as tu
    from verl.workers.utils.losses import ppo_loss

    config = actor_config(fipo_overrides())
    logp, old, adv, mask = moved_batch(batch=4, length=12, seed=3)
    mask[-1, :3] = True  # every response non-empty: verl's unpadding needs a token per row
    prompt_lens = torch.tensor([4, 3, 2, 4])
    prompt_width = 4
    attention = torch.zeros(4, prompt_width + 12, dtype=torch.long)
    flat = []
    for row in range(4):
        attention[row, prompt_width - prompt_lens[row] : prompt_width] = 1
        attention[row, prompt_width:] = mask[row]
        # the model's output for a packed sequence: position k scores token k + 1
        n_resp = int(mask[row].sum())
        scores = torch.zeros(int(prompt_lens[row]) + n_resp, dtype=torch.float64)
        scores[int(prompt_lens[row]) - 1 : -1] = logp.detach()[row, :n_resp]
        flat.append(scores)
    log_probs = torch.cat(flat)
    data = TensorDict(
        {
            "prompts": torch.zeros(4, prompt_width, dtype=torch.long),
            "responses": torch.zeros(4, 12, dtype=torch.long),
            "attention_mask": attention,
            "response_mask": mask.long(),
            "old_log_probs": old,
            "advantages": adv,
        },
        batch_size=[4],
    )
    info = {"dp_size": 1, "batch_num_tokens": int(mask.sum()), "global_batch_size": 4}
    tu.assign_non_tensor(data, **info)
    loss, metrics = ppo_loss(config, {"log_probs": log_probs}, data)
    config.global_batch_info.clear()
    config.global_batch_info.update(info)
    direct, _ = call("fipo", logp.detach(), old, adv, mask, "token-mean", config)
    assert loss.item() == pytest.approx(direct.item(), abs=1e-12)
    logged = {name: metric.aggregate() for name, metric in metrics.items()}
    assert logged["actor/pg_loss"] == pytest.approx(direct.item(), abs=1e-12)
    for name in ("actor/pg_clipfrac", "actor/pg_clipfrac_lower", "actor/ppo_kl"):
        assert name in logged
    assert logged["influence_weight/max"] > 1.0 and "future_kl/mean" in logged


# ------------------------------------------------------------------ bad input


@needs_verl
def test_an_unknown_fipo_key_is_named_with_the_allowed_ones():
    with pytest.raises(Exception) as err:
        actor_config((*fipo_overrides(), f"+{POLICY_LOSS}.half_lif=16"))
    text = str(err.value)
    assert f"unknown key {POLICY_LOSS}.half_lif for the fipo loss; allowed:" in text
    assert "half_life" in text


@needs_verl
def test_the_official_forks_key_names_point_to_ours():
    with pytest.raises(Exception) as err:
        actor_config((*fipo_overrides(), f"+{POLICY_LOSS}.decay_rate=32"))
    assert "the official fork's decay_rate is half_life here" in str(err.value)


@needs_verl
def test_a_bad_fipo_value_is_named():
    with pytest.raises(Exception) as err:
        actor_config(fipo_overrides(half_life=-1))
    assert "half_life=-1" in str(err.value)


@needs_verl
def test_the_typed_config_with_another_loss_mode_is_refused():
    with pytest.raises(Exception) as err:
        actor_config((TARGET, f"{POLICY_LOSS}.loss_mode=vanilla"))
    assert f"{POLICY_LOSS}.loss_mode='vanilla'" in str(err.value)


@needs_verl
def test_rollout_correction_weights_and_unknown_agg_modes_are_refused():
    config = actor_config(fipo_overrides())
    logp, old, adv, mask = moved_batch()
    from verl.trainer.ppo.core_algos import get_policy_loss_fn

    with pytest.raises(ConfigError, match="rollout_is=null"):
        get_policy_loss_fn("fipo")(old, logp, adv, mask, "token-mean", config, torch.ones_like(old))
    with pytest.raises(ConfigError, match="loss_agg_mode='token-median'"):
        call("fipo", logp, old, adv, mask, "token-median", config)


def test_importing_the_plugin_without_verl_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "verl", None)  # as if verl were not installed
    monkeypatch.delitem(sys.modules, "fipo_bench.integrations.verl", raising=False)
    with pytest.raises(ConfigError, match=r"pip install 'fipo-bench\[verl\]'"):
        importlib.import_module("fipo_bench.integrations.verl")


# ------------------------------------------------------------------ presets as verl overrides


@needs_verl
@pytest.mark.parametrize("name", preset_names())
def test_preset_overrides_compose_against_verls_ppo_trainer_config(name):
    """Every preset's overrides parse with hydra against verl's ppo_trainer config, pass verl's
    own validate_config, and the typed configs verl builds from them carry the preset's values."""
    from verl.utils.config import omega_conf_to_dataclass, validate_config

    preset = get_preset(name)
    cfg = composed(tuple(verl_overrides(preset)))
    validate_config(cfg, use_reference_policy=preset.loss.kl_coef > 0, use_critic=False)
    actor = omega_conf_to_dataclass(cfg.actor_rollout_ref.actor)
    algorithm = omega_conf_to_dataclass(cfg.algorithm)
    assert cfg.data.train_batch_size == preset.rollout.prompts_per_step
    assert cfg.actor_rollout_ref.rollout.n == preset.rollout.samples_per_prompt
    assert cfg.data.max_response_length == preset.rollout.max_response_tokens
    assert actor.ppo_mini_batch_size == preset.update.mini_batch_prompts
    assert (actor.clip_ratio_low, actor.clip_ratio_high) == (
        preset.loss.clip_low,
        preset.loss.clip_high,
    )
    assert actor.loss_agg_mode == preset.loss.agg
    assert actor.optim.lr == preset.optimiser.lr
    assert algorithm.filter_groups.enable == preset.rollout.dynamic_sampling
    overlong = cfg.reward.get("reward_kwargs", {}).get("overlong_buffer_cfg")
    assert (overlong is not None and overlong.enable) == (preset.rewards.overlong_buffer > 0)
    if preset.loss.mode == "fipo":
        for key in FIPO_KNOBS:
            assert getattr(actor.policy_loss, key) == getattr(preset.loss, key), key
    else:
        assert actor.policy_loss.loss_mode == "vanilla"


def test_a_setting_verl_cannot_express_is_refused():
    preset = get_preset("tiny-fipo")
    odd = preset.model_copy(
        update={"rewards": preset.rewards.model_copy(update={"reward_wrong": 0.0})}
    )
    with pytest.raises(ConfigError, match="verl's DAPO reward is"):
        verl_overrides(odd)
