"""The ThinkPO recipe config: the paper's settings in thinkpo-7b.yaml, sections checked by the trainers."""

from pathlib import Path

import pytest

from ponder.config import load_config
from ponder.errors import ConfigError
from ponder.recipes.thinkpo import ThinkPOConfig, dpo_config, sft_config

CONFIGS = Path(__file__).resolve().parents[2] / "ponder" / "recipes" / "configs"


def test_paper_config_holds_the_paper_settings():
    cfg = load_config(ThinkPOConfig, CONFIGS / "thinkpo-7b.yaml", ["output=runs/x"])
    assert cfg.model == "Qwen/Qwen2.5-7B-Instruct"
    sft = sft_config(cfg, "runs/x/sft")
    assert (sft.lr, sft.epochs, sft.lr_schedule, sft.warmup_ratio) == (1e-5, 3, "cosine", 0.1)
    assert (sft.examples_per_step, sft.max_length) == (32, 10240)
    s = cfg.short
    assert (s.model, s.n, s.temperature, s.top_p, s.max_new_tokens) == (
        "Qwen/Qwen2.5-Math-7B-Instruct",
        1,
        0.7,
        0.9,
        1024,
    )
    assert (cfg.pairs.min_gap_tokens, cfg.pairs.max_gap_tokens, cfg.pairs.wrong_short_share) == (1, None, 0.0)
    dpo = dpo_config(cfg, "runs/x/sft/model", "pairs.jsonl", "runs/x/dpo")
    assert (dpo.loss_type, dpo.beta, dpo.lr, dpo.epochs) == ("sigmoid", 0.01, 3e-7, 1)
    assert (dpo.lr_schedule, dpo.warmup_ratio, dpo.pairs_per_step, dpo.max_length) == (
        "cosine",
        0.1,
        48,
        8192,
    )
    assert dpo.model == "runs/x/sft/model" and dpo.ref_model is None  # the SFT model is the reference
    assert (cfg.eval.temperature, cfg.eval.max_new_tokens) == (0.7, 32768)


def test_tiny_config_loads_with_paths_given():
    cfg = load_config(
        ThinkPOConfig,
        CONFIGS / "thinkpo-tiny.yaml",
        ["model=m", "output=o", "sft_data=[sft.jsonl]", "short.model=s"],
    )
    assert cfg.long is None and cfg.sft_data == ["sft.jsonl"]
    assert dpo_config(cfg, "p", "pairs.jsonl", "d").beta == cfg.dpo["beta"]


def test_section_keys_are_checked_by_the_trainer_configs():
    base = ["model=m", "output=o", "sft_data=[a.jsonl]", "short.model=s"]
    with pytest.raises(ConfigError, match="dpo section: unknown key 'bta'; did you mean 'beta'"):
        load_config(ThinkPOConfig, CONFIGS / "thinkpo-tiny.yaml", [*base, "dpo.bta=0.1"])
    with pytest.raises(ConfigError, match="sft section.*expected a number"):
        load_config(ThinkPOConfig, CONFIGS / "thinkpo-tiny.yaml", [*base, "sft.lr=fast"])
    with pytest.raises(ConfigError, match="sft.model: set by the ThinkPO recipe"):
        load_config(ThinkPOConfig, None, [*base, "sft.model=x"])


def test_needs_a_source_of_short_answers_and_of_long_ones():
    with pytest.raises(ConfigError, match="short.model"):
        load_config(ThinkPOConfig, None, ["model=m", "output=o", "long=l.jsonl"])
    with pytest.raises(ConfigError, match="set `long`"):
        load_config(ThinkPOConfig, None, ["model=m", "output=o", "short.samples=s.jsonl"])
