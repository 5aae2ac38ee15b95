"""Fixtures for tests on a real pretrained model: SmolLM2-135M-Instruct, imported by ``make real-model``.

The folder is ``runs/smollm2-135m`` in this checkout (or ``PONDER_REAL_MODEL``). A missing folder fails the
tests with the command that makes it: these tests run only when asked for (``make test-real``).
"""

import os
from pathlib import Path

import pytest

from tests.helpers import ROOT

# One torch thread in these tests and their subprocesses (the machine is shared).
THREADS_ENV = {"OMP_NUM_THREADS": "1"}
DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


@pytest.fixture(scope="session")
def real_model_dir() -> Path:
    path = Path(os.environ.get("PONDER_REAL_MODEL", ROOT / "runs" / "smollm2-135m"))
    if not (path / "model.safetensors").is_file():
        pytest.fail(f"{path}: no imported real model; run `make real-model` first")
    return path


@pytest.fixture(scope="session")
def real_tokenizer(real_model_dir):
    from ponder.train.model import load_tokenizer

    return load_tokenizer(real_model_dir)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
