"""Learning-rate schedules by hand and against transformers' (so runs line up step for step with TRL)."""

import math

import pytest
import torch

from ponder.train.optim import build_optimizer, lr_at, warmup_steps
from tests.helpers import approx


def test_schedule_by_hand():
    """base 1, 10 steps, 2 warmup: 0, 0.5, then decay over 8 steps.

    cosine at step 6: progress 4/8 = 0.5 -> 0.5 (1 + cos(π/2)) = 0.5; linear at step 6: 1 - 0.5 = 0.5;
    with min_lr_ratio 0.1 the cosine ends at 0.1 + 0.9 * 0.5 (1 + cos(π * 7/8)) at step 9.
    """
    kw = dict(base_lr=1.0, total_steps=10, warmup=2)
    assert [lr_at(s, **kw) for s in (0, 1, 2)] == [0.0, 0.5, 1.0]
    assert lr_at(6, schedule="cosine", **kw) == approx(0.5, factor=4)  # float64 cos: a few roundings
    assert lr_at(6, schedule="linear", **kw) == approx(0.5, factor=4)
    assert lr_at(6, schedule="constant", **kw) == 1.0
    end = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 7 / 8))
    assert lr_at(9, schedule="cosine", min_lr_ratio=0.1, **kw) == approx(end, factor=4)
    assert warmup_steps(10, 0.1) == 1 and warmup_steps(10, 0.15) == 2


@pytest.mark.parametrize("kind", ["cosine", "linear"])
def test_schedule_matches_transformers(kind):
    from transformers import get_cosine_schedule_with_warmup, get_linear_schedule_with_warmup

    make = get_cosine_schedule_with_warmup if kind == "cosine" else get_linear_schedule_with_warmup
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=3e-4)
    sched = make(opt, num_warmup_steps=3, num_training_steps=17)
    for step in range(17):
        assert lr_at(step, base_lr=3e-4, total_steps=17, warmup=3, schedule=kind) == approx(
            opt.param_groups[0]["lr"],
            factor=4,  # the same float64 formula, written in two places
        )
        opt.step()
        sched.step()


def test_weight_decay_skips_biases_and_norms():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4))
    opt = build_optimizer(model, lr=1e-3, weight_decay=0.1)
    decay, no_decay = opt.param_groups
    assert [p.shape for p in decay["params"]] == [torch.Size([4, 3])] and decay["weight_decay"] == 0.1
    assert len(no_decay["params"]) == 3 and no_decay["weight_decay"] == 0.0
