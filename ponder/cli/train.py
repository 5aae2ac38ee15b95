"""``ponder train {sft,dpo,rl}``: the trainers, each configured by its frozen config (YAML + key=value)."""

from __future__ import annotations

from pathlib import Path

import typer

from ponder.cli import group, quiet
from ponder.cli.options import config_option, from_config, overrides_argument, show_config_option
from ponder.recipes import dpo, rl, sft
from ponder.recipes.dpo import DPOConfig
from ponder.recipes.rl import RLConfig
from ponder.recipes.sft import SFTConfig

train_app = group(
    "train", "Train a model: supervised fine-tuning, DPO-family preference optimisation, or RL."
)


def run_trainer(
    cls: type, run, config: Path | None, overrides: list[str] | None, show_config: bool, given: dict
):
    """Load the config (defaults, YAML, options, overrides) and ``run`` it; None for --show-config."""
    from ponder.config import describe, load_config

    if show_config:
        typer.echo(describe(cls))
        return None
    cfg = load_config(cls, config, overrides or [], **given)
    quiet()
    return run(cfg)


def _report_final(summary: dict | None) -> None:
    final = (summary or {}).get("final") or {}
    if final:  # printed by process 0 alone (ponder.cli.main)
        typer.echo(f"step {final['step']}: loss {final['loss']:.4f}; model written to {summary['model']}")


@train_app.command("sft")
@from_config(SFTConfig, "model", "data", "output", "resume")
def train_sft(
    overrides: list[str] = overrides_argument(),
    config: Path = config_option(),
    show_config: bool = show_config_option(),
    *,
    given: dict,
) -> None:
    """Supervised fine-tuning on prompt-completion, conversational, sample or pair files (packed, no padding).

    Writes OUTPUT/metrics.jsonl, tensorboard/, checkpoints/ (with save_every) and the final model in
    OUTPUT/model. Multi-process: torchrun --nproc_per_node N -m ponder train sft ... (see docs/training.md).

    Example: ponder train sft --model runs/tiny --data sft.jsonl --output runs/sft lr=1e-4 epochs=2
    """
    _report_final(run_trainer(SFTConfig, sft.run, config, overrides, show_config, given))


@train_app.command("dpo")
@from_config(DPOConfig, "model", "ref_model", "data", "output", "resume")
def train_dpo(
    overrides: list[str] = overrides_argument(),
    config: Path = config_option(),
    show_config: bool = show_config_option(),
    *,
    given: dict,
) -> None:
    """DPO-family training (sigmoid/cDPO, rDPO, IPO, hinge, + SFT term) on preference pairs.

    Pairs are packed without padding and each prompt is computed once for chosen and rejected. Writes
    OUTPUT/metrics.jsonl, tensorboard/, checkpoints/ (with save_every) and the final model in OUTPUT/model.

    Example: ponder train dpo --model runs/sft/model --data pairs.jsonl --output runs/dpo beta=0.1 lr=1e-6
    """
    _report_final(run_trainer(DPOConfig, dpo.run, config, overrides, show_config, given))


@train_app.command("rl")
@from_config(RLConfig, "model", "data", "output", "env", "algo", "resume")
def train_rl(
    overrides: list[str] = overrides_argument(),
    config: Path = config_option(),
    show_config: bool = show_config_option(),
    *,
    given: dict,
) -> None:
    """RL on the Thinker task or single-turn QA with PPO (critic, GAE) or GRPO / Dr. GRPO / DAPO.

    Each step: rollout -> reward -> values -> advantages -> update, each timed. Writes OUTPUT/metrics.jsonl
    (rewards, accuracy and tokens per stage, the verification confusion matrix), episodes/, checkpoints/
    (with save_every), the final policy in OUTPUT/model and the critic in OUTPUT/critic.

    Example: ponder train rl --env thinker --algo ppo --model runs/sft/model --data train.jsonl --output runs/rl prompts_per_step=32
    """
    s = run_trainer(RLConfig, rl.run, config, overrides, show_config, given)
    if s is None:
        return
    keys = [k for k in (s.get("final") or {}) if k.endswith("/reward")]
    last = ", ".join(f"{k.split('/')[0]} {s['final'][k]:.3f}" for k in keys) or "-"
    typer.echo(
        f"{s['steps']} steps, {s['rollout_tokens']:,} rollout tokens; last step reward {last}; "
        f"model written to {s['model']}"
    )
