"""Where the model runs and in which dtype (hf), and the vLLM engine options: one declaration in
BackendSettings, reached from the command line and from recipe configs."""

import json
import subprocess

import pytest
import torch

from ponder.config import load_config
from ponder.errors import ConfigError, PonderError
from ponder.generation.backend import BackendSettings
from ponder.generation.base import SamplingParams
from ponder.recipes.pfpo.math import PFPOConfig
from ponder.recipes.thinkpo import ThinkPOConfig
from tests.helpers import ROOT, THREADS_ENV, ponder_cmd, subprocess_env

GPU = torch.cuda.is_available()
PARAMS = SamplingParams(n=2, temperature=1.0, max_new_tokens=8, seed=1)
CHAT = [[{"role": "user", "content": "What is 2 + 3?"}]]


def test_auto_is_this_machines_device_and_its_dtype(tiny_model_dir):
    s = BackendSettings()
    assert (s.device, s.dtype) == ("auto", "auto")
    assert s.torch_device() == ("cuda:0" if GPU else "cpu")
    assert s.torch_dtype("cpu") == "float32" and s.torch_dtype("cuda:0") == "bfloat16"
    with s.open(str(tiny_model_dir)) as gen:
        weights = next(gen.model.parameters())
        assert str(weights.device) == s.torch_device()
        assert weights.dtype == (torch.bfloat16 if GPU else torch.float32)
        assert [len(c) for c in gen.generate(CHAT, PARAMS)] == [2]


def test_cpu_in_bfloat16_generates(tiny_model_dir):
    with BackendSettings(device="cpu", dtype="bfloat16").open(str(tiny_model_dir)) as gen:
        assert next(gen.model.parameters()).dtype == torch.bfloat16 and gen.device.type == "cpu"
        out = gen.generate(CHAT, PARAMS)[0]
    assert len(out) == 2 and all(1 <= c.num_tokens <= 8 for c in out)


@pytest.mark.skipif(GPU, reason="checks the refusal on a machine without CUDA")
def test_cuda_without_a_gpu_is_one_line():
    with pytest.raises(PonderError, match="--device cuda: no CUDA device is visible"):
        BackendSettings(device="cuda").torch_device()


def test_engine_options_are_the_settings():
    assert BackendSettings(backend="vllm").engine_options() == {
        "dtype": "bfloat16" if GPU else "float32",
        "tensor_parallel_size": 1,
        "enforce_eager": False,
    }
    s = BackendSettings(
        backend="vllm",
        dtype="bfloat16",
        tensor_parallel_size=8,
        gpu_memory_utilization=0.85,
        max_model_len=16384,
        enforce_eager=True,
    )
    assert s.engine_options() == {
        "dtype": "bfloat16",
        "tensor_parallel_size": 8,
        "gpu_memory_utilization": 0.85,
        "max_model_len": 16384,
        "enforce_eager": True,
    }


def test_engine_options_under_several_processes(monkeypatch):
    """Under a launch of 4 processes each process's engine is one data-parallel member (vLLM's external launcher:
    the process's own device, its own share of the records); one engine cannot span them."""
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "1")
    options = BackendSettings(backend="vllm").engine_options()
    assert (options["distributed_executor_backend"], options["data_parallel_size"]) == (
        "external_launcher",
        4,
    )
    with pytest.raises(PonderError, match="--tensor-parallel-size 2: under 4 processes"):
        BackendSettings(backend="vllm", tensor_parallel_size=2).engine_options()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("tensor_parallel_size", 0, "tensor_parallel_size must be >= 1"),
        ("gpu_memory_utilization", 1.5, r"gpu_memory_utilization must be in \(0, 1\]"),
        ("max_model_len", 0, "max_model_len must be >= 1"),
    ],
)
def test_engine_options_are_checked(key, value, message):
    with pytest.raises(ValueError, match=message):
        BackendSettings(backend="vllm", **{key: value})


def test_recipe_configs_reach_the_engine_options():
    """Every generating section of a recipe is a BackendSettings: its YAML keys and key=value overrides
    become the engine's keyword arguments."""
    cfg = load_config(
        ThinkPOConfig,
        ROOT / "ponder/recipes/configs/thinkpo-7b.yaml",
        ["model=m", "output=o", "generation.tensor_parallel_size=4", "generation.max_model_len=20000"],
    )
    options = cfg.generation.engine_options()
    assert (options["tensor_parallel_size"], options["max_model_len"]) == (4, 20000)
    pfpo = load_config(
        PFPOConfig,
        ROOT / "ponder/recipes/configs/pfpo-math-llama.yaml",
        ["model=m", "output=o", "prompts=p", "generation.enforce_eager=true", "generation.device=cpu"],
    )
    assert pfpo.generation.engine_options()["enforce_eager"] is True
    assert pfpo.generation.torch_device() == "cpu"
    with pytest.raises(ConfigError, match="gpu_memory_utilization"):
        load_config(
            ThinkPOConfig,
            None,
            ["model=m", "output=o", "long=l", "short.samples=s", "generation.gpu_memory_utilization=2"],
        )


def test_command_line_device_and_dtype(tmp_path, tiny_model_dir):
    (tmp_path / "q.jsonl").write_text(json.dumps({"id": "a", "prompt": "What is 1 + 1?"}) + "\n")
    run = [*ponder_cmd("generate", "--model", str(tiny_model_dir), "-i", str(tmp_path / "q.jsonl"))]
    run += ["-n", "2", "--max-new-tokens", "8", "--threads", "1"]
    env = subprocess_env(**THREADS_ENV)
    done = subprocess.run(
        [*run, "-o", str(tmp_path / "bf16.jsonl"), "--device", "cpu", "--dtype", "bfloat16"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert len(json.loads((tmp_path / "bf16.jsonl").read_text())["responses"]) == 2
    bad = subprocess.run(
        [*run, "-o", str(tmp_path / "x.jsonl"), "--backend", "vllm", "--tensor-parallel-size", "0"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "--tensor-parallel-size must be >= 1, got 0" in bad.stderr
