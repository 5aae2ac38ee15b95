"""The DPO family against values worked out by hand.

Shared inputs (three pairs, see ``_inputs``)::

    policy chosen   πc = [-2.0, -10.0, -5.0]     reference chosen   rc = [-2.5, -9.0, -5.0]
    policy rejected πr = [-3.0,  -8.0, -5.0]     reference rejected rr = [-2.5, -9.0, -6.0]

    πc - rc = [0.5, -1.0, 0.0]      πr - rr = [-0.5, 1.0, 1.0]
    h = (πc - rc) - (πr - rr) = [1.0, -2.0, -1.0];   with β = 0.5:  βh = [0.5, -1.0, -0.5]

Useful identity: -log σ(x) = log(1 + e^-x) =: sp(x), and sp(-x) = sp(x) + x.
    sp(0.5) = 0.4740770,  sp(-1.0) = 1.3132617,  sp(-0.5) = 0.9740770
"""

import math

import pytest
import torch

from ponder.losses.dpo import preference_loss
from tests.helpers import assert_close, assert_exact

# The hand-worked values are written to 7 decimals (off by up to 5e-8) and the loss takes a few fp32
# operations (log, exp, a product, a sum): 4 roundings of the largest value compared covers both.
# Values that are exact binary fractions computed exactly (rewards, margins, IPO and hinge losses) must
# match to the last bit.
HAND = 4

SP = torch.tensor([0.4740770, 1.3132617, 0.9740770])  # sp(βh) for the shared inputs


def _inputs(requires_grad=False):
    pc = torch.tensor([-2.0, -10.0, -5.0], requires_grad=requires_grad)
    pr = torch.tensor([-3.0, -8.0, -5.0], requires_grad=requires_grad)
    rc = torch.tensor([-2.5, -9.0, -5.0])
    rr = torch.tensor([-2.5, -9.0, -6.0])
    return pc, pr, rc, rr


def _loss(**kw):
    pc, pr, rc, rr = _inputs()
    n = torch.tensor([2, 4, 5])
    m = torch.tensor([1, 2, 5])
    return preference_loss(
        pc, pr, rc, rr, chosen_tokens=kw.pop("nc", n), rejected_tokens=kw.pop("nr", m), **kw
    )


def test_sigmoid_rewards_margins_accuracies():
    """sigmoid (DPO eq. 7): loss = sp(βh) = [0.4740770, 1.3132617, 0.9740770].

    rewards chosen   = β(πc - rc) = 0.5 * [0.5, -1, 0]  = [0.25, -0.5, 0.0]
    rewards rejected = β(πr - rr) = 0.5 * [-0.5, 1, 1] = [-0.25, 0.5, 0.5]
    margins = [0.5, -1.0, -0.5]; accuracies (chosen reward strictly larger) = [1, 0, 0]
    """
    out = _loss(loss_type="sigmoid", beta=0.5)
    assert_close(out.losses, SP, factor=HAND)
    assert_exact(out.rewards_chosen, torch.tensor([0.25, -0.5, 0.0]))
    assert_exact(out.rewards_rejected, torch.tensor([-0.25, 0.5, 0.5]))
    assert_exact(out.margins, torch.tensor([0.5, -1.0, -0.5]))
    assert_exact(out.accuracies, torch.tensor([1.0, 0.0, 0.0]))


def test_sigmoid_gradient():
    """d sp(βh) / d πc = -β σ(-βh); pair 0: -0.5 * σ(-0.5) = -0.5 * 0.3775407 = -0.1887703.

    d/dπr is the negative: +0.1887703. Pair 1 (βh = -1): -0.5 σ(1) = -0.5 * 0.7310586 = -0.3655293.
    """
    pc, pr, rc, rr = _inputs(requires_grad=True)
    n = torch.ones(3)
    preference_loss(pc, pr, rc, rr, chosen_tokens=n, rejected_tokens=n, beta=0.5).losses.sum().backward()
    assert_close(pc.grad[:2], torch.tensor([-0.1887703, -0.3655293]), factor=HAND)
    assert_close(pr.grad[:2], torch.tensor([0.1887703, 0.3655293]), factor=HAND)


def test_label_smoothing_cdpo():
    """cDPO, ε = 0.1: (1-ε) sp(βh) + ε sp(-βh) = sp(βh) + ε βh.

    = [0.4740770 + 0.05, 1.3132617 - 0.1, 0.9740770 - 0.05] = [0.5240770, 1.2132617, 0.9240770]
    """
    out = _loss(loss_type="sigmoid", beta=0.5, label_smoothing=0.1)
    assert_close(out.losses, torch.tensor([0.5240770, 1.2132617, 0.9240770]), factor=HAND)


def test_robust_rdpo():
    """rDPO, ε = 0.1: [(1-ε) sp(βh) - ε sp(-βh)] / (1-2ε) = sp(βh) - ε βh / (1-2ε) = sp(βh) - 0.125 βh.

    = [0.4740770 - 0.0625, 1.3132617 + 0.125, 0.9740770 + 0.0625] = [0.4115770, 1.4382617, 1.0365770]
    """
    out = _loss(loss_type="robust", beta=0.5, label_smoothing=0.1)
    assert_close(out.losses, torch.tensor([0.4115770, 1.4382617, 1.0365770]), factor=HAND)


def test_robust_without_noise_is_dpo():
    """With ε = 0 the rDPO correction vanishes: sp(βh)."""
    assert_close(_loss(loss_type="robust", beta=0.5).losses, SP, factor=HAND)


def test_ipo():
    """IPO (eq. 17): (h - 1/(2β))² with β = 0.5: (h - 1)² = [0, 9, 4]."""
    assert_exact(_loss(loss_type="ipo", beta=0.5).losses, torch.tensor([0.0, 9.0, 4.0]))


def test_hinge_and_its_clipped_regime():
    """hinge: max(0, 1 - βh) = [0.5, 2.0, 1.5] with β = 0.5.

    Clipped regime: with β = 2 pair 0 has βh = 2 >= 1, so its loss is 0 and it sends no gradient;
    pair 1: 1 - 2*(-2) = 5 (gradient d/dπc = -β = -2); pair 2: 1 - 2*(-1) = 3.
    """
    assert_exact(_loss(loss_type="hinge", beta=0.5).losses, torch.tensor([0.5, 2.0, 1.5]))
    pc, pr, rc, rr = _inputs(requires_grad=True)
    n = torch.ones(3)
    out = preference_loss(pc, pr, rc, rr, chosen_tokens=n, rejected_tokens=n, loss_type="hinge", beta=2.0)
    assert_exact(out.losses, torch.tensor([0.0, 5.0, 3.0]))
    out.losses.sum().backward()
    assert_exact(pc.grad, torch.tensor([0.0, -2.0, -2.0]))


def test_beta_to_zero():
    """β → 0: sp(βh) → log 2 for every pair and its gradient d/dπc = -β σ(-βh) → -β/2.

    With β = 1e-6, h = [1, -2, -1]: loss = log 2 - βh/2 + O(β²) = log 2 + [-5e-7, 1e-6, 5e-7] (to float32
    precision), gradient = -β σ(-βh) = -5e-7 (relative error O(β)).
    """
    pc, pr, rc, rr = _inputs(requires_grad=True)
    n = torch.ones(3)
    out = preference_loss(pc, pr, rc, rr, chosen_tokens=n, rejected_tokens=n, beta=1e-6)
    expected = torch.tensor([math.log(2) - 5e-7, math.log(2) + 1e-6, math.log(2) + 5e-7], dtype=torch.float64)
    # The terms ±5e-7 are 7 eps x log 2: 3 roundings still tells them apart from a flat log 2.
    assert_close(out.losses.double(), expected, factor=3)
    out.losses.sum().backward()
    # -5e-7 is the first-order value: the exact gradient differs by O(β) relatively (5e-7 = 4 eps).
    assert_close(pc.grad, torch.full((3,), -5e-7), factor=16)


def test_length_normalised():
    """Mean log-probs: lengths chosen [2, 4, 5], rejected [1, 2, 5].

    πc/n - rc/n = [0.5/2, -1/4, 0/5] = [0.25, -0.25, 0];  πr/m - rr/m = [-0.5/1, 1/2, 1/5] = [-0.5, 0.5, 0.2]
    h = [0.75, -0.75, -0.2]; IPO with β = 0.5: (h - 1)² = [0.0625, 3.0625, 1.44]
    rewards chosen = 0.5 * [0.25, -0.25, 0] = [0.125, -0.125, 0]
    """
    out = _loss(loss_type="ipo", beta=0.5, length_normalize=True)
    assert_close(out.losses, torch.tensor([0.0625, 3.0625, 1.44]), factor=HAND)  # 0.2 and 1.44 are not binary
    assert_exact(out.rewards_chosen, torch.tensor([0.125, -0.125, 0.0]))


def test_sft_term_on_chosen():
    """sft_loss_weight α = 2 adds α · (-πc / |yc|) = 2 * [2/2, 10/4, 5/5] = [2, 5, 2] to sp(βh).

    = [2.4740770, 6.3132617, 2.9740770]
    """
    out = _loss(loss_type="sigmoid", beta=0.5, sft_loss_weight=2.0)
    assert_close(out.losses, torch.tensor([2.4740770, 6.3132617, 2.9740770]), factor=HAND)


def test_reference_free():
    """No reference: h = πc - πr = [1, -2, 0], βh = [0.5, -1, 0]; loss = [sp(0.5), sp(-1), log 2].

    rewards are β π: chosen [-1, -5, -2.5], rejected [-1.5, -4, -2.5].
    """
    pc, pr, _, _ = _inputs()
    n = torch.ones(3)
    out = preference_loss(pc, pr, None, None, chosen_tokens=n, rejected_tokens=n, beta=0.5)
    assert_close(out.losses, torch.tensor([0.4740770, 1.3132617, 0.6931472]), factor=HAND)
    assert_exact(out.rewards_chosen, torch.tensor([-1.0, -5.0, -2.5]))


def test_bad_arguments():
    pc, pr, rc, rr = _inputs()
    n = torch.ones(3)
    with pytest.raises(ValueError, match="unknown loss_type"):
        preference_loss(pc, pr, rc, rr, chosen_tokens=n, rejected_tokens=n, loss_type="kto")
    with pytest.raises(ValueError, match="both reference"):
        preference_loss(pc, pr, rc, None, chosen_tokens=n, rejected_tokens=n)
    with pytest.raises(ValueError, match="label_smoothing"):
        preference_loss(
            pc, pr, rc, rr, chosen_tokens=n, rejected_tokens=n, loss_type="robust", label_smoothing=0.5
        )
