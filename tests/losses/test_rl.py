"""RL losses and advantages against values worked out by hand (each docstring shows the computation)."""

import math

import pytest
import torch

from ponder.losses.rl import (
    aggregate,
    gae,
    group_advantages,
    kl_estimate,
    last_token_rewards,
    policy_loss,
    value_loss,
    whiten,
)
from ponder.losses.variants import GRPO_VARIANTS
from tests.helpers import approx, assert_close

# Values are float64 from a few operations on the inputs: 4 roundings of the largest value compared is
# ample (tests/helpers.py); literals written with 6 decimals are off by up to 5e-7 and get 8.
FEW = 4


def t(x):
    return torch.tensor(x, dtype=torch.float64)


def test_gae_gamma_lambda_one_is_reward_minus_value():
    """One response of 3 tokens, reward 1 on the last token, V = (0.5, 0.6, 0.8), γ = λ = 1.

    δ_2 = 1 + 0 - 0.8 = 0.2 (terminal after the last token); δ_1 = 0 + 0.8 - 0.6 = 0.2; δ_0 = 0 + 0.6 - 0.5 = 0.1.
    Â_2 = 0.2; Â_1 = 0.2 + 0.2 = 0.4; Â_0 = 0.1 + 0.4 = 0.5 -- i.e. Â_t = R - V_t. Returns Â + V = 1 everywhere.
    """
    adv, ret = gae(t([[0.0, 0.0, 1.0]]), t([[0.5, 0.6, 0.8]]), t([[1, 1, 1]]), gamma=1.0, lam=1.0)
    assert_close(adv, t([[0.5, 0.4, 0.2]]), factor=FEW)
    assert_close(ret, t([[1.0, 1.0, 1.0]]), factor=FEW)


def test_gae_discounted_with_padding():
    """Row 0 has 2 real tokens (T = 3), rewards (0, 2), V = (1.0, 0.5) and a padded value 9 that must not leak.

    γ = 0.9, λ = 0.5: δ_1 = 2 + 0 - 0.5 = 1.5 (terminal); δ_0 = 0 + 0.9·0.5 - 1.0 = -0.55.
    Â_1 = 1.5; Â_0 = -0.55 + 0.9·0.5·1.5 = 0.125. Returns: R_0 = 0.125 + 1.0 = 1.125, R_1 = 1.5 + 0.5 = 2.0.
    Row 1 (one token, reward 3, V = 1): Â = 3 - 1 = 2, R = 3. Padding is 0 in both outputs.
    """
    rewards = t([[0.0, 2.0, 5.0], [3.0, 0.0, 0.0]])
    values = t([[1.0, 0.5, 9.0], [1.0, 7.0, 7.0]])
    mask = t([[1, 1, 0], [1, 0, 0]])
    adv, ret = gae(rewards, values, mask, gamma=0.9, lam=0.5)
    assert_close(adv, t([[0.125, 1.5, 0.0], [2.0, 0.0, 0.0]]), factor=FEW)
    assert_close(ret, t([[1.125, 2.0, 0.0], [3.0, 0.0, 0.0]]), factor=FEW)


def test_gae_rejects_left_padding():
    with pytest.raises(ValueError, match="right-padded"):
        gae(t([[0.0, 1.0]]), t([[0.0, 0.0]]), t([[0, 1]]))


def test_last_token_rewards():
    """Scores (1, -2, 5) on rows of lengths 3, 1 and 0: [[0,0,1],[-2,0,0],[0,0,0]]."""
    r = last_token_rewards(t([1.0, -2.0, 5.0]), t([[1, 1, 1], [1, 0, 0], [0, 0, 0]]))
    assert torch.equal(r, t([[0, 0, 1.0], [-2.0, 0, 0], [0, 0, 0]]))


def test_policy_loss_clipped_and_unclipped_regimes():
    """ε = 0.2, four tokens (A, ρ): per-token ℓ = max(-A ρ, -A clip(ρ, 0.8, 1.2)).

    (+1, 1.1): -1.1 vs -1.1 -> -1.1 (inside the range, unclipped)
    (+1, 1.5): -1.5 vs -1.2 -> -1.2 (clipped: no gain from pushing ρ further up)
    (-1, 0.5):  0.5 vs  0.8 ->  0.8 (clipped: no gain from pushing ρ further down)
    (-1, 1.5):  1.5 vs  1.2 ->  1.5 (unclipped: the pessimistic bound keeps the full penalty)
    token-mean = (-1.1 - 1.2 + 0.8 + 1.5) / 4 = 0.0; clip fraction = 2/4.
    Gradient w.r.t. log π: -A ρ where unclipped (-1.1, 0, 0, 1.5), 0 where clipped; divided by 4 tokens.
    """
    ratios = t([[1.1, 1.5, 0.5, 1.5]])
    logp = torch.log(ratios).requires_grad_(True)
    out = policy_loss(
        logp, torch.zeros_like(logp), t([[1.0, 1.0, -1.0, -1.0]]), t([[1, 1, 1, 1]]), clip_low=0.2
    )
    assert_close(out.per_token, t([[-1.1, -1.2, 0.8, 1.5]]), factor=FEW)
    assert out.loss.item() == approx(0.0, factor=FEW, scale=1.5)  # a sum of terms up to 1.5
    assert out.clip_fraction.item() == 0.5  # 2 of 4: exact
    out.loss.backward()
    assert_close(logp.grad, t([[-1.1, 0.0, 0.0, 1.5]]) / 4, factor=FEW)


def test_policy_loss_clip_higher_and_ratio_one():
    """DAPO clip-higher (0.2, 0.28): (A=+1, ρ=1.25) is inside [0.8, 1.28] so ℓ = -1.25, unclipped.
    With ρ = 1 everywhere (first PPO epoch) ℓ = -A and the approx KL is 0."""
    out = policy_loss(torch.log(t([[1.25]])), t([[0.0]]), t([[1.0]]), t([[1]]), clip_low=0.2, clip_high=0.28)
    assert out.loss.item() == approx(-1.25, factor=FEW)
    assert out.clip_fraction.item() == 0.0
    out = policy_loss(t([[-0.3, -2.0]]), t([[-0.3, -2.0]]), t([[0.5, -2.0]]), t([[1, 1]]))
    assert out.loss.item() == approx((-0.5 + 2.0) / 2, factor=FEW)
    assert out.approx_kl.item() == 0.0  # log-ratios exactly 0


def test_value_loss_clipped():
    """c = 0.2, per token ½ max((V-R)², (V_old + clip(V - V_old, ±0.2) - R)²):

    V=1.0, V_old=0.5, R=0: plain 1.0, clipped V 0.7 -> 0.49; max 1.0 -> 0.5
    V=0.6, V_old=0.5, R=1: plain 0.16, clipped V 0.6 -> 0.16 -> 0.08
    V=1.2, V_old=0.5, R=1: plain 0.04, clipped V 0.7 -> 0.09 -> 0.045 (the clipped term is used)
    token-mean = (0.5 + 0.08 + 0.045) / 3 = 0.208333...; clip fraction 1/3.
    Without clipping: ½ (1.0 + 0.16 + 0.04) / 3 = 0.2.
    """
    v, old, ret, m = t([[1.0, 0.6, 1.2]]), t([[0.5, 0.5, 0.5]]), t([[0.0, 1.0, 1.0]]), t([[1, 1, 1]])
    out = value_loss(v, old, ret, m, clip=0.2)
    assert_close(out.per_token, t([[0.5, 0.08, 0.045]]), factor=FEW)
    assert out.loss.item() == approx(0.625 / 3, factor=FEW)
    assert out.clip_fraction.item() == approx(1 / 3, factor=FEW)
    assert value_loss(v, old, ret, m, clip=None).loss.item() == approx(0.2, factor=FEW)


def test_kl_estimators():
    """π = 0.5, π_ref = 0.25 at the sampled token: log ρ = log 0.5 = -0.693147.
    k1 = 0.693147; k2 = ½ · 0.480453 = 0.240227; k3 = 0.5 - 1 + 0.693147 = 0.193147."""
    logp, ref = t([math.log(0.5)]), t([math.log(0.25)])
    assert kl_estimate(logp, ref, "k1").item() == approx(math.log(2), factor=FEW)
    assert kl_estimate(logp, ref, "k2").item() == approx(0.5 * math.log(2) ** 2, factor=FEW)
    assert kl_estimate(logp, ref, "k3").item() == approx(0.5 - 1 + math.log(2), factor=FEW, scale=1.0)
    with pytest.raises(ValueError, match="k1, k2, k3"):
        kl_estimate(logp, ref, "k4")


def test_aggregations_by_hand():
    """ℓ = [[1,2,3],[4,·,·]] with mask [[1,1,1],[1,0,0]]:
    token-mean (1+2+3+4)/4 = 2.5; seq-mean-token-mean (6/3 + 4/1)/2 = 3; seq-mean-token-sum (6 + 4)/2 = 5;
    seq-mean-token-sum-norm with L = 4: 10 / (2·4) = 1.25."""
    per, m = t([[1.0, 2.0, 3.0], [4.0, 9.0, 9.0]]), t([[1, 1, 1], [1, 0, 0]])
    assert aggregate(per, m, "token-mean").item() == 2.5
    assert aggregate(per, m, "seq-mean-token-mean").item() == 3.0
    assert aggregate(per, m, "seq-mean-token-sum").item() == 5.0
    assert aggregate(per, m, "seq-mean-token-sum-norm", max_len=4).item() == 1.25
    with pytest.raises(ValueError, match="max_len"):
        aggregate(per, m, "seq-mean-token-sum-norm")


@pytest.mark.parametrize(
    "mode", ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm"]
)
def test_micro_batches_add_up_to_the_batch(mode):
    """Splitting the batch and passing the step's totals gives the same loss and gradient as one batch."""
    g = torch.Generator().manual_seed(0)
    logp = torch.randn(6, 5, generator=g, dtype=torch.float64)
    old = logp + 0.1 * torch.randn(6, 5, generator=g, dtype=torch.float64)
    adv = torch.randn(6, 5, generator=g, dtype=torch.float64)
    lengths = torch.tensor([5, 1, 3, 4, 2, 5])
    mask = (torch.arange(5)[None] < lengths[:, None]).double()
    kw = {"aggregation": mode, "max_len": 5}
    full_p = logp.clone().requires_grad_(True)
    full = policy_loss(full_p, old, adv, mask, **kw).loss
    full.backward()
    split_p = logp.clone().requires_grad_(True)
    total = 0.0
    for rows in (slice(0, 2), slice(2, 6)):
        part = policy_loss(
            split_p[rows],
            old[rows],
            adv[rows],
            mask[rows],
            num_tokens=mask.sum().item(),
            num_sequences=6,
            **kw,
        ).loss
        part.backward()
        total += part.item()
    assert total == approx(full.item(), factor=FEW)  # two partial sums against one sum
    assert_close(split_p.grad, full_p.grad, factor=FEW)


def test_whiten():
    """Real values (1, 2, 3) and one padded 100: mean 2, population std sqrt(2/3) = 0.816497;
    whitened (-1.224745, 0, 1.224745), padding 0."""
    out = whiten(t([[1.0, 2.0], [3.0, 100.0]]), t([[1, 1], [1, 0]]))
    assert_close(out, t([[-1.224745, 0.0], [1.224745, 0.0]]), factor=8)


def test_group_advantages_by_hand():
    """Group 7 scores (1, 0, 0, 1): mean 0.5, sample std sqrt((4 · 0.25) / 3) = 0.57735 -> ±0.866025;
    group 3 is one sample -> 0. Dr. GRPO: ±0.5 and 0."""
    scores, groups = t([1.0, 0.0, 5.0, 0.0, 1.0]), torch.tensor([7, 7, 3, 7, 7])
    out = group_advantages(scores, groups, eps=0.0)
    assert_close(out, t([0.866025, -0.866025, 0.0, -0.866025, 0.866025]), factor=8)
    out = group_advantages(scores, groups, scale_by_std=False)
    assert_close(out, t([0.5, -0.5, 0.0, -0.5, 0.5]), factor=FEW)


def _loop_advantages(scores, groups, scale_by_std, eps):
    out = []
    for i in range(len(scores)):
        members = [scores[j] for j in range(len(scores)) if groups[j] == groups[i]]
        mean = sum(members) / len(members)
        if not scale_by_std:
            out.append(scores[i] - mean)
            continue
        if len(members) == 1:
            out.append(0.0)
            continue
        std = math.sqrt(sum((x - mean) ** 2 for x in members) / (len(members) - 1))
        out.append((scores[i] - mean) / (std + eps))
    return out


@pytest.mark.parametrize("scale_by_std", [True, False])
def test_group_advantages_equal_a_plain_loop(scale_by_std):
    g = torch.Generator().manual_seed(3)
    for trial in range(20):
        n = 1 + trial * 3
        scores = torch.randint(0, 3, (n,), generator=g).double() + torch.rand(
            n, generator=g, dtype=torch.float64
        )
        groups = torch.randint(0, max(1, n // 3), (n,), generator=g)
        got = group_advantages(scores, groups, scale_by_std=scale_by_std, eps=1e-6)
        want = _loop_advantages(scores.tolist(), groups.tolist(), scale_by_std, 1e-6)
        # the same mean and std, vectorised against a loop: a few roundings of scores up to 3
        assert_close(got, t(want), factor=FEW, scale=3.0)


def test_grpo_variants_name_their_choices():
    assert GRPO_VARIANTS["grpo"].aggregation == "seq-mean-token-mean" and GRPO_VARIANTS["grpo"].scale_by_std
    assert (
        GRPO_VARIANTS["dr_grpo"].aggregation == "seq-mean-token-sum-norm"
        and not GRPO_VARIANTS["dr_grpo"].scale_by_std
    )
    assert GRPO_VARIANTS["dapo"].aggregation == "token-mean" and GRPO_VARIANTS["dapo"].clip_high == 0.28
