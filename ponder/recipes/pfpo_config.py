"""The PFPO recipe's config: one frozen dataclass with nested sections, and per-iteration overrides.

Every field documents itself (``ponder run ... --show-config`` style via :func:`ponder.config.describe`);
docs/paper_index.md maps each of the authors' settings to its field. ``per_iteration`` holds the settings
the authors changed between iterations (the vote threshold, β, the learning rate, ...):
:func:`iteration_config` applies entry ``k-1`` to the base config for iteration ``k``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Literal

from ponder.config import config_to_dict, load_config, option
from ponder.errors import ConfigError

Pairing = Literal["each_positive", "one_per_problem", "closest_steps"]
Rule = Literal["math", "boxed", "number", "choice"]
PROMPT_TEMPLATE = "{question}\n\nPlease put your final answer within \\boxed{}."


@dataclass(frozen=True)
class GenerationConfig:
    backend: Literal["hf", "vllm", "openai"] = option(
        "hf", help="Generation backend for sampling and completions."
    )
    batch_size: int = option(32, help="Sequences per forward pass (hf).")
    dtype: Literal["float32", "bfloat16"] = option("float32", help="Weights dtype for generation (hf, vllm).")
    base_url: str | None = option(None, help="Endpoint of the openai backend, e.g. http://127.0.0.1:8000/v1.")
    tokenizer: str | None = option(
        None,
        help="Tokenizer with the chat template (openai backend: the served model's); default: the model's.",
    )


@dataclass(frozen=True)
class SampleConfig:
    samples_per_prompt: int = option(8, help="n solutions sampled per prompt (the authors: 8-16).")
    temperature: float = option(1.0, help="Sampling temperature.")
    top_p: float = option(1.0, help="Nucleus sampling mass (the authors: 0.9-1.0).")
    max_new_tokens: int = option(2048, help="Token budget per solution.")


@dataclass(frozen=True)
class LabelConfig:
    by: Literal["vote", "gold"] = option(
        "vote", help="vote: self-consistency pseudo labels; gold: the problems' answers."
    )
    min_vote_share: float = option(
        0.5,
        help="Keep a problem only if its plurality answer's share of all n samples is strictly above this.",
    )
    rule: Rule = option("boxed", help="How answers are read and compared (ponder.verify.rules).")


@dataclass(frozen=True)
class OutcomePairsConfig:
    enabled: bool = option(True, help="Build outcome pairs (full responses).")
    pairing: Pairing = option("each_positive", help="each_positive, one_per_problem or closest_steps.")
    ratio: float = option(
        1.0, help="Mixing ratio of the outcome pairs in training (share of the file per epoch)."
    )


@dataclass(frozen=True)
class ProcessPairsConfig:
    enabled: bool = option(True, help="Build pDPO pairs on solution prefixes.")
    upper_step_ratio: float = option(0.7, help="Cut points only among the first share of steps (lines).")
    sample_ratio: float = option(0.3, help="Share of those candidate steps drawn as cut points per response.")
    max_prefixes_per_problem: int = option(10, help="Cap on the prefixes pooled per problem.")
    min_steps: int = option(5, help="Responses with fewer non-empty lines give no prefix.")
    filter_all_same: bool = option(True, help="Skip problems whose samples all give the same answer.")
    completions_per_prefix: int = option(
        3, help="Completions sampled per prefix; a prefix's value counts hits."
    )
    temperature: float = option(1.0, help="Temperature of the completions.")
    top_p: float = option(0.9, help="Nucleus mass of the completions.")
    max_new_tokens: int = option(2048, help="Token budget per completion.")
    value_threshold: int = option(
        1,
        help="A prefix is positive when its value is at least this (the authors: 2 "
        "with gold labels at iteration 0, 1 or 2 with self-consistency).",
    )
    pairing: Pairing = option("each_positive", help="each_positive, one_per_problem or closest_steps.")
    closest_k: int = option(5, help="closest_steps: draw the negative among this many closest in step count.")
    ratio: float = option(1.0, help="Mixing ratio of the prefix pairs in training.")


@dataclass(frozen=True)
class TrainConfig:
    beta: float = option(0.5, help="DPO β.")
    sft_loss_weight: float = option(
        1.0, help="Weight of the NLL of the chosen side (the authors: 0.2 or 1.0)."
    )
    loss_type: Literal["sigmoid", "robust", "ipo", "hinge"] = option("sigmoid", help="DPO-family loss.")
    lr: float = option(1e-7, help="Peak learning rate.")
    lr_schedule: Literal["cosine", "linear", "constant"] = option("cosine", help="Decay after warmup.")
    warmup_ratio: float = option(0.0, help="Share of steps warming up.")
    weight_decay: float = option(0.1, help="AdamW weight decay.")
    adam_betas: list[float] = option([0.9, 0.95], help="AdamW betas.")
    adam_eps: float = option(1e-6, help="AdamW epsilon.")
    max_grad_norm: float | None = option(1.0, help="Gradient clipping norm.")
    epochs: int = option(1, help="Epochs over the pairs, each with a fresh random pairing.")
    pairs_per_step: int = option(512, help="Pairs per optimizer step.")
    tokens_per_microbatch: int = option(8192, help="Packed tokens per forward pass.")
    max_length: int | None = option(2048, help="Longest prompt + response in tokens.")
    bf16: bool = option(False, help="bf16 autocast.")
    gradient_checkpointing: bool = option(False, help="Recompute activations in backward.")
    precompute_ref: bool = option(False, help="Reference log-probs computed once and cached.")
    save_every: int = option(100, help="Checkpoint every N steps (resumable training).")


@dataclass(frozen=True)
class EvalConfig:
    benchmarks: list[str] = option([], help="Problem files with gold answers, each FILE or FILE:RULE.")
    samples_per_problem: int = option(1, help="Samples per problem (1 with greedy decoding).")
    temperature: float = option(0.0, help="0: greedy.")
    top_p: float = option(1.0, help="Nucleus mass when sampling.")
    max_new_tokens: int = option(2048, help="Token budget per answer.")
    ks: list[int] = option([1], help="k of pass@k and maj@k.")


@dataclass(frozen=True)
class PFPOConfig:
    model: str = option(help="The starting model (an SFT model), folder or hub name.")
    output: str = option(
        help="Run folder: iter0 (baseline evaluation), iter1, ..., report.json/md, accuracy.png."
    )
    prompts: str = option(
        help="Problem file of training prompts (answers, if any, are used only to measure labels)."
    )
    iterations: int = option(2, help="PFPO iterations after the starting model.")
    prompts_per_iteration: int | None = option(
        None,
        help="Fresh prompts per iteration: iteration k takes the k-th slice; null: all prompts every time.",
    )
    prompt_template: str = option(PROMPT_TEMPLATE, help="Applied to text prompts; {question} is the problem.")
    seed: int = option(0, help="Seed of sampling, prefix cuts, pairings and training.")
    generation: GenerationConfig = option(help="Generation backend.", default_factory=GenerationConfig)
    sample: SampleConfig = option(help="Sampling of solutions.", default_factory=SampleConfig)
    label: LabelConfig = option(help="Labels.", default_factory=LabelConfig)
    outcome: OutcomePairsConfig = option(help="Outcome pairs.", default_factory=OutcomePairsConfig)
    process: ProcessPairsConfig = option(help="Process (prefix) pairs.", default_factory=ProcessPairsConfig)
    train: TrainConfig = option(help="DPO training.", default_factory=TrainConfig)
    eval: EvalConfig = option(help="Evaluation.", default_factory=EvalConfig)
    per_iteration: list[dict] = option(
        [],
        help="Settings that change between iterations: entry k-1 holds {dotted.key: value} overrides for "
        "iteration k (e.g. {label.min_vote_share: 0.0, train.lr: 5e-7}); later iterations use the base settings.",
    )

    def __post_init__(self) -> None:
        if self.iterations < 0:
            raise ValueError("iterations must be >= 0")
        if self.prompts_per_iteration is not None and self.prompts_per_iteration < 1:
            raise ValueError("prompts_per_iteration must be >= 1")
        if "{question}" not in self.prompt_template:
            raise ValueError("prompt_template must contain {question}")


# --------------------------------------------------------------------------- per-iteration settings

FIXED_KEYS = ("model", "output", "iterations", "prompts_per_iteration", "seed", "per_iteration")


def iteration_config(cfg: PFPOConfig, index: int) -> PFPOConfig:
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
        out = load_config(PFPOConfig, None, items, **tree)
    except ConfigError as e:
        raise ConfigError(f"per_iteration[{index - 1}]: {e}") from None
    return dataclasses.replace(out, per_iteration=cfg.per_iteration)


def check_iterations(cfg: PFPOConfig) -> None:
    """Build every iteration's settings once, so a bad override stops the run before any work."""
    if len(cfg.per_iteration) > cfg.iterations:
        raise ConfigError(
            f"per_iteration has {len(cfg.per_iteration)} entries for {cfg.iterations} iterations"
        )
    for k in range(1, cfg.iterations + 1):
        iteration_config(cfg, k)
