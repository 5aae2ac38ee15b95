import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("PONDER_NO_PROGRESS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A nano tiny model (seed 0), built once per test session. Treat it as read-only."""
    from ponder.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "nano", "nano", seed=0)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # One torch thread in every test: the models are tiny (per-op overhead dominates), and on a machine shared
    # with other jobs two spinning threads per process were measured 4-20x slower than one.
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def chatty_model_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """The nano tiny model fine-tuned to answer ``ok 42`` (read-only)."""
    from tests.helpers import train_chatty

    return train_chatty(tiny_model_dir, tmp_path_factory.mktemp("chatty") / "chatty")


def _server(model_dir, name, tmp_path_factory):
    from tests.helpers import Server

    server = Server(model_dir, name, tmp_path_factory.mktemp("serve") / "serve.log")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chatty_server(chatty_model_dir, tmp_path_factory):
    """``ponder serve`` with the model that answers ``ok 42``."""
    yield from _server(chatty_model_dir, "chatty", tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_server(tiny_model_dir, tmp_path_factory):
    """``ponder serve`` with the untrained nano model: its answers are noise."""
    yield from _server(tiny_model_dir, "nano", tmp_path_factory)


@pytest.fixture(scope="session")
def code_pool():
    """Two sandbox workers (started once, about 0.3 s)."""
    from ponder.verify.code import SandboxPool

    with SandboxPool(2) as p:
        yield p


@pytest.fixture(scope="session")
def tokenizer(tiny_model_dir):
    from ponder.train.model import load_tokenizer

    return load_tokenizer(tiny_model_dir)


@pytest.fixture
def model(tiny_model_dir):
    from ponder.train.model import load_model

    return load_model(tiny_model_dir)


@pytest.fixture(scope="session")
def pair_file(tmp_path_factory):
    """16 ThinkPO-style pairs: long step-by-step solution chosen, short one rejected."""
    from ponder.io import write_records
    from ponder.tasks.synthetic import make

    path = tmp_path_factory.mktemp("data") / "pairs.jsonl"
    rows = [
        {"id": p.id, "prompt": p.prompt, "chosen": p.meta["long"], "rejected": p.meta["short"]}
        for p in make("arithmetic", 16, 0)
    ]
    write_records(path, rows)
    return path


@pytest.fixture(scope="session")
def sft_file(tmp_path_factory):
    """16 prompt-completion examples with the long solutions."""
    from ponder.io import write_records
    from ponder.tasks.synthetic import make

    path = tmp_path_factory.mktemp("data") / "sft.jsonl"
    write_records(
        path, [{"prompt": p.prompt, "completion": p.meta["long"]} for p in make("arithmetic", 16, 1)]
    )
    return path


@pytest.fixture(scope="session")
def real_model_dir() -> Path:
    """SmolLM2-135M-Instruct imported by ``make real-model`` (``runs/smollm2-135m`` or ``PONDER_REAL_MODEL``).
    A missing folder fails the ``real`` tests with the command that makes it: they run only when asked for
    (``make test-real``)."""
    from tests.helpers import ROOT

    path = Path(os.environ.get("PONDER_REAL_MODEL", ROOT / "runs" / "smollm2-135m"))
    if not (path / "model.safetensors").is_file():
        pytest.fail(f"{path}: no imported real model; run `make real-model` first")
    return path


@pytest.fixture(scope="session")
def real_tokenizer(real_model_dir):
    from ponder.train.model import load_tokenizer

    return load_tokenizer(real_model_dir)


@pytest.fixture(scope="session")
def real_generator(real_model_dir):
    from ponder.generation.hf import HFGenerator

    return HFGenerator(real_model_dir, batch_size=8)


@pytest.fixture(scope="session")
def sums_model(tiny_model_dir, tmp_path_factory):
    """The nano model after 80 full-batch steps on 32 running sums: it writes the running-sum form and boxes an
    answer, right on some sums and wrong on others, so its samples disagree and votes give pairs."""
    from ponder.demos.pfpo import sum_problems
    from tests.helpers import chat, fine_tune

    convs = [chat(p.prompt, p.meta["solution"]) for p in sum_problems(32, 7, min_terms=3, max_terms=4)]
    return fine_tune(tiny_model_dir, tmp_path_factory.mktemp("sums") / "model", convs, steps=80)


@pytest.fixture(scope="session")
def ray_head():
    """A Ray head on 127.0.0.1 with 2 CPUs (``pytest -m ray``), shared by the Ray tests of a session; this
    process and the commands it starts join it on the loopback."""
    from tests.ray_cluster import LOOPBACK_ENV, RayHead

    saved = {k: os.environ.get(k) for k in LOOPBACK_ENV}
    os.environ.update(LOOPBACK_ENV)  # before ray is imported: it reads them once
    import ray

    head = RayHead(cpus=2)
    try:
        yield head
    finally:
        ray.shutdown()
        head.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
