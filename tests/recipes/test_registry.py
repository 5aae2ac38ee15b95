"""`ponder run CONFIG`: every packaged recipe config names a recipe whose config class loads it."""

from pathlib import Path

import pytest

from ponder.config import load_config
from ponder.errors import PonderError
from ponder.recipes import registry

CONFIGS = sorted((Path(registry.__file__).parent / "configs").glob("*.yaml"))
EXPECTED = {
    "thinkpo": "ThinkPOConfig",
    "pfpo": "PFPOConfig",
    "pfpo-code": "PFPOCodeConfig",
    "thinker": "RLConfig",
    "sft": "SFTConfig",
    "dpo": "DPOConfig",
}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_packaged_config_loads_into_its_recipe(path):
    import importlib

    name = registry.recipe_of(path)
    module, cls_name, _ = registry.RECIPES[name]
    assert cls_name == EXPECTED[name]
    cls = getattr(importlib.import_module(module), cls_name)
    # required paths are given on the command line in real use
    overrides = {
        f: "x"
        for f in ("model", "data", "output", "sft_data", "long", "prompts")
        if f in cls.__dataclass_fields__
    }
    extra = ["short.samples=x"] if name == "thinkpo" else []  # the short answers' source is the user's
    cfg = load_config(cls, path, [f"{k}={v}" for k, v in overrides.items()] + extra)
    assert type(cfg).__name__ == cls_name


def test_thinker_configs_run_the_rl_recipe():
    assert registry.recipe_of("ponder/recipes/configs/thinker-tiny.yaml") == "thinker"
    assert "actor_lr" in registry.run_config("thinker-tiny.yaml", show_config=True)
    with pytest.raises(PonderError, match="pass --recipe"):
        registry.recipe_of("mystery.yaml")
