"""FSDP2 for real: ``accelerate launch --config_file fsdp.yaml --num_processes 2`` (the shipped config) starts
two gloo processes on CPU, and ponder runs accelerate's FSDP2 path there (sharding, mixed precision,
``cpu_ram_efficient_loading``, the gathered save). Runs equal one process."""

import json
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

import ponder
from ponder.recipes import dpo, sft
from ponder.train.logprobs import logprobs
from ponder.train.metrics import read_metrics
from ponder.train.model import load_model
from ponder.train.packing import PromptGroup, pack
from tests.helpers import BF16_ROUNDINGS, ROOT, assert_close, subprocess_env

FSDP_YAML = Path(ponder.__file__).parent / "recipes" / "configs" / "accelerate" / "fsdp.yaml"


def _launch(*args, mixed_precision=None):
    """``accelerate launch`` with the shipped FSDP config on 2 processes; returns stdout."""
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(FSDP_YAML)]
    cmd += ["--num_processes", "2"]
    if mixed_precision:
        cmd += ["--mixed_precision", mixed_precision]
    r = subprocess.run(
        [*cmd, *args],
        env=subprocess_env(OMP_NUM_THREADS="1", PONDER_NO_PROGRESS="1"),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def test_reference_is_sharded_and_gets_rank_0_weights(tiny_model_dir):
    """Rank 1's reference starts as zeros (the placeholders of cpu_ram_efficient_loading); after
    prepare_reference every rank holds about half of it and computes rank 0's log-probs. bf16 as shipped."""
    out = _launch(str(ROOT / "tests/train/fsdp_reference_script.py"), str(tiny_model_dir))
    report = json.loads(out.strip().splitlines()[-1])
    assert report["type"] == "FSDP" and report["mixed"] == "bf16"
    rank0, rank1 = report["ranks"]
    for r in (rank0, rank1):
        assert r["local"] < 0.6 * r["full"]  # sharded, not replicated
    assert rank0["local"] + rank1["local"] == rank0["full"]
    assert rank1["ref"] == rank0["ref"] and rank0["ref"] == rank0["policy"]
    # the values are those of the model (bf16 compute against the fp32 one-process computation)
    model = load_model(tiny_model_dir, trainable=False)
    with torch.no_grad():
        one = logprobs(model, pack([PromptGroup((5, 6, 7, 8), ((9, 10, 11), (12, 13)))])).tokens
    assert_close(torch.tensor(rank0["ref"]), one, factor=4 * BF16_ROUNDINGS)


def _weights(folder):
    return load_file(str(folder / "model.safetensors"))


def _same_run(fsdp_dir, one_dir, keys):
    """Per-step metrics within fp32 rounding; final weights within Adam's amplification of it (an update
    is g / sqrt(v): a rounding difference in a gradient near zero moves its weight by up to ~lr)."""
    ra, rb = read_metrics(fsdp_dir / "metrics.jsonl"), read_metrics(one_dir / "metrics.jsonl")
    assert [r["step"] for r in ra] == [r["step"] for r in rb] == [1, 2, 3]
    for x, y in zip(ra, rb, strict=True):
        for key in keys:
            assert_close(torch.tensor(x[key]), torch.tensor(y[key]), factor=64)
    wa, wb = _weights(fsdp_dir / "model"), _weights(one_dir / "model")
    assert wa.keys() == wb.keys()  # the tied head is stored once, as by one process
    for name in wb:
        assert_close(wa[name], wb[name], factor=2048)


def test_fsdp2_dpo_and_sft_equal_one_process(tmp_path, tiny_model_dir, pair_file, sft_file):
    """Same global batch on 2 FSDP2 processes (fp32) and on one: same losses, rewards and weights; the
    checkpoint's state/ is FSDP's own."""
    common = dict(lr=1e-3, max_steps=3, tokens_per_microbatch=400, tensorboard=False, warmup_ratio=0)
    overrides = [f"{k}={str(v).lower()}" for k, v in common.items()]
    model, fsdp_dpo, fsdp_sft = str(tiny_model_dir), tmp_path / "dpo-fsdp", tmp_path / "sft-fsdp"
    _launch(
        *("-m", "ponder", "train", "dpo", "--model", model, "--data", str(pair_file)),
        *("--output", str(fsdp_dpo), "pairs_per_step=8", "save_every=2", *overrides),
        mixed_precision="no",
    )
    assert (fsdp_dpo / "checkpoints/step-000002/state/pytorch_model_fsdp.bin").exists()
    dpo.run(
        dpo.DPOConfig(
            model=model, data=[str(pair_file)], output=str(tmp_path / "dpo1"), pairs_per_step=8, **common
        )
    )
    _same_run(fsdp_dpo, tmp_path / "dpo1", ("loss", "rewards_chosen", "rewards_rejected"))
    assert read_metrics(fsdp_dpo / "metrics.jsonl")[0]["loss"] == torch.log(torch.tensor(2.0)).item()

    _launch(
        *("-m", "ponder", "train", "sft", "--model", model, "--data", str(sft_file)),
        *("--output", str(fsdp_sft), "examples_per_step=8", *overrides),
        mixed_precision="no",
    )
    sft.run(
        sft.SFTConfig(
            model=model, data=[str(sft_file)], output=str(tmp_path / "sft1"), examples_per_step=8, **common
        )
    )
    _same_run(fsdp_sft, tmp_path / "sft1", ("loss", "response_tokens"))
