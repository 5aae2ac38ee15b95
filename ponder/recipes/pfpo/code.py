"""PFPO for code (Jiao et al., ICLR 2025): pseudo tests voted by the policy's own programs, iterated.

The engine (:mod:`ponder.recipes.pfpo.engine`) runs every iteration; this task adds:

1. ``inputs``  -- before sampling: test inputs per problem (a strong model writes them, or the synthetic
   family's sampler, or ``given``: the problems carry them) -- the ``tests generate`` stage; with the same
   problems every iteration they are written once, in iteration 1;
2. ``pairs_code`` -- after sampling: programs run on the inputs, outputs voted into pseudo tests, programs
   paired by pass counts (``lower_bound`` 0.5, ``margin`` 6); or ``labels: gold``: the problems' own tests
   (the ``pairs code`` stage);
3. ``pairs_code_process`` -- code pDPO: prefixes of the sampled programs valued by the pseudo tests their
   completions pass (the ``pairs code-process`` stage).

``run(cfg)`` writes the per-iteration table (``OUT/report.json``, ``report.md``, ``pass_at_1.png``): pass@1 per
iteration with the pseudo tests and pairs each iteration was trained on. Every field's paper value is listed in
docs/paper_index.md ("PFPO (ICLR 2025): code").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ponder.config import option
from ponder.feedback.test_inputs_stage import InputSettings
from ponder.generation.backend import BackendSettings
from ponder.pairs.code_process_stage import CodeProcessSettings
from ponder.pairs.code_stage import CodePairSettings
from ponder.recipes.iterate import Iteration, Step
from ponder.recipes.pfpo import engine
from ponder.recipes.pfpo.config import IterationConfig, PairSource, iteration_seed


@dataclass(frozen=True)
class CodePairs(PairSource, CodePairSettings):
    """The program pair stage's settings (``ponder pairs code``), with the recipe's switch and ratio. Disabled,
    the programs are still scored: the pseudo tests value code pDPO's prefixes."""


@dataclass(frozen=True)
class CodeProcessPairs(PairSource, CodeProcessSettings):
    """The code pDPO stage's settings (``ponder pairs code-process``), with the recipe's switch and ratio."""


@dataclass(frozen=True)
class PFPOCodeConfig(IterationConfig):
    recipe: Literal["pfpo-code"] = option("pfpo-code", help="Recipe name (what `ponder run` dispatches on).")
    inputs: InputSettings = option(InputSettings(), help="Test inputs (ponder tests generate).")
    inputs_model: str | None = option(
        None, help="Model that writes the inputs with source llm (the authors: GPT-4o, Mistral-Large)."
    )
    inputs_generation: BackendSettings = option(
        BackendSettings(), help="Backend of the model that writes the inputs."
    )
    outcome: CodePairs = option(CodePairs(), help="Outcome pairs by pass counts (ponder pairs code).")
    process: CodeProcessPairs = option(
        CodeProcessPairs(), help="Code pDPO pairs (ponder pairs code-process)."
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (self.outcome.enabled or self.process.enabled):
            raise ValueError("enable outcome or process pairs (or both)")
        if self.inputs.source == "llm" and not self.inputs_model:
            raise ValueError("inputs_model is needed when inputs.source is llm")
        if self.process.labels != self.outcome.labels:
            raise ValueError("process.labels must be outcome.labels (the tests both are valued by)")
        if self.eval.rule != "code" and not all(b.endswith(":code") for b in self.eval.benchmarks):
            raise ValueError("eval.rule must be code (or every benchmark FILE:code)")

    def seeded(self) -> tuple[str, ...]:
        return (*super().seeded(), "inputs", "outcome", "process")


def inputs_step(cfg: PFPOCodeConfig) -> Step:
    """Test inputs for the iteration's problems (the same problems every iteration: written once)."""

    def run(it: Iteration) -> dict:
        from ponder.feedback.test_inputs_stage import generate_test_inputs

        if cfg.prompts_per_iteration is None and it.index > 1:
            first = next(h for h in it.history if h.index == 1)
            return {**first.results["inputs"], "reused_from": first.name}
        problems = engine.write_once(
            it.folder / "problems.jsonl", lambda: engine.iteration_problems(cfg, it.index)
        )
        out = it.folder / "with_inputs.jsonl"
        settings = dataclasses.replace(cfg.inputs, seed=cfg.seed)
        s = generate_test_inputs(
            problems, out, settings, model=cfg.inputs_model, backend=cfg.inputs_generation
        )
        return {"inputs_file": str(out), **s}

    return Step("inputs", run)


def program_pairs(c: PFPOCodeConfig, it: Iteration, out: Path) -> tuple[dict, int]:
    """Outcome pairs of whole programs (pseudo or gold labels); the scores also value code pDPO's prefixes."""
    from ponder.pairs.code_stage import run_code_pairs

    settings = dataclasses.replace(c.outcome, seed=iteration_seed(c, it.index))
    problems, samples = it.results["inputs"]["inputs_file"], it.results["sample"]["samples_file"]
    return run_code_pairs(problems, samples, out, settings), 1


def prefix_pairs(c: PFPOCodeConfig, it: Iteration, out: Path) -> tuple[dict, int]:
    """Code pDPO pairs: prefixes completed by the iteration's model, valued by the pseudo tests."""
    from ponder.pairs.code_process_stage import code_process_file

    s = code_process_file(
        it.results["inputs"]["inputs_file"],
        it.results["sample"]["samples_file"],
        out,
        it.model,
        dataclasses.replace(c.process, seed=iteration_seed(c, it.index)),
        c.generation,
        scores_path=it.results["pairs_code"]["scores"] if c.outcome.labels == "pseudo" else None,
    )
    return s, 1


class CodeTask(engine.Task):
    title = "PFPO-code"
    metric = "pass@1"
    plot = "pass_at_1.png"
    columns = (
        "name",
        "pass@1",
        "mean_tokens",
        "problems",
        "kept_test_share",
        "outcome_pairs",
        "process_pairs",
        "seconds",
    )

    def prepare_steps(self, cfg: PFPOCodeConfig) -> list[Step]:
        return [inputs_step(cfg)]

    def prompts_file(self, cfg: PFPOCodeConfig, it: Iteration) -> Path:
        return Path(it.results["inputs"]["inputs_file"])

    def pair_steps(self, cfg: PFPOCodeConfig) -> list[Step]:
        return [
            engine.pair_step(cfg, "pairs_code", "outcome", program_pairs, always=True),
            engine.pair_step(cfg, "pairs_code_process", "process", prefix_pairs),
        ]

    def row(self, it: Iteration) -> dict:
        """One row of the per-iteration table."""
        r = it.results
        row: dict = {"name": "sft" if it.index == 0 else it.name, "model": it.model}
        metrics = r.get("eval", {}).get("metrics", {})
        # "problems"/"samples" of the benchmark stay in eval.done.json; the row's "problems" are the trained ones.
        row.update({k: v for k, v in metrics.items() if k not in ("accuracy", "problems", "samples")})
        if "pairs_code" in r:
            pc = r["pairs_code"]
            row["problems"] = pc.get("problems")
            if "kept_test_share" in pc:
                row["kept_test_share"] = pc["kept_test_share"]
            row["outcome_pairs"] = pc.get("pairs", 0)
        if "pairs_code_process" in r:
            row["process_pairs"] = r["pairs_code_process"].get("pairs", 0)
        row["seconds"] = sum(s.get("step_seconds", 0.0) for s in r.values())
        return row


TASK = CodeTask()


def run(cfg: PFPOCodeConfig, log: Callable[[str], None] = lambda m: None) -> dict:
    """Run every iteration (resuming a run in ``cfg.output``); return the report."""
    return engine.run(cfg, TASK, log)
