"""Chunked teacher-forced scoring: exact, differentiable, bounded memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from fipo_bench.engines.scoring import position_ids_from_mask, score_tokens
from fipo_bench.errors import EngineError


def random_qwen2(vocab_size: int = 97, hidden: int = 64, seed: int = 0) -> torch.nn.Module:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=4096,
        tie_word_embeddings=False,
        initializer_range=0.2,  # a peaked, non-uniform distribution: entropies differ by token
    )
    return Qwen2ForCausalLM(config).eval()


def direct_scores(model, input_ids, attention_mask, temperature=1.0):
    """The reference: full [B, L, V] float32 logits in one go."""
    logits = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids_from_mask(attention_mask),
    ).logits.float()
    logp_all = torch.log_softmax(logits[:, :-1] / temperature, dim=-1)
    logp = logp_all.gather(-1, input_ids[:, 1:, None]).squeeze(-1)
    entropy = -(logp_all.exp() * logp_all).sum(-1)
    return logp, entropy


@pytest.fixture(scope="module")
def model():
    return random_qwen2()


@pytest.fixture(scope="module")
def batch():
    """Two left-padded rows (3 and 0 pads) of length 13."""
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(0, 97, (2, 13), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[0, :3] = 0
    input_ids[0, :3] = 0
    return input_ids, attention_mask


@pytest.mark.parametrize("chunk_tokens", [1, 5, 12, 1024])
def test_chunked_scores_equal_full_logits_to_1e5(model, batch, chunk_tokens):
    input_ids, mask = batch
    with torch.no_grad():
        logp, entropy = score_tokens(model, input_ids, mask, chunk_tokens=chunk_tokens)
        ref_logp, ref_entropy = direct_scores(model, input_ids, mask)
    valid = mask[:, 1:].bool()
    assert logp.shape == entropy.shape == (2, 12)
    assert logp.dtype == torch.float32
    torch.testing.assert_close(logp[valid], ref_logp[valid], atol=1e-5, rtol=0)
    torch.testing.assert_close(entropy[valid], ref_entropy[valid], atol=1e-5, rtol=0)
    # the random model is far from uniform, so the comparison is not vacuous
    assert entropy[valid].std() > 1e-2


def test_left_padding_does_not_change_a_rows_scores(model, batch):
    """A row scores the same alone and unpadded as left-padded in a batch (positions skip pads)."""
    input_ids, mask = batch
    with torch.no_grad():
        padded_logp, _ = score_tokens(model, input_ids, mask, chunk_tokens=4)
        alone_logp, _ = score_tokens(model, input_ids[:1, 3:], mask[:1, 3:], chunk_tokens=4)
    torch.testing.assert_close(padded_logp[0, 3:], alone_logp[0], atol=1e-5, rtol=0)


def test_temperature_divides_the_logits(model, batch):
    input_ids, mask = batch
    with torch.no_grad():
        logp, entropy = score_tokens(model, input_ids, mask, chunk_tokens=5, temperature=0.7)
        ref_logp, ref_entropy = direct_scores(model, input_ids, mask, temperature=0.7)
        raw_logp, _ = score_tokens(model, input_ids, mask, chunk_tokens=5)
    valid = mask[:, 1:].bool()
    torch.testing.assert_close(logp[valid], ref_logp[valid], atol=1e-5, rtol=0)
    torch.testing.assert_close(entropy[valid], ref_entropy[valid], atol=1e-5, rtol=0)
    assert not torch.allclose(logp[valid], raw_logp[valid], atol=1e-3)


def test_gradients_through_chunked_logp_equal_the_direct_ones(batch):
    """The trainer backprops through logp: checkpointed chunks give the same parameter grads."""
    input_ids, mask = batch
    weights = torch.linspace(-1.0, 1.0, 12).expand(2, 12) * mask[:, 1:]
    grads = []
    for chunked in (True, False):
        model = random_qwen2()
        if chunked:
            logp, entropy = score_tokens(model, input_ids, mask, chunk_tokens=5)
            assert not entropy.requires_grad
        else:
            logp, _ = direct_scores(model, input_ids, mask)
        (logp * weights).sum().backward()
        grads.append({name: p.grad.clone() for name, p in model.named_parameters()})
    chunked_grads, direct_grads = grads
    assert chunked_grads.keys() == direct_grads.keys()
    for name, grad in chunked_grads.items():
        torch.testing.assert_close(grad, direct_grads[name], atol=1e-5, rtol=1e-4, msg=name)
    assert chunked_grads["lm_head.weight"].abs().sum() > 0


def test_entropy_can_be_skipped(model, batch):
    input_ids, mask = batch
    with torch.no_grad():
        logp, entropy = score_tokens(model, input_ids, mask, compute_entropy=False)
        ref_logp, _ = score_tokens(model, input_ids, mask)
    assert torch.equal(entropy, torch.zeros_like(logp))
    torch.testing.assert_close(logp, ref_logp)


@pytest.mark.parametrize(
    ("shape", "kwargs", "needle"),
    [
        ((2, 1), {}, "sequence length 1"),
        ((2, 5), {"chunk_tokens": 0}, "chunk_tokens=0"),
        ((2, 5), {"temperature": 0.0}, "temperature=0.0"),
    ],
)
def test_bad_arguments_raise_one_line_engine_errors(model, shape, kwargs, needle):
    ids = torch.zeros(shape, dtype=torch.long)
    with pytest.raises(EngineError, match=needle) as err:
        score_tokens(model, ids, torch.ones_like(ids), **kwargs)
    assert "\n" not in str(err.value)


def test_mismatched_mask_shape_is_rejected(model):
    ids = torch.zeros((2, 5), dtype=torch.long)
    with pytest.raises(EngineError, match="attention_mask"):
        score_tokens(model, ids, torch.ones((2, 4), dtype=torch.long))


# Peak RSS of a fresh process, measured after each phase (VmHWM is a high-water mark, so
# each phase's growth is what it needed beyond everything before it). Phases run in the order
# short-chunked, long-chunked, long-direct: a forward + backward each, as the trainer does.
# glibc serves blocks below its (adaptive) mmap threshold from the heap, where freed chunk-sized
# blocks fragment and RSS creeps up although live tensors do not; a fixed 1 MB threshold makes
# every tensor block an mmap that is returned on free, so RSS follows live memory.
_MEMORY_SCRIPT = textwrap.dedent(
    """
    import json, sys, torch
    torch.set_num_threads(1)
    sys.path.insert(0, {tests_dir!r})
    from test_scoring import random_qwen2, direct_scores
    from fipo_bench.engines.scoring import score_tokens

    VOCAB, SHORT, LONG, CHUNK = {vocab}, {short}, {long}, {chunk}
    model = random_qwen2(vocab_size=VOCAB, hidden=32)

    def peak_mb():
        # VmHWM, the high-water mark of this process's own address space: ru_maxrss would
        # carry over the parent's (pytest's) peak across exec and hide every phase under it.
        status = open("/proc/self/status").read()
        return int(status.split("VmHWM:")[1].split()[0]) / 1024

    def run(length, chunked):
        ids = torch.randint(0, VOCAB, (1, length))
        mask = torch.ones_like(ids)
        if chunked:
            logp, _ = score_tokens(model, ids, mask, chunk_tokens=CHUNK)
        else:
            logp, _ = direct_scores(model, ids, mask)
        logp.sum().backward()
        model.zero_grad(set_to_none=False)

    run(SHORT, True)  # warm-up: allocator pools, grad buffers, thread pools
    out = {{"warm": peak_mb()}}
    run(SHORT, True)
    out["short_chunked"] = peak_mb()
    run(LONG, True)
    out["long_chunked"] = peak_mb()
    run(LONG, False)
    out["long_direct"] = peak_mb()
    print(json.dumps(out))
    """
)


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_vocab_times_length():
    """Going from 64 to 2048 tokens at a 32k vocab adds < 1/4 of one [L, V] float32 block to
    the chunked path's peak RSS, while the direct path (the control: it shows the measurement
    sees such blocks) adds more than one whole block."""
    vocab, short, long, chunk = 32_000, 64, 2048, 64
    block_mb = long * vocab * 4 / 2**20  # one [1, L, V] float32 tensor: 250 MB
    script = _MEMORY_SCRIPT.format(
        tests_dir=str(Path(__file__).parent),
        vocab=vocab,
        short=short,
        long=long,
        chunk=chunk,
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "MALLOC_MMAP_THRESHOLD_": str(2**20), "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    peaks = json.loads(proc.stdout.strip().splitlines()[-1])
    chunked_growth = peaks["long_chunked"] - peaks["short_chunked"]
    direct_growth = peaks["long_direct"] - peaks["long_chunked"]
    assert chunked_growth < block_mb / 4, peaks
    assert direct_growth > block_mb, peaks
