"""``ponder demo thinkpo``: the ThinkPO mechanism on a tiny model, offline, in minutes on two cores.

The synthetic setting (docs/thinkpo.md explains the choices):

- Task: multi-step integer arithmetic (:func:`ponder.tasks.math_families.arithmetic`). A long solution
  works one operation per line, rewrites what is left and checks the result; a short one states the answer.
  For a model of half a million parameters the long form is far more reliable: each line needs one small
  lookup, while the short form needs the whole computation in one pass.
- SFT data: a distillation mixture in which a share ``long_share`` of the solutions is long and the rest
  short, so the SFT model sometimes answers briefly -- and then less reliably.
- Short answers for the pairs come from a *short-style model*: the SFT model fine-tuned for a few steps on
  the short solutions only (a sibling model that writes short CoT, as Qwen2.5-Math-7B-Instruct is in the
  paper).
- ThinkPO pairs: the long solutions of the SFT set chosen, the short model's answers with the right result
  rejected; DPO from the SFT model (:mod:`ponder.recipes.thinkpo`, settings in ``thinkpo-tiny.yaml``).
- Control: the SFT model trained further on the same SFT data for the same number of steps with the same
  optimizer settings (learning rate, schedule, batch size) as ThinkPO -- only the objective differs.
- Evaluation (:mod:`ponder.eval.runner`): held-out problems, ``eval_samples`` answers each at temperature 0.7;
  accuracy, mean tokens, and the share of long answers with the accuracy of each style.

Outputs in ``OUT``: ``data/``, ``base/`` (random model), ``thinkpo/`` (recipe run: sft/, short/, pairs/,
dpo/), ``short-model/``, ``sft-continued/``, ``eval/NAME/``, ``report.json`` (``rows``), ``report.md``
and ``report.png``. Started again on the same folder, every finished stage is skipped.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import random
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ponder.config import config_to_dict, load_config, option
from ponder.demos.thinkpo_report import finish_report
from ponder.errors import PonderError
from ponder.io import write_json, write_records
from ponder.progress import timed_call
from ponder.recipes import thinkpo as recipe
from ponder.tasks.synthetic import make

NAMES = ("sft", "sft-continued", "thinkpo")


@dataclass(frozen=True)
class DemoConfig:
    """Sizes and knobs of the demo; the training settings are in ``recipe_config`` (thinkpo-tiny.yaml)."""

    seed: int = option(0, help="Seed of the model, the problems, the style mixture, training and sampling.")
    preset: str = option("nano", help="Tiny model size: nano (~0.57M parameters) or micro (~3.4M).")
    train_problems: int = option(
        4000, help="Problems in the SFT set (each with one solution, long or short)."
    )
    test_problems: int = option(300, help="Held-out problems to evaluate on.")
    long_share: float = option(0.5, help="Share of SFT problems whose solution is the long one.")
    min_ops: int = option(1, help="Fewest operations per expression.")
    max_ops: int = option(4, help="Most operations per expression.")
    max_operand: int = option(9, help="Largest number in an expression.")
    max_value: int = option(9, help="Largest intermediate result (9: every step is a one-digit fact).")
    short_model_steps: int = option(
        60, help="Steps of short-only SFT that turn the SFT model into the short model."
    )
    short_model_lr: float = option(1e-3, help="Learning rate of that short-only SFT.")
    eval_samples: int = option(
        4, help="Answers per held-out problem (accuracy is pass@1 averaged over them)."
    )
    eval_temperature: float = option(0.7, help="Sampling temperature of the evaluation (paper: 0.7).")
    eval_max_new_tokens: int = option(256, help="Token budget per answer in the evaluation.")
    threads: int = option(1, help="Torch CPU threads (1 is fastest for a tiny model on a shared machine).")
    recipe_config: str | None = option(
        None, help="ThinkPO recipe YAML; default: the packaged thinkpo-tiny.yaml."
    )
    recipe: list[str] = option([], help="Overrides of the recipe config, e.g. ['dpo.beta=0.05'].")

    def __post_init__(self) -> None:
        if not 0 < self.long_share < 1:
            raise ValueError(
                "long_share must be strictly between 0 and 1 (the SFT mixture needs both styles)"
            )
        if self.train_problems < 10 or self.test_problems < 1:
            raise ValueError("train_problems must be at least 10 and test_problems at least 1")


def settings_with_recipe(cls: type, overrides: list[str], seed: int) -> Any:
    """Settings of ``cls`` from ``key=value`` overrides; ``thinkpo.KEY=VALUE`` ones go to its recipe config."""
    own = [o for o in overrides if not o.startswith("thinkpo.")]
    recipe = [o.removeprefix("thinkpo.") for o in overrides if o.startswith("thinkpo.")]
    return load_config(cls, None, own, seed=seed, recipe=recipe or None)


def demo_config(overrides: list[str], seed: int) -> DemoConfig:
    return settings_with_recipe(DemoConfig, overrides, seed)


def packaged_recipe(name: str) -> Path:
    """Path of a recipe config shipped in ponder/recipes/configs."""
    return Path(str(resources.files("ponder.recipes").joinpath("configs", name)))


# --------------------------------------------------------------------------- data


def write_data(cfg: DemoConfig, out: Path) -> dict[str, Path]:
    """The SFT mixture, its long and short parts, and the held-out problems (disjoint from training)."""
    knobs = dict(
        min_ops=cfg.min_ops, max_ops=cfg.max_ops, max_operand=cfg.max_operand, max_value=cfg.max_value
    )
    problems = make("arithmetic", cfg.train_problems + cfg.test_problems, cfg.seed, **knobs)
    train, test = problems[: cfg.train_problems], problems[cfg.train_problems :]
    rng = random.Random(f"thinkpo-demo-style:{cfg.seed}")
    rows = []
    for p in train:
        style = "long" if rng.random() < cfg.long_share else "short"
        rows.append(
            {"id": p.id, "prompt": p.prompt, "completion": p.meta[style], "answer": p.answer, "style": style}
        )
    paths = {name: out / "data" / f"{name}.jsonl" for name in ("sft", "long", "short", "test")}
    write_records(paths["sft"], rows)
    write_records(paths["long"], [r for r in rows if r["style"] == "long"])
    write_records(paths["short"], [r for r in rows if r["style"] == "short"])
    write_records(paths["test"], test)
    return paths


# --------------------------------------------------------------------------- the run


def recipe_config(cfg: DemoConfig, out: Path, base: Path, data: dict[str, Path]) -> recipe.ThinkPOConfig:
    """thinkpo-tiny.yaml with this demo's paths and seed."""
    seeded = [
        f"sft.seed={cfg.seed}",
        f"dpo.seed={cfg.seed}",
        f"short.seed={cfg.seed}",
        f"pairs.seed={cfg.seed}",
    ]
    return load_config(
        recipe.ThinkPOConfig,
        cfg.recipe_config or packaged_recipe("thinkpo-tiny.yaml"),
        [*seeded, *cfg.recipe],
        output=str(out / "thinkpo"),
        model=str(base),
        sft_data=[str(data["sft"])],
        long=str(data["long"]),
        short={"model": str(out / "short-model" / "model")},
        resume=True,
    )


def continue_sft(rcfg: recipe.ThinkPOConfig, sft_model: str, data: Path, out: Path, **changes) -> dict:
    """The recipe's SFT settings (with ``changes``) run again from the SFT model on ``data`` into ``out``."""
    from ponder.recipes import sft

    base = recipe.sft_config(rcfg, str(out))
    return sft.run(dataclasses.replace(base, model=sft_model, data=[str(data)], **changes))


def train_short_model(
    cfg: DemoConfig, rcfg: recipe.ThinkPOConfig, sft_model: str, data: dict, out: Path
) -> dict:
    """The short-style model: the SFT model fine-tuned on the short solutions only."""
    changes = {"lr": cfg.short_model_lr, "max_steps": cfg.short_model_steps, "warmup_ratio": 0.1}
    return continue_sft(rcfg, sft_model, data["short"], out / "short-model", **changes)


# The control keeps every optimizer setting of the ThinkPO run; only the objective differs.
CONTROL_KEEPS = ("lr", "lr_schedule", "warmup_ratio", "min_lr_ratio", "weight_decay", "max_grad_norm")


def train_control(rcfg: recipe.ThinkPOConfig, sft_model: str, data: dict, dpo: dict, out: Path) -> dict:
    """SFT continued on the same data for as many steps as ThinkPO took, with ThinkPO's optimizer settings."""
    d = dpo["config"]
    changes = {k: d[k] for k in CONTROL_KEEPS}
    changes.update(adam_betas=list(d["adam_betas"]), examples_per_step=d["pairs_per_step"])
    return continue_sft(
        rcfg, sft_model, data["sft"], out / "sft-continued", max_steps=dpo["steps"], epochs=1, **changes
    )


def evaluate_model(cfg: DemoConfig, name: str, model: str, test: Path, out: Path) -> dict:
    """The evaluation runner on the held-out problems (boxed answers), ``OUT/eval/NAME``."""
    from ponder.eval.runner import chat_solver, evaluate, load_benchmark
    from ponder.generation import make_generator
    from ponder.generation.base import SamplingParams

    params = SamplingParams(
        n=cfg.eval_samples,
        temperature=cfg.eval_temperature,
        max_new_tokens=cfg.eval_max_new_tokens,
        seed=cfg.seed + 1000,
    )
    with make_generator("hf", model, batch_size=128) as generator:
        return evaluate(
            chat_solver(generator),
            [load_benchmark(f"{test}:boxed")],
            params,
            out / "eval" / name,
            ks=(1, cfg.eval_samples),
            name=name,
        )


def _check_folder(out: Path, settings: dict) -> None:
    path = out / "demo.json"
    if path.exists():
        saved = json.loads(path.read_text(encoding="utf-8"))
        if saved != settings:
            raise PonderError(
                f"{out} holds a ThinkPO demo run with other settings; choose another --out (or delete it)"
            )
    else:
        write_json(path, settings)


def run_demo(out: str | Path, cfg: DemoConfig = DemoConfig(), log=print) -> dict[str, Any]:
    """Run the whole demo into ``out``; return the report (also ``out/report.json``)."""
    import torch

    from ponder.models.tiny import build_tiny_model

    torch.set_num_threads(cfg.threads)
    out = Path(out)
    t0, load0 = time.time(), os.getloadavg()
    out.mkdir(parents=True, exist_ok=True)
    _check_folder(out, config_to_dict(cfg))
    data = write_data(cfg, out)
    base = out / "base"
    if not (base / "config.json").exists():
        build_tiny_model(base, cfg.preset, cfg.seed)
    rcfg = recipe_config(cfg, out, base, data)
    timings: dict[str, float] = {}

    timed = functools.partial(timed_call, timings)

    log("1/6 SFT on the long/short mixture")
    sft_run = timed("sft", recipe.train_sft, rcfg)
    sft_model = sft_run["model"]
    log("2/6 short-style model and its short answers")
    short_run = timed("short_model", train_short_model, cfg, rcfg, sft_model, data, out)
    short_file = timed(
        "short_samples", recipe.sample_short, rcfg, str(data["long"]), out / "thinkpo" / "short"
    )
    log("3/6 ThinkPO pairs")
    pairs = timed("pairs", recipe.make_pairs, rcfg, sft_model, short_file, log)
    log("4/6 ThinkPO (DPO from the SFT model)")
    dpo_run = timed("thinkpo", recipe.train_thinkpo, rcfg, sft_model, pairs["output"])
    log(f"5/6 control: SFT continued for {dpo_run['steps']} steps")
    control_run = timed("sft_continued", train_control, rcfg, sft_model, data, dpo_run, out)
    log("6/6 evaluation on held-out problems")
    models = {"sft": sft_model, "sft-continued": control_run["model"], "thinkpo": dpo_run["model"]}
    evals = {
        name: timed("eval", evaluate_model, cfg, name, m, data["test"], out) for name, m in models.items()
    }
    runs = {"sft": sft_run, "short-model": short_run, "thinkpo": dpo_run, "sft-continued": control_run}
    return finish_report(
        out,
        cfg=config_to_dict(cfg),
        recipe=config_to_dict(rcfg),
        models=models,
        evals=evals,
        runs=runs,
        pairs=pairs,
        timings=timings,
        wall_seconds=time.time() - t0,
        load=(load0, os.getloadavg()),
        log=log,
    )
