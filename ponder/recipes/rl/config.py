"""The frozen config of ``ponder train rl`` (:mod:`ponder.recipes.rl`): every number of a run, with its help.

Published Thinker settings (PPO) are the defaults where the paper gives them; ``docs/paper_index.md`` maps
each to its field, and ``ponder/recipes/configs/thinker-*.yaml`` set them for the two published models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ponder.config import at_least, option
from ponder.env.qa import QAEnvConfig
from ponder.env.thinker import ThinkerEnvConfig
from ponder.generation.warm import warm_engine_option
from ponder.losses.variants import AGGREGATIONS, GRPO_VARIANTS, KL_ESTIMATORS
from ponder.train import settings


@dataclass(frozen=True)
class RLConfig:
    model: str = option(help="Policy to start from: a local folder or a hub name.")
    data: str = option(help="Training problems (Problem records with a gold answer), .jsonl or .parquet.")
    output: str = option(
        short="-o",
        help="Run folder: metrics.jsonl, episodes/, checkpoints/, model/ (policy), critic/, summary.json.",
    )
    env: Literal["thinker", "qa"] = option(
        "thinker", help="The task: the four-stage Thinker dialogue or single-turn QA."
    )
    algo: Literal["ppo", "grpo"] = option(
        "ppo", help="ppo: learned critic + GAE (Thinker's choice); grpo: group-normalised outcome advantages."
    )
    grpo_variant: Literal["grpo", "dr_grpo", "dapo"] = option(
        "grpo",
        help="With algo=grpo: grpo (std-normalised, sequence mean), dr_grpo (no std, constant normaliser) or "
        "dapo (token-level mean, clip-higher). Sets the advantage, aggregation and clip range.",
    )
    thinker: ThinkerEnvConfig = option(
        ThinkerEnvConfig(), help="The Thinker task (budgets, rewards, prompts)."
    )
    qa: QAEnvConfig = option(QAEnvConfig(), help="The single-turn baseline task.")

    # ---------------------------------------------------------------- sizes
    prompts_per_step: int = option(128, help="Problems rolled out per RL step.")
    samples_per_prompt: int = option(1, help="Dialogues per problem per step (GRPO groups need >= 2).")
    max_steps: int | None = option(None, help="RL steps to run; null: one pass over the problems.")
    max_rollout_tokens: int | None = option(
        None, help="Stop once this many tokens have been generated in rollouts (equal-compute comparisons)."
    )
    tokens_per_microbatch: int = option(8192, help="Packed tokens per forward/backward pass.")
    minibatches_per_step: int = option(1, help="Optimizer steps per RL step (the samples split evenly).")
    ppo_epochs: int = option(1, help="Passes over each RL step's samples.")

    # ---------------------------------------------------------------- sampling
    temperature: float = option(1.0, help="Sampling temperature of rollouts.")
    top_p: float = option(1.0, help="Nucleus sampling of rollouts.")
    backend: Literal["hf", "vllm"] = option("hf", help="Generation backend for rollouts.")
    generation_batch_size: int = option(64, help="Rows generated together (hf backend).")
    warm_engine: bool = warm_engine_option("every step")

    # ---------------------------------------------------------------- PPO / GRPO
    actor_lr: float = option(1e-6, help="Policy learning rate (published: 1e-6).")
    critic_lr: float = option(5e-6, help="Critic learning rate (published: 5e-6).")
    lr_schedule: Literal["constant", "linear", "cosine"] = option("constant", help="Decay after warmup.")
    warmup_steps: int = option(0, help="RL steps of linear learning-rate warmup.")
    critic_warmup_steps: int = option(0, help="RL steps that train only the critic before the policy moves.")
    gamma: float = option(1.0, help="Discount within a stage (published: 1). Between stages it is always 0.")
    lam: float = option(1.0, help="GAE λ (published: 1).")
    clip_low: float = option(0.2, help="PPO clip ε below 1 (published: 0.2).")
    clip_high: float | None = option(None, help="PPO clip ε above 1; null: clip_low (DAPO: 0.28).")
    value_clip: float | None = option(
        0.2, help="Clip of the value update around the rollout values; null: none."
    )
    normalize_advantages: bool = option(
        True, help="Whiten advantages over the step's tokens (published: yes)."
    )
    aggregation: Literal[AGGREGATIONS] = option(  # type: ignore[valid-type]
        "token-mean",
        help=f"How per-token losses become one number: {', '.join(AGGREGATIONS)} (ppo; grpo uses its variant's).",
    )
    kl_coef: float = option(
        0.0, help="Weight of a KL(π‖π_ref) penalty in the loss (published: 0, no reference model)."
    )
    kl_estimator: Literal[KL_ESTIMATORS] = option("k3", help="KL estimator when kl_coef > 0.")  # type: ignore[valid-type]
    value_head_init_std: float = option(
        0.0, help="Std of the value head's initial weights (0: starts at V = 0)."
    )
    max_grad_norm: float | None = option(1.0, help="Clip each model's gradient norm; null: no clipping.")
    adam_eps: float = option(1e-8, help="AdamW epsilon.")
    weight_decay: float = option(0.0, help="AdamW weight decay.")

    # ---------------------------------------------------------------- run
    seed: int = option(0, help="Seed of data order, sampling and the value head.")
    bf16: bool = option(False, help="bf16 autocast for training forward passes.")
    gradient_checkpointing: bool = settings.gradient_checkpointing()
    logits_per_chunk: int = settings.logits_per_chunk()
    save_dtype: settings.SaveDtype = settings.save_dtype()
    save_every: int = option(0, help="Write a resumable checkpoint every N RL steps; 0: only at the end.")
    keep_checkpoints: int | None = option(2, help="Keep the N newest checkpoints; null: keep all.")
    resume: bool = option(False, help="Continue the run in `output` from its latest checkpoint.")
    keep_episodes: bool = option(True, help="Write every step's dialogues to OUTPUT/episodes/step-N.jsonl.")
    threads: int = option(2, help="torch CPU threads (at most the cores you may use).")
    tracker: settings.TrackerName = settings.tracker_option()

    def __post_init__(self) -> None:
        settings.check_tracker_name(self.tracker)
        at_least(
            self,
            1,
            "prompts_per_step",
            "samples_per_prompt",
            "tokens_per_microbatch",
            "minibatches_per_step",
            "ppo_epochs",
            "generation_batch_size",
            "threads",
        )
        for name in ("actor_lr", "critic_lr"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        if self.algo == "grpo" and self.samples_per_prompt < 2:
            raise ValueError("algo=grpo needs samples_per_prompt >= 2 (advantages are relative to the group)")
        if not (0 <= self.gamma <= 1 and 0 <= self.lam <= 1):
            raise ValueError("gamma and lam must be in [0, 1]")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError("max_steps must be >= 1 or null")
        if self.grpo_variant not in GRPO_VARIANTS:
            raise ValueError(f"grpo_variant must be one of {', '.join(GRPO_VARIANTS)}")
