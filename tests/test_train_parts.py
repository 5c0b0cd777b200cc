"""The trainer's model-free parts: data order, batching, schedule, metrics, run identity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from fipo_bench.engines.record import GenerationRecord
from fipo_bench.errors import ConfigError
from fipo_bench.tasks.problem import Problem
from fipo_bench.train import checkpoint as ckpt
from fipo_bench.train.data_order import DataOrderState, draw
from fipo_bench.train.metrics import combine_update_metrics, has_reflection, rollout_stats
from fipo_bench.train.rollout_batch import Rollout, build_batch, microbatch_rows, minibatch_rows
from fipo_bench.train.run_dir import check_out_dir, run_id_for, write_identity
from fipo_bench.train.schedule import warmup_factor


def test_drawing_in_pieces_equals_drawing_at_once_across_epochs():
    """Resume equivalence rests on this: the order depends only on (seed, epoch, position)."""
    whole, end_whole = draw(DataOrderState(), 7, 20, seed=3)
    first, mid = draw(DataOrderState(), 7, 9, seed=3)
    second, end_pieces = draw(mid, 7, 11, seed=3)
    assert first + second == whole
    assert end_pieces == end_whole
    # every epoch visits every problem exactly once
    assert sorted(whole[:7]) == list(range(7)) and sorted(whole[7:14]) == list(range(7))
    assert whole[:7] != whole[7:14]  # and epochs are shuffled differently


def _record(prompt, response, logps):
    return GenerationRecord(
        prompt_index=0,
        sample_idx=0,
        prompt_token_ids=prompt,
        token_ids=response,
        token_texts=[str(t) for t in response],
        logprobs=logps,
        finish_reason="stop",
        text="",
    )


def _rollout(group, prompt, response, adv=1.0):
    logps = [-0.1 * (i + 1) for i in range(len(response))]
    return Rollout(
        problem=Problem("d", str(group), "p", "1"),
        group=group,
        record=_record(prompt, response, logps),
        correct=True,
        extracted="1",
        verify_status="ok",
        reward=1.0,
        advantage=adv,
    )


def test_batch_columns_line_up_with_the_response_tokens():
    """Column j scores token j+1: the mask and rollout log-probs sit exactly on response tokens."""
    rollouts = [_rollout(0, [5, 6, 7], [8, 9]), _rollout(0, [5], [4, 3, 2, 1], adv=-1.0)]
    batch = build_batch(rollouts, pad_token_id=0)
    assert batch.input_ids.tolist() == [[5, 6, 7, 8, 9], [5, 4, 3, 2, 1]]
    assert batch.response_mask.tolist() == [[0, 0, 1, 1], [1, 1, 1, 1]]
    targets = batch.input_ids[:, 1:][batch.response_mask.bool()].tolist()
    assert targets == [8, 9, 4, 3, 2, 1]
    assert batch.rollout_logp[0].tolist() == pytest.approx([0, 0, -0.1, -0.2])
    assert batch.advantages.tolist() == [1.0, -1.0]
    short = batch.rows([0])
    assert short.input_ids.shape == (1, 5) and short.response_mask.shape == (1, 4)


def test_padding_is_trimmed_per_micro_batch():
    rollouts = [_rollout(0, [1, 2], [3]), _rollout(1, [1, 2, 3, 4], [5, 6, 7])]
    batch = build_batch(rollouts, pad_token_id=0)
    assert batch.rows([0]).input_ids.tolist() == [[1, 2, 3]]
    assert batch.rows([0]).response_mask.tolist() == [[0, 1]]


def test_minibatches_keep_groups_whole_and_in_order():
    groups = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert minibatch_rows(groups, 2) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert microbatch_rows([4, 5, 6, 7], 3) == [[4, 5, 6], [7]]
    with pytest.raises(ValueError):
        minibatch_rows(groups, 0)


def test_warmup_trains_from_the_first_step_and_then_stays_constant():
    assert warmup_factor(0, 4) == pytest.approx(0.25)
    assert [warmup_factor(i, 4) for i in range(3, 6)] == [1.0, 1.0, 1.0]
    assert warmup_factor(0, 0) == 1.0


def test_rollout_stats_and_reflection():
    assert has_reflection("12 + 3 = 14. Wait, let me re-check: 15")
    assert not has_reflection("awaiting nothing: 3 + 4 = 7")
    stats = rollout_stats(
        [1.0, -1.0, 1.0, -1.0], [True, False, True, False], ["wait", "", "", ""], [1, 2, 3, 10]
    )
    assert stats["reward/mean"] == 0.0 and stats["acc/mean"] == 0.5
    assert stats["reflection_rate"] == 0.25
    assert stats["response_length/max"] == 10 and stats["response_length/median"] == 2.5


def test_update_metrics_combine_min_max_mean():
    combined = combine_update_metrics(
        [
            {"future_kl/min": -1.0, "future_kl/max": 0.5, "policy_kl": 0.1},
            {"future_kl/min": -0.5, "future_kl/max": 2.0, "policy_kl": 0.3},
        ]
    )
    assert combined == {
        "future_kl/min": -1.0,
        "future_kl/max": 2.0,
        "policy_kl": pytest.approx(0.2),
    }


def test_latest_checkpoint_ignores_a_save_killed_half_way(tmp_path: Path):
    """A step-N folder exists only when complete; a leftover temp folder is never 'latest'."""
    good = ckpt.checkpoint_path(tmp_path, 2)
    good.mkdir(parents=True)
    torch.save({"step": 2}, good / ckpt.STATE_FILE)
    partial = ckpt.checkpoints_root(tmp_path) / ".tmp-step-000003-999"
    partial.mkdir()
    (partial / "model.safetensors").write_bytes(b"half")
    assert ckpt.latest_checkpoint(tmp_path).step == 2
    ckpt.remove_partial_saves(tmp_path)
    assert not partial.exists() and good.exists()


def test_rng_state_round_trips():
    state = ckpt.rng_state()
    a = torch.rand(3)
    ckpt.restore_rng(state)
    assert torch.equal(torch.rand(3), a)


def test_out_dir_identity_rules(tmp_path: Path):
    out = tmp_path / "run-a"
    identity = {"run_id": run_id_for(out), "config": {"lr": 1e-3, "loss": {"mode": "fipo"}}}
    check_out_dir(out, identity, resume=False)  # new folder: fine
    assert not out.exists()  # and checking wrote nothing
    write_identity(out, identity)
    assert json.loads((out / "run.json").read_text()) == identity
    check_out_dir(out, identity, resume=True)
    with pytest.raises(ConfigError, match="--resume"):
        check_out_dir(out, identity, resume=False)
    other = {**identity, "config": {"lr": 1e-3, "loss": {"mode": "dapo"}}}
    with pytest.raises(ConfigError, match=r"config\.loss\.mode was 'fipo', now 'dapo'"):
        check_out_dir(out, other, resume=True)
    assert run_id_for(out) == run_id_for(tmp_path / "." / "run-a")
    assert run_id_for(out) != run_id_for(tmp_path / "x" / "run-a")
