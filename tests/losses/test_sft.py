"""Token-mean SFT loss against values worked out by hand.

Every value here is a sum of halves and integers divided by 4 or 2: exact in binary, so the results
must match to the last bit on every machine; only 7.5 / 10 rounds.
"""

import torch

from ponder.losses.sft import sft_loss
from tests.helpers import assert_close, assert_exact

LOGPS = torch.tensor([[-1.0, -2.0, -3.0], [-0.5, -4.0, -9.0]])
MASK = torch.tensor([[1, 1, 0], [1, 1, 0]])


def test_token_mean_over_masked_tokens():
    """Counted tokens: -1, -2, -0.5, -4 -> NLL sum 7.5 over 4 tokens = 1.875 (the -3 and -9 are masked)."""
    assert_exact(sft_loss(LOGPS, MASK), torch.tensor(1.875))


def test_step_normaliser_makes_accumulation_exact():
    """With the step's token count as normaliser the micro-batch losses add up to the whole-step loss.

    Whole step: 7.5 / 4 = 1.875. Row 0 alone: (1 + 2) / 4 = 0.75; row 1 alone: (0.5 + 4) / 4 = 1.125;
    0.75 + 1.125 = 1.875. (Averaging each row by its own count would give (1.5 + 2.25) / 2 = 1.875 here
    only by chance; with num_tokens=10 instead: 7.5 / 10 = 0.75.)
    """
    parts = [sft_loss(LOGPS[i], MASK[i], num_tokens=4) for i in range(2)]
    assert_exact(parts[0], torch.tensor(0.75))
    assert_exact(parts[0] + parts[1], sft_loss(LOGPS, MASK))
    assert_close(sft_loss(LOGPS, MASK, num_tokens=10), torch.tensor(0.75), factor=1)  # 7.5 / 10: one rounding


def test_gradient_is_minus_mask_over_count():
    """d loss / d logp_t = -m_t / N = -0.25 for counted tokens, 0 for masked ones."""
    x = LOGPS.clone().requires_grad_(True)
    sft_loss(x, MASK).backward()
    assert_exact(x.grad, -MASK.float() / 4)


def test_no_mask_counts_everything():
    """Packed log-probs hold scored tokens only: mean NLL of [-1, -2, -3] = 2."""
    assert_exact(sft_loss(torch.tensor([-1.0, -2.0, -3.0])), torch.tensor(2.0))
