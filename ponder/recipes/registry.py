"""``ponder run CONFIG.yaml``: find the recipe of a config file, load its config, run it.

The recipe is named by ``--recipe``, by the config's ``recipe:`` key or by the config file name's first word (``pfpo-math-tiny.yaml`` ->
``pfpo``, ``sft.yaml`` -> ``sft``). Each entry maps a name to its config class and ``run`` function, both
imported only when used.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Sequence
from pathlib import Path

import yaml

from ponder.config import describe, load_config
from ponder.errors import PonderError

# name -> (module, config class, run function)
RECIPES: dict[str, tuple[str, str, str]] = {
    "pfpo": ("ponder.recipes.pfpo.math", "PFPOConfig", "run"),
    "pfpo-code": ("ponder.recipes.pfpo.code", "PFPOCodeConfig", "run"),
    "thinkpo": ("ponder.recipes.thinkpo", "ThinkPOConfig", "run"),
    "sft": ("ponder.recipes.sft", "SFTConfig", "run"),
    "dpo": ("ponder.recipes.dpo", "DPOConfig", "run"),
    "rl": ("ponder.recipes.rl", "RLConfig", "run"),
    "thinker": ("ponder.recipes.rl", "RLConfig", "run"),  # thinker-*.yaml: RL with env thinker
}


def recipe_of(config: str | Path, recipe: str | None = None) -> str:
    """``recipe``, else the config's own ``recipe:`` key, else the file name's first word."""
    name = recipe or _recipe_key(config) or re.split(r"[-_.]", Path(config).name, maxsplit=1)[0]
    if name not in RECIPES:
        raise PonderError(
            f"{config}: cannot tell the recipe from the file name; pass --recipe, one of {', '.join(RECIPES)}"
        )
    return name


def _recipe_key(config: str | Path) -> str | None:
    try:
        data = yaml.safe_load(Path(config).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None  # load_config reports an unreadable file with its line
    return data.get("recipe") if isinstance(data, dict) else None


def run_config(
    config: str | Path, overrides: Sequence[str] = (), *, recipe: str | None = None, show_config: bool = False
) -> str:
    """Run the recipe of ``config`` (``key=value`` overrides applied); return a short text to print."""
    module, cls_name, fn_name = RECIPES[recipe_of(config, recipe)]
    mod = importlib.import_module(module)
    cls = getattr(mod, cls_name)
    if show_config:
        return describe(cls)
    if not Path(config).is_file():
        raise PonderError(f"{config}: no such config file")
    cfg = load_config(cls, config, overrides)
    result = getattr(mod, fn_name)(cfg)
    if isinstance(result, dict) and "table" in result:
        return result["table"]
    return json.dumps(result, indent=2, default=str)[:4000]
