"""The PFPO-code configs load into the recipe's config and hold the authors' settings."""

from importlib import resources

import pytest

from ponder.config import load_config
from ponder.errors import ConfigError
from ponder.recipes.pfpo_code import PFPOCodeConfig


def config_path(name):
    return resources.files("ponder.recipes").joinpath("configs", name)


def test_deepseek_config_has_the_papers_settings():
    cfg = load_config(PFPOCodeConfig, config_path("pfpo-code-deepseek.yaml"), [])
    assert (cfg.inputs.n_inputs, cfg.inputs.temperature, cfg.inputs.json_mode) == (10, 0.0, True)
    assert (cfg.sample.samples_per_prompt, cfg.sample.temperature) == (10, 1.0)
    assert (cfg.outcome.min_success, cfg.outcome.lower_bound, cfg.outcome.margin) == (5, 0.5, 6)
    assert cfg.outcome.max_pairs_per_problem is None
    p = cfg.process
    assert (p.upper_step_ratio, p.sample_ratio, p.completions_per_prefix, p.value, p.margin) == (
        0.8,
        0.3,
        5,
        "max",
        4,
    )
    assert (cfg.train.beta, cfg.train.sft_loss_weight, cfg.train.lr) == (0.1, 0.2, 5e-6)
    assert cfg.eval.temperature == 0.0 and cfg.eval.samples_per_problem == 1


def test_tiny_config_and_overrides():
    cfg = load_config(
        PFPOCodeConfig, config_path("pfpo-code-tiny.yaml"), ["outcome.margin=3", "process.enabled=false"]
    )
    assert cfg.inputs.source == "sampler" and cfg.outcome.margin == 3 and not cfg.process.enabled
    with pytest.raises(ConfigError, match="outcome.margn"):
        load_config(PFPOCodeConfig, config_path("pfpo-code-tiny.yaml"), ["outcome.margn=3"])
