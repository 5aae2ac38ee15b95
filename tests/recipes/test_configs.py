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
