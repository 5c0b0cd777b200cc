"""The TRL trainer: FIPOTrainer trains the tiny model, its weights leave 1 once the policy has
moved, with f = 1 it is TRL's own `dapo` loss, and every bad setting is one clear error."""

from __future__ import annotations

import copy
import importlib
import sys

import pytest
import torch

from fipo_bench.errors import ConfigError
from fipo_bench.integrations import check_version

trl_integration = pytest.importorskip("fipo_bench.integrations.trl", exc_type=ConfigError)
FIPOConfig = trl_integration.FIPOConfig
FIPOTrainer = trl_integration.FIPOTrainer

PROMPTS = ["3+4=", "12-5=", "7*6=", "9+8=", "15-7=", "6*3=", "2+9=", "8*4="]


def digit_share(completions: list[str], **_: object) -> list[float]:
    """A reward that varies within a group (so advantages are not all 0)."""
    return [sum(c.isdigit() for c in text) / max(len(text), 1) for text in completions]


def trl_args(tmp_path, **overrides):
    settings = dict(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=12,
        gradient_accumulation_steps=1,
        num_iterations=2,
        learning_rate=1e-3,
        use_cpu=True,
        bf16=False,
        report_to=[],
        logging_steps=1,
        save_strategy="no",
        seed=0,
        influence_low=0.8,
        influence_high=1.2,
        half_life=8.0,
    )
    settings.update(overrides)
    return settings


def test_pinned_trl_version_is_installed_and_another_is_refused():
    import trl

    check_version("trl", trl.__version__, trl_integration.TRL_PIN)  # the installed one passes
    with pytest.raises(ConfigError, match=r"trl 1\.17\.0 is installed.*trl==1\.16\.\*"):
        check_version("trl", "1.17.0", trl_integration.TRL_PIN)


def test_importing_the_trainer_without_trl_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "trl", None)  # as if TRL were not installed
    monkeypatch.delitem(sys.modules, "fipo_bench.integrations.trl")
    with pytest.raises(ConfigError, match=r"pip install 'fipo-bench\[trl\]'"):
        importlib.import_module("fipo_bench.integrations.trl")


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        (dict(num_iterations=1), "set num_iterations >= 2"),
        (dict(num_iterations=1, steps_per_generation=2, gradient_accumulation_steps=2), "x 1"),
        (dict(num_iterations=2, steps_per_generation=1, gradient_accumulation_steps=2), "x 2"),
    ],
)
def test_fipo_with_a_single_policy_update_per_generation_is_refused(tmp_path, settings, named):
    """Old log-probs from the policy that is being trained make every weight 1: refused."""
    with pytest.raises(ConfigError, match="FIPO needs old log-probs from a moved policy") as err:
        FIPOConfig(**trl_args(tmp_path, **settings))
    assert named in str(err.value)


def test_settings_that_give_fipo_a_moved_policy_are_accepted(tmp_path):
    FIPOConfig(**trl_args(tmp_path, num_iterations=2))
    FIPOConfig(
        **trl_args(
            tmp_path,
            num_iterations=1,
            steps_per_generation=4,
            gradient_accumulation_steps=2,
            per_device_train_batch_size=2,
        )
    )


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        (dict(loss_type="dapo"), "loss_type='dapo' must be 'fipo'"),
        (dict(importance_sampling_level="sequence"), "importance_sampling_level='sequence'"),
        (dict(entropy_coef=0.01), "entropy_coef=0.01"),
        (dict(half_life=-1.0), "half_life=-1.0"),
        (dict(influence_low=1.3), "influence_low=1.3 must be <= influence_high=1.2"),
    ],
)
def test_bad_fipo_settings_are_one_clear_error(tmp_path, settings, named):
    with pytest.raises(ConfigError) as err:
        FIPOConfig(**trl_args(tmp_path, **settings))
    assert named in str(err.value)


def test_the_trainer_refuses_a_plain_grpo_config(tmp_path, tiny_model_dir):
    from trl import GRPOConfig

    args = GRPOConfig(
        **{
            k: v
            for k, v in trl_args(tmp_path).items()
            if k not in ("influence_low", "influence_high", "half_life")
        }
    )
    with pytest.raises(ConfigError, match="FIPOTrainer needs args=FIPOConfig"):
        FIPOTrainer(model=str(tiny_model_dir), reward_funcs=digit_share, args=args)


@pytest.mark.slow
def test_two_training_steps_move_the_influence_weights_off_one(tmp_path, tiny_model_dir):
    """Two FIPOTrainer steps on the tiny model (CPU): the first trains on its own samples
    (weights exactly the unmoved policy's, 1), the second reuses them after an update, and its
    influence weights leave 1; FIPO's metrics are logged TRL-style."""
    from datasets import Dataset

    args = FIPOConfig(**trl_args(tmp_path, max_steps=2))
    trainer = FIPOTrainer(
        model=str(tiny_model_dir),
        reward_funcs=digit_share,
        args=args,
        train_dataset=Dataset.from_dict({"prompt": PROMPTS}),
    )
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "influence_weight/mean" in entry]
    assert len(logs) == 2
    first, second = logs
    for name in ("future_kl/mean", "influence_weight/max", "clip_ratio/region_mean", "entropy"):
        assert name in second
    assert first["influence_weight/abs_dev_mean"] < 1e-4  # same weights as the sampler
    assert second["influence_weight/abs_dev_mean"] > 1e-3  # moved: FIPO acts
    assert second["influence_weight/min"] < 1.0 or second["influence_weight/max"] > 1.0


def _loss_and_grads(trainer, model, inputs):
    model.zero_grad()
    loss = trainer._compute_loss(model, inputs)
    loss.backward()
    return loss.detach(), [p.grad.detach().clone() for p in model.parameters()]


@pytest.mark.slow
def test_unit_weights_give_trls_own_dapo_loss(tmp_path, tiny_model_dir):
    """With the influence band [1, 1], no dual clip and no sequence drop, FIPOTrainer's loss
    and gradient on a batch are TRL's `dapo` loss on the same batch (the normal band differs)."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float64)
    sampler = copy.deepcopy(model)  # the "old" policy: the model before an update
    with torch.no_grad():
        for p in sampler.parameters():
            p.add_(0.02 * torch.randn_like(p))
    common = {
        k: v
        for k, v in trl_args(tmp_path).items()
        if k not in ("influence_low", "influence_high", "half_life")
    }
    unit = FIPOConfig(
        **common,
        influence_low=1.0,
        influence_high=1.0,
        dual_clip_c=None,
        drop_dual_clipped_seqs=False,
    )
    banded = FIPOConfig(
        **common,
        dual_clip_c=None,
        drop_dual_clipped_seqs=False,
        influence_low=0.8,
        influence_high=1.2,
        half_life=8.0,
    )
    dapo = GRPOConfig(**{**common, "loss_type": "dapo", "epsilon_high": unit.epsilon_high})
    trainers = {
        name: cls(
            model=model,
            reward_funcs=digit_share,
            args=args,
            processing_class=tokenizer,
            train_dataset=Dataset.from_dict({"prompt": PROMPTS}),
        )
        for name, cls, args in (
            ("unit", FIPOTrainer, unit),
            ("banded", FIPOTrainer, banded),
            ("dapo", GRPOTrainer, dapo),
        )
    }
    inputs = _batch(tokenizer, model, sampler)
    model.train()
    results = {}
    for name, trainer in trainers.items():
        trainer.current_gradient_accumulation_steps = 1
        results[name] = _loss_and_grads(trainer, model, inputs)
    (unit_loss, unit_grads), (dapo_loss, dapo_grads) = results["unit"], results["dapo"]
    assert abs(unit_loss.item() - dapo_loss.item()) <= 1e-10
    pairs = zip(unit_grads, dapo_grads, strict=True)
    assert max((a - b).abs().max().item() for a, b in pairs) <= 1e-10
    assert abs(results["banded"][0].item() - dapo_loss.item()) > 1e-6


def _batch(tokenizer, model, sampler) -> dict[str, torch.Tensor]:
    """A TRL-shaped training batch: 4 prompts x 1 ragged completion, sampled by `sampler`, its
    log-probs as old_per_token_logps, advantages of both signs (exact in float32: fipo-bench
    casts advantages to the log-probs' dtype, TRL does not)."""
    torch.manual_seed(0)
    prompts = tokenizer(PROMPTS[:4], return_tensors="pt", padding=True, padding_side="left")
    with torch.no_grad():
        out = sampler.generate(
            **prompts, max_new_tokens=12, do_sample=True, pad_token_id=tokenizer.pad_token_id
        )
    completion_ids = out[:, prompts["input_ids"].shape[1] :]
    lengths = torch.tensor([12, 9, 5, 11])
    completion_mask = (torch.arange(12)[None, :] < lengths[:, None]).long()
    input_ids = torch.cat([prompts["input_ids"], completion_ids], dim=1)
    attention = torch.cat([prompts["attention_mask"], completion_mask], dim=1)
    with torch.no_grad():
        logits = sampler(input_ids=input_ids, attention_mask=attention).logits[:, -13:-1]
        old = torch.log_softmax(logits, -1).gather(-1, completion_ids[..., None]).squeeze(-1)
    return {
        "prompt_ids": prompts["input_ids"],
        "prompt_mask": prompts["attention_mask"],
        "completion_ids": completion_ids,
        "completion_mask": completion_mask,
        "advantages": torch.tensor([1.0, -0.5, 0.75, -1.25], dtype=torch.float64),
        "old_per_token_logps": old,
        "num_items_in_batch": completion_mask.sum(),
    }
