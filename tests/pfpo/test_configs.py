"""The shipped PFPO configs load, and per-iteration settings apply to their iteration only."""

from pathlib import Path

import pytest

from ponder.config import load_config
from ponder.errors import ConfigError
from ponder.recipes.pfpo import process_settings
from ponder.recipes.pfpo_config import PFPOConfig, check_iterations, iteration_config

CONFIGS = Path(__file__).resolve().parents[2] / "ponder" / "recipes" / "configs"


def test_mathstral_config_has_the_papers_settings():
    cfg = load_config(PFPOConfig, CONFIGS / "pfpo-math-mathstral.yaml")
    check_iterations(cfg)
    first, second, third = (iteration_config(cfg, k) for k in (1, 2, 3))
    # iteration 0 of the paper: GPT-4o labels, pDPO only, value >= 2, closest-in-steps pairing, beta 0.1
    assert first.label.by == "gold" and not first.outcome.enabled
    assert process_settings(first, 1).value_threshold == 2 and first.process.pairing == "closest_steps"
    assert (first.train.beta, first.train.sft_loss_weight, first.train.lr, first.train.epochs) == (
        0.1,
        0.2,
        1.5e-7,
        3,
    )
    # self-consistency iterations: vote share > 0.5, then no threshold; prefix + outcome pairs; beta 0.5
    assert second.label.by == "vote" and second.label.min_vote_share == 0.5 and second.outcome.enabled
    assert third.label.min_vote_share == 0.0 and third.train.pairs_per_step == 2048
    assert (second.train.beta, second.train.sft_loss_weight, second.train.lr) == (0.5, 1.0, 1e-7)
    assert second.prompts.endswith("mscale-300k.jsonl") and first.prompts.endswith("mathscale-500k.jsonl")
    p = second.process
    assert (p.upper_step_ratio, p.sample_ratio, p.max_prefixes_per_problem, p.completions_per_prefix) == (
        0.7,
        0.3,
        10,
        3,
    )


def test_llama_config_has_the_papers_settings():
    cfg = load_config(PFPOConfig, CONFIGS / "pfpo-math-llama.yaml")
    check_iterations(cfg)
    its = [iteration_config(cfg, k) for k in range(1, 6)]
    assert [c.label.min_vote_share for c in its] == [0.5, 0.5, 0.0, 0.2, 0.2]
    assert [c.outcome.enabled for c in its] == [False, True, False, False, False]
    assert [c.train.lr for c in its] == [1e-6, 1e-6, 1e-6, 5e-7, 5e-7]
    assert its[0].process.pairing == "one_per_problem" and its[0].train.epochs == 3
    assert cfg.sample.samples_per_prompt == 16 and cfg.process.upper_step_ratio == 0.8


def test_tiny_config_loads():
    cfg = load_config(PFPOConfig, CONFIGS / "pfpo-math-tiny.yaml")
    check_iterations(cfg)
    assert cfg.label.by == "vote"


def test_per_iteration_overrides_are_checked():
    base = {"model": "m", "output": "o", "prompts": "p.jsonl", "iterations": 2}
    with pytest.raises(ConfigError, match=r"per_iteration\[0\].*unknown key 'train.learning_rate'"):
        check_iterations(load_config(PFPOConfig, None, per_iteration=[{"train.learning_rate": 1e-6}], **base))
    with pytest.raises(ConfigError, match=r"per_iteration\[1\].*expected a number"):
        check_iterations(load_config(PFPOConfig, None, per_iteration=[{}, {"train.lr": "fast"}], **base))
    with pytest.raises(ConfigError, match="fixed for the whole run"):
        check_iterations(load_config(PFPOConfig, None, per_iteration=[{"seed": 3}], **base))
    with pytest.raises(ConfigError, match="3 entries for 2 iterations"):
        check_iterations(load_config(PFPOConfig, None, per_iteration=[{}, {}, {}], **base))
    cfg = load_config(PFPOConfig, None, per_iteration=[{"label.min_vote_share": 0.0}], **base)
    assert iteration_config(cfg, 1).label.min_vote_share == 0.0
    assert iteration_config(cfg, 2).label.min_vote_share == 0.5  # beyond the list: the base setting
    assert iteration_config(cfg, 0) is cfg
