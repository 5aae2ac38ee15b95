"""``ponder demo thinkpo``: ThinkPO in the paper's setting on a tiny model, offline, in minutes on two cores.

The synthetic setting (docs/thinkpo.md explains the choices):

- Task: neighbour sums (:mod:`ponder.tasks.neighbour_sum`): which named number and the next add up to a
  target. A search tries the letters in order, one short line each, until the rest is zero.
- SFT data: long chain-of-thought only, of varying thoroughness (:func:`neighbour_sum.hasty_text`): each
  solution's writer stops searching before each line with probability ``1 - θ``, ``θ`` drawn from
  ``[min_thoroughness, 1]``, and then states the answer -- which the writer knows and a model imitating it
  can only guess. Thorough reasoning helps, and more SFT on the same data cannot teach the model to know
  what the writer knew: the demo measures both before ThinkPO runs.
- Short answers come from a *separately trained* short-CoT model: the random base model trained on hasty
  solutions (``θ`` at most ``short_max_thoroughness``) of other problems, as the paper samples its short
  answers from another model.
- ThinkPO pairs: each long SFT solution chosen, a short answer with the same final answer rejected; DPO from
  the SFT model (:mod:`ponder.recipes.thinkpo`, settings in ``thinkpo-tiny.yaml``).
- Control: the SFT model trained further on the same long data for the same number of steps and examples
  per step with ThinkPO's optimizer settings -- only the objective differs.
- Evaluation (:mod:`ponder.eval.runner`): held-out problems, ``eval_samples`` answers each at temperature 0.7;
  accuracy, mean tokens, pass@k, and the share of answers that search to the end with the accuracy of
  searched and of hasty answers.

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

NAMES = ("sft", "sft-continued", "thinkpo")


@dataclass(frozen=True)
class DemoConfig:
    """Sizes and knobs of the demo; the training settings are in ``recipe_config`` (thinkpo-tiny.yaml)."""

    seed: int = option(
        0, help="Seed of the model, the problems, the solutions' thoroughness, training and sampling."
    )
    preset: str = option("nano", help="Tiny model size: nano (~0.57M parameters) or micro (~3.4M).")
    train_problems: int = option(4000, help="Problems in the SFT set (one long solution each).")
    short_problems: int = option(3000, help="Other problems whose hasty solutions train the short-CoT model.")
    test_problems: int = option(300, help="Held-out problems to evaluate on.")
    numbers: int = option(6, help="Named numbers per problem.")
    min_thoroughness: float = option(
        0.5, help="Long solutions draw their thoroughness θ from [min_thoroughness, 1]."
    )
    short_max_thoroughness: float = option(
        0.25, help="The short-CoT model's solutions draw θ from [0, short_max_thoroughness]."
    )
    short_model_steps: int = option(200, help="SFT steps of the short-CoT model from the random base model.")
    short_model_lr: float = option(2e-3, help="Learning rate of the short-CoT model's SFT.")
    eval_samples: int = option(
        4, help="Answers per held-out problem (accuracy is pass@1 averaged over them)."
    )
    eval_temperature: float = option(0.7, help="Sampling temperature of the evaluation (paper: 0.7).")
    eval_max_new_tokens: int = option(160, help="Token budget per answer in the evaluation.")
    threads: int = option(1, help="Torch CPU threads (1 is fastest for a tiny model on a shared machine).")
    recipe_config: str | None = option(
        None, help="ThinkPO recipe YAML; default: the packaged thinkpo-tiny.yaml."
    )
    recipe: list[str] = option([], help="Overrides of the recipe config, e.g. ['dpo.beta=0.05'].")

    def __post_init__(self) -> None:
        if not 0 <= self.min_thoroughness <= 1 or not 0 <= self.short_max_thoroughness <= 1:
            raise ValueError("min_thoroughness and short_max_thoroughness must be in [0, 1]")
        if self.train_problems < 10 or self.short_problems < 10 or self.test_problems < 1:
            raise ValueError(
                "train_problems and short_problems must be at least 10 and test_problems at least 1"
            )


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
    """The long SFT solutions, the short-CoT model's hasty solutions of other problems, and the held-out
    problems (the three sets disjoint)."""
    from ponder.tasks.neighbour_sum import hasty_text, neighbour_sum

    n = cfg.train_problems + cfg.short_problems + cfg.test_problems
    problems = neighbour_sum(n, cfg.seed, size=cfg.numbers)
    train = problems[: cfg.train_problems]
    short = problems[cfg.train_problems : cfg.train_problems + cfg.short_problems]
    test = problems[cfg.train_problems + cfg.short_problems :]
    rng = random.Random(f"thinkpo-demo-thoroughness:{cfg.seed}")

    def rows(part, low, high):
        out = []
        for p in part:
            theta = rng.uniform(low, high)
            text = hasty_text(p, theta, rng)
            out.append(
                {"id": p.id, "prompt": p.prompt, "completion": text, "answer": p.answer, "theta": theta}
            )
        return out

    paths = {name: out / "data" / f"{name}.jsonl" for name in ("sft", "short", "test")}
    write_records(paths["sft"], rows(train, cfg.min_thoroughness, 1.0))
    write_records(paths["short"], rows(short, 0.0, cfg.short_max_thoroughness))
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
        long=str(data["sft"]),
        short={"model": str(out / "short-model" / "model")},
        resume=True,
    )


def continue_sft(rcfg: recipe.ThinkPOConfig, sft_model: str, data: Path, out: Path, **changes) -> dict:
    """The recipe's SFT settings (with ``changes``) run again from the SFT model on ``data`` into ``out``."""
    from ponder.recipes import sft

    base = recipe.sft_config(rcfg, str(out))
    return sft.run(dataclasses.replace(base, model=sft_model, data=[str(data)], **changes))


def train_short_model(cfg: DemoConfig, rcfg: recipe.ThinkPOConfig, base: Path, data: dict, out: Path) -> dict:
    """The short-CoT model: the random base model trained on the hasty solutions of the short problems (the
    recipe's SFT settings otherwise)."""
    changes = {"lr": cfg.short_model_lr, "max_steps": cfg.short_model_steps, "warmup_ratio": 0.05}
    return continue_sft(rcfg, str(base), data["short"], out / "short-model", **changes)


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


def preconditions_line(eval_dir: Path) -> str:
    """The SFT model's answers before ThinkPO: how often it searches to the end, and whether searching helps
    (the accuracy of searched against hasty answers)."""
    from ponder.demos.thinkpo_report import style_stats
    from ponder.tasks.neighbour_sum import searched

    st = style_stats(eval_dir / "samples" / "test.jsonl", searched)

    def f(v):
        return "n/a" if v is None else f"{v:.3f}"

    return (
        f"preconditions (SFT model): searched to the end {f(st['long_share'])}; accuracy searched "
        f"{f(st['long_accuracy'])} vs hasty {f(st['short_accuracy'])}"
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

    log("1/6 SFT on the long solutions")
    sft_run = timed("sft", recipe.train_sft, rcfg)
    sft_model = sft_run["model"]
    evals = {"sft": timed("eval", evaluate_model, cfg, "sft", sft_model, data["test"], out)}
    log(preconditions_line(out / "eval" / "sft"))
    log("2/6 short-CoT model (from the base model) and its short answers")
    short_run = timed("short_model", train_short_model, cfg, rcfg, base, data, out)
    short_file = timed(
        "short_samples", recipe.sample_short, rcfg, str(data["sft"]), out / "thinkpo" / "short"
    )
    log("3/6 ThinkPO pairs")
    pairs = timed("pairs", recipe.make_pairs, rcfg, sft_model, short_file, log)
    log("4/6 ThinkPO (DPO from the SFT model)")
    dpo_run = timed("thinkpo", recipe.train_thinkpo, rcfg, sft_model, pairs["output"])
    log(f"5/6 control: SFT continued for {dpo_run['steps']} steps")
    control_run = timed("sft_continued", train_control, rcfg, sft_model, data, dpo_run, out)
    log("6/6 evaluation on held-out problems")
    models = {"sft": sft_model, "sft-continued": control_run["model"], "thinkpo": dpo_run["model"]}
    for name in ("sft-continued", "thinkpo"):
        evals[name] = timed("eval", evaluate_model, cfg, name, models[name], data["test"], out)
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
