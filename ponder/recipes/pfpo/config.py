"""What every PFPO run is configured with, math or code: one frozen dataclass of stage sections.

Each section is a stage's own settings dataclass (``sample``: the generate stage; ``train``: DPO's; ``eval``:
the eval stage; the pair builders' for the pair sections), so a stage option is available in the recipe
under the section's name and its default is the stage's. The papers' values are in the YAML configs
(``ponder/recipes/configs/pfpo-*.yaml``; docs/paper_index.md maps each to its field).

Seeds: every section's ``seed`` comes from the run's ``seed`` -- iteration ``k`` samples, pairs and trains
with ``seed * 1000 + k``, and test inputs and evaluation use ``seed`` -- so a section may not set its own.
``per_iteration`` holds the settings the authors changed between iterations (the vote threshold, beta, the
learning rate, ...): :func:`iteration_config` applies entry ``k-1`` to the base config for iteration ``k``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import TypeVar

from ponder.config import check_unset, config_to_dict, load_config, option
from ponder.errors import ConfigError
from ponder.eval.stage import EvalSettings
from ponder.generation.backend import BackendSettings
from ponder.generation.stage import GenerateSettings
from ponder.generation.warm import warm_engine_option
from ponder.recipes.dpo import DPOSettings

C = TypeVar("C", bound="IterationConfig")
SEEDED = ("sample", "train", "eval")  # sections whose seed the run sets (the task adds its pair sections)


@dataclass(frozen=True)
class PairSource:
    """What a recipe adds to a pair builder's settings: whether it runs, and its share in training."""

    enabled: bool = option(True, help="Build these pairs (false: skipped; set it per iteration if needed).")
    ratio: float = option(1.0, help="Mixing ratio of these pairs in training (share of the file per epoch).")


@dataclass(frozen=True)
class IterationConfig:
    """The fields of every PFPO run; the math and code configs add their feedback and pair sections."""

    model: str = option(help="The starting model (an SFT model), folder or hub name.")
    output: str = option(
        help="Run folder: iter0 (baseline evaluation), iter1, ..., report.json/md and the plot."
    )
    prompts: str = option(
        help="Problem file of training prompts (gold answers or tests, if any, only measure the feedback)."
    )
    iterations: int = option(2, help="PFPO iterations after the starting model.")
    prompts_per_iteration: int | None = option(
        None,
        help="Fresh prompts per iteration: iteration k takes the k-th slice; null: all prompts every time.",
    )
    seed: int = option(
        0, help="Seed of sampling, pairings and training (every section's seed comes from it)."
    )
    evaluate_start: bool = option(
        True, help="Evaluate the starting model as iteration 0 (the row every later one is compared with)."
    )
    generation: BackendSettings = option(BackendSettings(), help="Backend of sampling and completions.")
    warm_engine: bool = warm_engine_option("every iteration")
    sample: GenerateSettings = option(GenerateSettings(), help="Sampling of solutions (ponder generate).")
    train: DPOSettings = option(
        DPOSettings(), help="DPO (+ SFT term) from the previous iteration's model (ponder train dpo)."
    )
    eval: EvalSettings = option(EvalSettings(), help="Evaluation of every iteration's model (ponder eval).")
    per_iteration: list[dict] = option(
        [],
        help="Settings that change between iterations: entry k-1 holds {dotted.key: value} overrides for "
        "iteration k (e.g. {label.min_vote_share: 0.0, train.lr: 5e-7}); later iterations use the base "
        "settings.",
    )

    def __post_init__(self) -> None:
        if self.iterations < 0:
            raise ValueError("iterations must be >= 0")
        if self.prompts_per_iteration is not None and self.prompts_per_iteration < 1:
            raise ValueError("prompts_per_iteration must be >= 1")
        for name in self.seeded():
            check_unset(getattr(self, name), ["seed"], name, "from the run's seed")

    def seeded(self) -> tuple[str, ...]:
        """The sections whose seed the run sets."""
        return SEEDED


FIXED_KEYS = (
    "model",
    "output",
    "iterations",
    "prompts_per_iteration",
    "seed",
    "per_iteration",
    "warm_engine",
)


def iteration_config(cfg: C, index: int) -> C:
    """The settings of iteration ``index`` (1-based): the base config with ``per_iteration[index-1]`` applied.

    Raises ConfigError naming the entry and key for an unknown key or a badly typed value.
    """
    if index < 1 or index > len(cfg.per_iteration):
        return cfg
    overrides = cfg.per_iteration[index - 1]
    if not isinstance(overrides, dict):
        raise ConfigError(f"per_iteration[{index - 1}]: expected a mapping of key: value, got {overrides!r}")
    tree = config_to_dict(cfg)
    tree["per_iteration"] = []
    items = []
    for key, value in overrides.items():
        if str(key).split(".")[0] in FIXED_KEYS:
            raise ConfigError(f"per_iteration[{index - 1}]: '{key}' is fixed for the whole run")
        items.append(f"{key}={json.dumps(value) if not isinstance(value, str) else value}")
    try:
        out = load_config(type(cfg), None, items, **tree)
    except ConfigError as e:
        raise ConfigError(f"per_iteration[{index - 1}]: {e}") from None
    return dataclasses.replace(out, per_iteration=cfg.per_iteration)


def check_iterations(cfg: IterationConfig) -> None:
    """Build every iteration's settings once, so a bad override stops the run before any work."""
    if len(cfg.per_iteration) > cfg.iterations:
        raise ConfigError(
            f"per_iteration has {len(cfg.per_iteration)} entries for {cfg.iterations} iterations"
        )
    for k in range(1, cfg.iterations + 1):
        iteration_config(cfg, k)


def iteration_seed(cfg: IterationConfig, index: int) -> int:
    """The seed of iteration ``index``'s sampling, pairs and training."""
    return cfg.seed * 1000 + index
