"""Group advantages, outcome rewards, overlong shaping and the dynamic-sampling filter."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fipo_bench.algos.advantages import group_advantages, group_advantages_2d
from fipo_bench.algos.rewards import groups_with_signal, outcome_rewards, overlong_penalty


def test_group_advantages_are_z_scores_within_each_group():
    """Rewards [1, -1, -1, 1 | 1, 1, -1]: each group's advantages are (R - mean) / (std + eps)
    with the unbiased std, computed per group even when groups interleave."""
    rewards = torch.tensor([1.0, 1.0, -1.0, -1.0, 1.0, -1.0, 1.0])
    groups = torch.tensor([0, 7, 0, 0, 7, 7, 0])
    adv = group_advantages(rewards, groups, eps=1e-6)
    for g in (0, 7):
        r = rewards[groups == g].double()
        expected = (r - r.mean()) / (r.std() + 1e-6)
        assert torch.allclose(adv[groups == g].double(), expected, atol=1e-6)


def test_group_advantages_without_std_are_centred_rewards():
    rewards = torch.tensor([[3.0, 1.0, 2.0], [0.0, 0.0, 6.0]])
    adv = group_advantages_2d(rewards, norm_std=False)
    assert torch.allclose(adv, torch.tensor([[1.0, -1.0, 0.0], [-2.0, -2.0, 4.0]]))


def test_equal_rewards_and_singleton_groups_get_zero_advantage_not_nan():
    rewards = torch.tensor([0.7, 0.7, 0.7, 1.0, 0.1 + 0.2, 0.3])
    groups = torch.tensor([0, 0, 0, 1, 2, 2])  # group 2 differs by float noise (<< eps)
    for norm_std in (True, False):
        adv = group_advantages(rewards, groups, norm_std=norm_std)
        assert torch.isfinite(adv).all()
        assert torch.equal(adv[:4], torch.zeros(4))
        assert adv[4:].abs().max() < 1e-6


def test_group_advantages_reject_mismatched_shapes_and_bad_eps():
    with pytest.raises(ValueError, match="group_ids"):
        group_advantages(torch.zeros(3), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="eps"):
        group_advantages(torch.zeros(3), torch.zeros(3, dtype=torch.long), eps=0.0)


@settings(max_examples=40, deadline=None)
@given(
    groups=st.integers(1, 6),
    size=st.integers(1, 8),
    norm_std=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_group_advantages_sum_to_zero_per_group(groups, size, norm_std, seed):
    """Property: any grid of rewards gives finite advantages that sum to 0 within each group."""
    gen = torch.Generator().manual_seed(seed)
    rewards = torch.randint(-1, 2, (groups, size), generator=gen).float()
    adv = group_advantages_2d(rewards, norm_std=norm_std)
    assert adv.shape == rewards.shape and torch.isfinite(adv).all()
    assert torch.allclose(adv.sum(dim=1), torch.zeros(groups), atol=1e-5)


def test_outcome_rewards_map_correctness_to_the_configured_values():
    correct = torch.tensor([True, False, True])
    assert outcome_rewards(correct).tolist() == [1.0, -1.0, 1.0]
    assert outcome_rewards(correct, reward_correct=1.0, reward_wrong=0.0).tolist() == [1, 0, 1]


def test_overlong_penalty_is_zero_then_linear_over_the_buffer():
    """max 100, buffer 20: 0 up to 80 tokens, -0.5 at 90, -1 at 100 (and capped beyond)."""
    lengths = torch.tensor([10, 80, 90, 100, 130])
    pen = overlong_penalty(lengths, max_response_tokens=100, overlong_buffer=20)
    assert pen.tolist() == pytest.approx([0.0, 0.0, -0.5, -1.0, -1.0])
    scaled = overlong_penalty(
        lengths, max_response_tokens=100, overlong_buffer=20, penalty_factor=2
    )
    assert scaled.tolist() == pytest.approx([0.0, 0.0, -1.0, -2.0, -2.0])


def test_overlong_buffer_zero_turns_the_penalty_off():
    lengths = torch.tensor([5, 100])
    assert overlong_penalty(lengths, max_response_tokens=100, overlong_buffer=0).tolist() == [0, 0]


def test_overlong_penalty_rejects_a_buffer_longer_than_the_limit():
    with pytest.raises(ValueError, match="overlong_buffer"):
        overlong_penalty(torch.tensor([1]), max_response_tokens=10, overlong_buffer=11)


def test_dynamic_sampling_keeps_only_groups_whose_accuracy_varies():
    """Groups: a all right, b mixed, c all wrong, d of one, e 'equal' up to float noise."""
    acc = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.1 + 0.2, 0.3])
    groups = torch.tensor([0, 0, 1, 1, 2, 2, 3, 4, 4])
    keep = groups_with_signal(acc, groups)
    assert keep.tolist() == [False, False, True, True, False, False, False, False, False]


def test_dynamic_sampling_filter_handles_empty_input():
    assert groups_with_signal(torch.zeros(0), torch.zeros(0, dtype=torch.long)).numel() == 0
