"""Fixtures for the training tests: the nano model's tokenizer, a fresh fp32 model, small data files."""

import pytest
import torch

from ponder.io import write_records
from ponder.tasks.synthetic import make


@pytest.fixture(autouse=True)
def _threads():
    # One thread: the nano model's matrices are too small to gain from more, and on a shared 2-core machine
    # a second thread waiting on a busy core makes each step several times slower.
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tokenizer(tiny_model_dir):
    from ponder.train.model import load_tokenizer

    return load_tokenizer(tiny_model_dir)


@pytest.fixture
def model(tiny_model_dir):
    from ponder.train.model import load_model

    return load_model(tiny_model_dir)


def _problems(n, seed=0):
    return make("arithmetic", n, seed)


@pytest.fixture(scope="session")
def pair_file(tmp_path_factory):
    """16 ThinkPO-style pairs: long step-by-step solution chosen, short one rejected."""
    path = tmp_path_factory.mktemp("data") / "pairs.jsonl"
    write_records(
        path,
        [
            {"id": p.id, "prompt": p.prompt, "chosen": p.meta["long"], "rejected": p.meta["short"]}
            for p in _problems(16)
        ],
    )
    return path


@pytest.fixture(scope="session")
def sft_file(tmp_path_factory):
    """16 prompt-completion examples with the long solutions."""
    path = tmp_path_factory.mktemp("data") / "sft.jsonl"
    write_records(path, [{"prompt": p.prompt, "completion": p.meta["long"]} for p in _problems(16, seed=1)])
    return path


def grads(model):
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])


EPS = torch.finfo(torch.float32).eps


def assert_close(actual, expected, factor=64, eps=EPS):
    """|actual - expected| <= factor * eps * max|expected|: the rounding of the magnitudes compared (fp32
    by default; pass bf16's eps for bf16 computations)."""
    a = torch.as_tensor(actual, dtype=torch.float64).detach()
    e = torch.as_tensor(expected, dtype=torch.float64).detach()
    bound = factor * eps * float(e.abs().max())
    err = float((a - e).abs().max())
    assert err <= bound, (err, bound)
