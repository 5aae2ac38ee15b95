"""The ThinkPO recipe config: every section is a stage's own settings, handed to that stage unchanged."""

import pytest

from ponder.config import load_config
from ponder.errors import ConfigError
from ponder.recipes.thinkpo import ThinkPOConfig, dpo_config, sft_config

BASE = ["model=m", "output=o", "sft_data=[a.jsonl:0.5]", "short.model=s"]


def test_sections_reach_the_trainers_with_the_recipes_paths():
    cfg = load_config(
        ThinkPOConfig, None, [*BASE, "sft.lr=0.5", "sft.epochs=4", "dpo.beta=0.3", "resume=true"]
    )
    sft = sft_config(cfg, "o/sft")
    assert (sft.lr, sft.epochs, sft.model, sft.data, sft.output, sft.resume) == (
        0.5,
        4,
        "m",
        ["a.jsonl:0.5"],
        "o/sft",
        True,
    )
    dpo = dpo_config(cfg, "o/sft/model", "o/pairs/pairs.jsonl", "o/dpo")
    # the SFT model is both the policy and (ref_model None) the frozen reference
    assert (dpo.beta, dpo.model, dpo.ref_model, dpo.data, dpo.output) == (
        0.3,
        "o/sft/model",
        None,
        ["o/pairs/pairs.jsonl"],
        "o/dpo",
    )
    # what no section sets is the trainer's own default
    assert dpo.lr == load_config(ThinkPOConfig, None, BASE).dpo.lr == type(cfg.dpo)().lr


def test_section_keys_are_checked_by_the_stage_settings():
    with pytest.raises(ConfigError, match="unknown key 'dpo.bta'; did you mean 'beta'"):
        load_config(ThinkPOConfig, None, [*BASE, "dpo.bta=0.1"])
    with pytest.raises(ConfigError, match="sft.lr=fast.*expected a number"):
        load_config(ThinkPOConfig, None, [*BASE, "sft.lr=fast"])
    with pytest.raises(ConfigError, match="unknown key 'sft.model'"):  # the recipe sets the model
        load_config(ThinkPOConfig, None, [*BASE, "sft.model=x"])
    with pytest.raises(ConfigError, match="samples_per_prompt must be an integer >= 1"):
        load_config(ThinkPOConfig, None, [*BASE, "short.samples_per_prompt=0"])


def test_needs_a_source_of_short_answers_and_of_long_ones():
    with pytest.raises(ConfigError, match="short.model"):
        load_config(ThinkPOConfig, None, ["model=m", "output=o", "long=l.jsonl"])
    with pytest.raises(ConfigError, match="set `long`"):
        load_config(ThinkPOConfig, None, ["model=m", "output=o", "short.samples=s.jsonl"])
