"""``ponder demo thinkpo-real``: ThinkPO on a real pretrained model (SmolLM2-135M-Instruct) with its control.

SmolLM2-135M-Instruct gets ponder's sums wrong (4% greedy), so the paper's starting point -- a model that
already reasons at length -- is made first, and checked before the method runs:

1. **SFT** of ``model`` on long (step-by-step, self-checking) solutions only -> the SFT model S
   (``thinkpo-smollm2.yaml``, section ``sft``).
2. **Preconditions**, printed and saved before anything else runs: S's greedy accuracy on the held-out sums
   (at least ``min_accuracy``), and the accuracy of its long answers against that of its short ones. Short
   answers are measured cheaply by starting S's answer with the short form's ``EXPR =`` and reading the number it
   writes next (greedy, a few tokens).
3. **ThinkPO**: DPO from S (also the frozen reference), long solution chosen, the short solution with the same
   (gold) answer rejected, on the first ``pair_problems`` questions of the SFT set.
4. **Control**: SFT continued from S on the chosen answers of the same pairs, for as many optimizer steps as
   ThinkPO took, with ThinkPO's examples per step, learning rate and schedule -- only the objective differs.
5. **Evaluation** of S, ThinkPO and the control on the same held-out problems: greedy, and ``eval_samples``
   answers at ``eval_temperature`` (pass@1, maj@k, mean tokens); paired per-problem differences with their
   standard errors (:mod:`ponder.demos.thinkpo_real_report`).

Outputs in ``OUT``: ``data/``, ``thinkpo/`` (recipe stages: sft/, pairs/, dpo/), ``sft-continued/``,
``eval/NAME-{greedy,sampled}/``, ``preconditions.json``, ``report.json``/``.md``/``.png``. Started again on
the same folder, every finished stage is skipped.
"""

from __future__ import annotations

import functools
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ponder.config import config_to_dict, load_config, option
from ponder.demos.thinkpo import _check_folder, continue_sft, packaged_recipe, settings_with_recipe
from ponder.errors import PonderError
from ponder.io import write_json, write_records
from ponder.progress import timed_call
from ponder.recipes import thinkpo as recipe
from ponder.tasks.synthetic import make

NAMES = ("sft", "sft-continued", "thinkpo")
# Settings that say when to stop, not what is computed: a folder stopped after its preconditions continues.
STOPPING = ("require_preconditions", "stop_after_preconditions")


@dataclass(frozen=True)
class RealConfig:
    """Sizes of the run; training settings are in ``recipe_config`` (thinkpo-smollm2.yaml)."""

    model: str = option("runs/smollm2-135m", help="Pretrained model folder (`make real-model`).")
    seed: int = option(100, help="Seed of the problems, training and sampling (100-149: development).")
    sft_problems: int = option(640, help="Problems in the SFT set, each with its long solution.")
    pair_problems: int = option(256, help="SFT questions turned into ThinkPO pairs (the first ones).")
    test_problems: int = option(60, help="Held-out problems (none of them in the SFT set).")
    min_ops: int = option(2, help="Fewest operations per expression.")
    max_ops: int = option(4, help="Most operations per expression.")
    max_operand: int = option(9, help="Largest number in an expression.")
    max_value: int = option(9, help="Largest intermediate result.")
    eval_samples: int = option(4, help="Sampled answers per held-out problem (pass@1, maj@k).")
    eval_temperature: float = option(0.7, help="Temperature of the sampled answers.")
    eval_max_new_tokens: int = option(160, help="Token budget per answer (long answers: ~90 on average).")
    eval_batch_size: int = option(64, help="Sequences generated at once.")
    min_accuracy: float = option(0.2, help="Precondition: least greedy accuracy of the SFT model.")
    require_preconditions: bool = option(
        True, help="Stop with an error when the preconditions fail (false: report them and go on)."
    )
    stop_after_preconditions: bool = option(
        False, help="Stop once the preconditions are measured (to choose SFT settings on a dev seed)."
    )
    threads: int = option(1, help="Torch CPU threads (1: steady on a shared 2-core machine).")
    recipe_config: str | None = option(None, help="Recipe YAML; default: packaged thinkpo-smollm2.yaml.")
    recipe: list[str] = option([], help="Overrides of the recipe config, e.g. ['sft.lr=2e-4'].")

    def __post_init__(self) -> None:
        if not 0 < self.pair_problems <= self.sft_problems or self.test_problems < 1:
            raise ValueError("need 0 < pair_problems <= sft_problems and test_problems >= 1")


def real_config(overrides: list[str], seed: int) -> RealConfig:
    return settings_with_recipe(RealConfig, overrides, seed)


def write_data(cfg: RealConfig, out: Path) -> dict[str, Path]:
    """SFT set (long solutions), its first questions as pair problems, and held-out problems.

    Held-out problems whose expression also occurs in the SFT set are skipped, so the evaluation measures
    sums the model has not been trained on."""
    knobs = dict(
        min_ops=cfg.min_ops, max_ops=cfg.max_ops, max_operand=cfg.max_operand, max_value=cfg.max_value
    )
    problems = make("arithmetic", 2 * (cfg.sft_problems + cfg.test_problems), cfg.seed, **knobs)
    train = problems[: cfg.sft_problems]
    seen = {p.prompt for p in train}
    test = [p for p in problems[cfg.sft_problems :] if p.prompt not in seen][: cfg.test_problems]
    if len(test) < cfg.test_problems:
        raise PonderError(f"only {len(test)} held-out sums differ from the SFT set; lower test_problems")
    paths = {name: out / "data" / f"{name}.jsonl" for name in ("sft", "pairs", "test")}
    rows = [{"id": p.id, "prompt": p.prompt, "completion": p.meta["long"], "answer": p.answer} for p in train]
    write_records(paths["sft"], rows)
    write_records(paths["pairs"], train[: cfg.pair_problems])  # meta.long chosen, meta.short rejected
    write_records(paths["test"], test)
    return paths


def recipe_config(cfg: RealConfig, out: Path, data: dict[str, Path]) -> recipe.ThinkPOConfig:
    seeded = [f"sft.seed={cfg.seed}", f"dpo.seed={cfg.seed}"]
    return load_config(
        recipe.ThinkPOConfig,
        cfg.recipe_config or packaged_recipe("thinkpo-smollm2.yaml"),
        [*seeded, *cfg.recipe],
        output=str(out / "thinkpo"),
        model=cfg.model,
        sft_data=[str(data["sft"])],
        long=str(data["pairs"]),
        short={"samples": str(data["pairs"])},
        resume=True,
    )


def train_control(rcfg: recipe.ThinkPOConfig, sft_model: str, pairs: Path, dpo: dict, out: Path) -> dict:
    """SFT continued from S on the pairs' chosen answers: ThinkPO's steps, batch, lr and schedule."""
    from ponder.demos.thinkpo import CONTROL_KEEPS

    d = dpo["config"]
    changes = {k: d[k] for k in CONTROL_KEEPS}
    changes.update(adam_betas=list(d["adam_betas"]), examples_per_step=d["pairs_per_step"])
    return continue_sft(
        rcfg, sft_model, pairs, out / "sft-continued", max_steps=dpo["steps"], epochs=1, **changes
    )


def evaluate_model(cfg: RealConfig, name: str, model: str, test: Path, out: Path, n: int) -> dict:
    """The evaluation runner on the held-out sums: greedy when ``n`` is 1, else sampled; ``eval/NAME``."""
    from ponder.eval.runner import chat_solver, evaluate, load_benchmark
    from ponder.generation import make_generator
    from ponder.generation.base import SamplingParams

    temperature = 0.0 if n == 1 else cfg.eval_temperature
    params = SamplingParams(
        n=n, temperature=temperature, max_new_tokens=cfg.eval_max_new_tokens, seed=cfg.seed + 1000
    )
    ks = (1,) if n == 1 else (1, n)
    with make_generator("hf", model, dtype="bfloat16", batch_size=cfg.eval_batch_size) as generator:
        return evaluate(
            chat_solver(generator),
            [load_benchmark(f"{test}:boxed")],
            params,
            out / "eval" / name,
            ks=ks,
            name=name,
        )


_FIRST_INT = re.compile(r"-?\d+")


def short_prefix(short: str) -> str:
    """``'2 - (4 - 1) = 1.\\nSo ...'`` -> ``'2 - (4 - 1) ='``: the short answer up to its result."""
    return short.split("\n", 1)[0].rsplit(" = ", 1)[0] + " ="


def short_answers(cfg: RealConfig, model: str, test: Path) -> list[bool]:
    """Whether the model's short answer is right, per held-out problem: the answer is started with the short
    form's ``EXPR =`` and the first number of a greedy continuation is compared with the gold answer."""
    from ponder.generation import make_generator
    from ponder.generation.base import SamplingParams, render_prompt
    from ponder.records import read_problems

    problems = list(read_problems(test))
    with make_generator("hf", model, dtype="bfloat16", batch_size=cfg.eval_batch_size) as gen:
        prompts = [
            render_prompt(
                gen.tokenizer, [{"role": "user", "content": p.prompt}], short_prefix(p.meta["short"])
            )
            for p in problems
        ]
        outs = gen.generate(prompts, SamplingParams(n=1, temperature=0.0, max_new_tokens=4))
    right = []
    for p, comps in zip(problems, outs, strict=True):
        m = _FIRST_INT.search(comps[0].text)
        right.append(m is not None and m.group() == str(p.answer))
    return right


def measure_preconditions(cfg: RealConfig, sft_model: str, data: dict, out: Path, log=print) -> dict:
    """S's greedy accuracy, its long answers' accuracy and its short answers' accuracy (saved, printed)."""
    from ponder.demos.thinkpo_report import style_stats

    greedy = evaluate_model(cfg, "sft-greedy", sft_model, data["test"], out, 1)
    bench = next(iter(greedy["benchmarks"].values()))
    styles = style_stats(out / "eval" / "sft-greedy" / "samples" / "test.jsonl")
    short = short_answers(cfg, sft_model, data["test"])
    pre = {
        "greedy_accuracy": bench["accuracy"],
        "long_share": styles["long_share"],
        "long_accuracy": styles["long_accuracy"],
        "short_accuracy": sum(short) / len(short),
        "min_accuracy": cfg.min_accuracy,
    }
    long_acc = pre["long_accuracy"] or 0.0
    pre["holds"] = pre["greedy_accuracy"] >= cfg.min_accuracy and long_acc > pre["short_accuracy"]
    write_json(out / "preconditions.json", pre)
    log(
        f"preconditions: SFT greedy accuracy {pre['greedy_accuracy']:.3f} (need >= {cfg.min_accuracy}), "
        f"long share {pre['long_share']:.2f}, long answers {long_acc:.3f} vs short answers "
        f"{pre['short_accuracy']:.3f} -> {'hold' if pre['holds'] else 'FAIL'}"
    )
    return pre


def run_real(out: str | Path, cfg: RealConfig = RealConfig(), log=print) -> dict[str, Any]:
    """Run every stage into ``out``; return the report (also ``out/report.json``)."""
    import torch

    torch.set_num_threads(cfg.threads)
    out = Path(out)
    t0, cpu0, load0 = time.time(), os.times(), os.getloadavg()
    out.mkdir(parents=True, exist_ok=True)
    _check_folder(out, {k: v for k, v in config_to_dict(cfg).items() if k not in STOPPING})
    data = write_data(cfg, out)
    rcfg = recipe_config(cfg, out, data)
    timings: dict[str, float] = {}

    timed = functools.partial(timed_call, timings)

    log(f"1/5 SFT of {cfg.model} on {cfg.sft_problems} long solutions")
    sft_run = timed("sft", recipe.train_sft, rcfg)
    sft_model = sft_run["model"]
    log("2/5 preconditions")
    pre = timed("preconditions", measure_preconditions, cfg, sft_model, data, out, log)
    if cfg.stop_after_preconditions:
        return {"preconditions": pre, "sft": sft_run}
    if cfg.require_preconditions and not pre["holds"]:
        raise PonderError(f"preconditions do not hold (see {out / 'preconditions.json'}); raise SFT lr/size")
    log("3/5 ThinkPO (DPO from the SFT model)")
    pairs = timed("pairs", recipe.make_pairs, rcfg, sft_model, data["pairs"], log)
    dpo_run = timed("thinkpo", recipe.train_thinkpo, rcfg, sft_model, pairs["output"])
    log(f"4/5 control: SFT continued for {dpo_run['steps']} steps on the same chosen answers")
    control_run = timed("sft_continued", train_control, rcfg, sft_model, Path(pairs["output"]), dpo_run, out)
    log("5/5 evaluation on the held-out sums")
    models = {"sft": sft_model, "sft-continued": control_run["model"], "thinkpo": dpo_run["model"]}
    evals = {}
    for name, m in models.items():
        evals[name] = {
            "greedy": timed("eval", evaluate_model, cfg, f"{name}-greedy", m, data["test"], out, 1),
            "sampled": timed(
                "eval", evaluate_model, cfg, f"{name}-sampled", m, data["test"], out, cfg.eval_samples
            ),
        }
    from ponder.demos.thinkpo_real_report import finish_report

    cpu = os.times()
    return finish_report(
        out,
        cfg=config_to_dict(cfg),
        recipe=config_to_dict(rcfg),
        preconditions=pre,
        runs={"sft": sft_run, "thinkpo": dpo_run, "sft-continued": control_run},
        pairs=pairs,
        timings=timings,
        wall_seconds=time.time() - t0,
        cpu_seconds=(cpu.user - cpu0.user) + (cpu.system - cpu0.system),
        load=(load0, os.getloadavg()),
        log=log,
    )
