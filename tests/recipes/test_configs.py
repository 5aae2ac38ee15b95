"""Shipped configs load: the recipe YAMLs into their dataclasses, the accelerate launch configs into accelerate."""

from pathlib import Path

import pytest

import ponder
from ponder.config import load_config
from ponder.recipes.dpo import DPOConfig
from ponder.recipes.sft import SFTConfig

CONFIGS = Path(ponder.__file__).parent / "recipes" / "configs"


@pytest.mark.parametrize(("name", "cls"), [("sft.yaml", SFTConfig), ("dpo.yaml", DPOConfig)])
def test_recipe_configs_load(name, cls):
    cfg = load_config(
        cls, CONFIGS / name, ["seed=3"], model="m", data=["a.jsonl:1.0,b.jsonl:0.5"], output="o"
    )
    assert cfg.seed == 3 and cfg.data == ["a.jsonl:1.0,b.jsonl:0.5"]


@pytest.mark.parametrize(
    ("name", "kind"),
    [("ddp.yaml", "MULTI_GPU"), ("fsdp.yaml", "FSDP"), ("deepspeed_zero3.yaml", "DEEPSPEED")],
)
def test_accelerate_configs_parse(name, kind):
    from accelerate.commands.config.config_args import ClusterConfig

    cfg = ClusterConfig.from_yaml_file(str(CONFIGS / "accelerate" / name))
    assert cfg.distributed_type.value == kind and cfg.mixed_precision == "bf16"


def test_deepspeed_config_as_far_as_a_cpu_machine_goes(monkeypatch):
    """The shipped ZeRO-3 config through accelerate's launcher up to where processes would start (that step
    needs the deepspeed package, and DeepSpeed itself GPUs): the launcher parses it and prepares the
    processes' environment; accelerate's DeepSpeedPlugin, built from that environment as in each process,
    holds ZeRO-3, clipping 1.0 (ponder's max_grad_norm default), no accumulation of its own, bf16 and
    16-bit gathering for save_pretrained; the reference's engine config keeps stage 3, drops "auto"."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils import DeepSpeedPlugin
    from accelerate.utils.launch import prepare_deepspeed_cmd_env

    from ponder.recipes.dpo import DPOConfig
    from ponder.train.distributed import reference_deepspeed_config

    path = CONFIGS / "accelerate" / "deepspeed_zero3.yaml"
    argv = ["--config_file", str(path), "--num_processes", "2", "-m", "ponder", "train", "dpo"]
    args, defaults, from_config = _validate_launch_command(launch_command_parser().parse_args(argv))
    assert args.use_deepspeed and args.num_processes == 2
    # as accelerate's launch_command does before it calls its DeepSpeed launcher
    fields = list(defaults.deepspeed_config) + (["mixed_precision"] if from_config else [])
    args.deepspeed_fields_from_accelerate_config = ",".join(fields)
    _, env = prepare_deepspeed_cmd_env(args)
    assert env["ACCELERATE_USE_DEEPSPEED"] == "true" and env["ACCELERATE_DEEPSPEED_ZERO_STAGE"] == "3"
    for key, value in env.items():
        if key.startswith("ACCELERATE_"):
            monkeypatch.setenv(key, value)
    plugin = DeepSpeedPlugin()
    plugin.set_mixed_precision(env["ACCELERATE_MIXED_PRECISION"])
    ds = plugin.deepspeed_config
    assert ds["zero_optimization"]["stage"] == 3
    assert ds["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True
    assert ds["gradient_clipping"] == DPOConfig(model="m", data=["d"], output="o").max_grad_norm
    assert ds["gradient_accumulation_steps"] == 1 and ds["bf16"] == {"enabled": True}
    ref = reference_deepspeed_config(ds)
    assert ref["zero_optimization"]["stage"] == 3 and ref["bf16"] == {"enabled": True}
    assert "auto" not in repr(ref) and "optimizer" not in ref
    assert reference_deepspeed_config({"zero_optimization": {"stage": 2}}) is None


def test_deepspeed_launch_on_cpu_is_refused_in_one_line(tmp_path, tiny_model_dir, pair_file):
    """On CPU accelerate would run a DeepSpeed config as plain data parallel without a word: refused."""
    import subprocess

    from tests.helpers import ponder_cmd, subprocess_env

    cmd = ponder_cmd("train", "dpo", "--model", str(tiny_model_dir), "--data", str(pair_file))
    r = subprocess.run(
        [*cmd, "--output", str(tmp_path / "o"), "max_steps=1"],
        env=subprocess_env(ACCELERATE_USE_DEEPSPEED="true", CUDA_VISIBLE_DEVICES=""),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "DeepSpeed launch config needs GPUs" in lines[0], r.stderr


def test_ray_fan_out_is_set_from_a_config_section():
    """Sampling and the sandbox of code pairs go to a Ray cluster by their sections' fields; where programs
    run leaves what a scores record depends on unchanged."""
    from ponder.recipes.pfpo.code import PFPOCodeConfig

    ray = ["ray_address=auto", "cpus_per_worker=8"]
    overrides = [f"{section}.{kv}" for section in ("sample", "outcome") for kv in ray]
    cfg = load_config(
        PFPOCodeConfig,
        CONFIGS / "pfpo-code-deepseek.yaml",
        [*overrides, "sample.workers=4", "sample.gpus_per_worker=1", "outcome.workers=16"],
    )
    assert (cfg.sample.ray_address, cfg.sample.workers, cfg.sample.gpus_per_worker) == ("auto", 4, 1.0)
    assert cfg.sample.fan_out and cfg.sample.cpus_per_worker == 8.0
    assert (cfg.outcome.ray_address, cfg.outcome.workers, cfg.outcome.cpus_per_worker) == ("auto", 16, 8.0)
    here = load_config(PFPOCodeConfig, CONFIGS / "pfpo-code-deepseek.yaml", [])
    assert not here.sample.fan_out and here.outcome.ray_address is None
    assert cfg.outcome.fingerprinted == here.outcome.fingerprinted
