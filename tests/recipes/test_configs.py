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
