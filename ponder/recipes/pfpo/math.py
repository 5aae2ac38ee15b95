"""PFPO for math (Jiao et al., ICLR 2025): self-consistency labels, outcome and process (pDPO) pairs, iterated.

The engine (:mod:`ponder.recipes.pfpo.engine`) runs every iteration; this task adds, after ``sample``:

1. ``label``   -- self-consistency labels (``vote``: the plurality answer, kept when its share of all samples
   is strictly above ``min_vote_share``) or gold answers (``gold``) (the label stage);
2. ``pairs_outcome`` -- responses reaching the label against the others (the outcome pair stage), one fresh
   random pairing per training epoch;
3. ``pairs_process`` -- pDPO pairs: solution prefixes valued by completions of the iteration's model (the
   process pair stage).

``run(cfg)`` returns the per-iteration table (``OUT/report.json``, ``report.md`` and ``accuracy.png``), like
the paper's tables: accuracy per iteration with the data each one was trained on. Deviations from the paper
are listed in docs/pfpo.md: pairs are redrawn per epoch by writing ``epochs`` drawings and training one pass
over them; identical prefixes are merged before the cap.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ponder.config import check_unset, option
from ponder.feedback.labels import LabelSettings
from ponder.pairs.outcome import OutcomeSettings
from ponder.pairs.process import ProcessSettings
from ponder.recipes.iterate import Iteration, Step
from ponder.recipes.pfpo import engine
from ponder.recipes.pfpo.config import IterationConfig, PairSource, iteration_config, iteration_seed
from ponder.records import Problem

PROMPT_TEMPLATE = "{question}\n\nPlease put your final answer within \\boxed{}."


@dataclass(frozen=True)
class OutcomePairs(PairSource, OutcomeSettings):
    """The outcome pair stage's settings (``ponder pairs outcome``), with the recipe's switch and ratio."""


@dataclass(frozen=True)
class ProcessPairs(PairSource, ProcessSettings):
    """The process pair stage's settings (``ponder pairs process``), with the recipe's switch and ratio."""


# set by the recipe: the seeds from the run's, one drawing per epoch, the chunk from the prefix cap
OUTCOME_SET = ("seed", "draws")
PROCESS_SET = ("seed", "draws", "chunk_problems")


@dataclass(frozen=True)
class PFPOConfig(IterationConfig):
    prompt_template: str = option(PROMPT_TEMPLATE, help="Applied to text prompts; {question} is the problem.")
    label: LabelSettings = option(LabelSettings(), help="Labels (ponder label).")
    outcome: OutcomePairs = option(OutcomePairs(), help="Outcome pairs (ponder pairs outcome).")
    process: ProcessPairs = option(ProcessPairs(), help="Process (prefix) pairs (ponder pairs process).")

    def __post_init__(self) -> None:
        super().__post_init__()
        if "{question}" not in self.prompt_template:
            raise ValueError("prompt_template must contain {question}")
        check_unset(self.outcome, OUTCOME_SET, "outcome", "seed from the run's, draws from train.epochs")
        check_unset(self.process, PROCESS_SET, "process", "seed from the run's, draws from train.epochs")
        if self.process.rule != self.label.rule:
            raise ValueError(f"process.rule ({self.process.rule}) must be label.rule ({self.label.rule})")


def templated(cfg: PFPOConfig) -> Callable[[Problem], Problem]:
    """The prompt template applied to a problem with a text prompt."""

    def apply(p: Problem) -> Problem:
        if isinstance(p.prompt, str):
            return dataclasses.replace(p, prompt=cfg.prompt_template.replace("{question}", p.prompt))
        return p

    return apply


def label_step(cfg: PFPOConfig) -> Step:
    """Self-consistency (or gold) labels of the sampled solutions."""

    def run(it: Iteration) -> dict:
        from ponder.feedback.labels import label_file

        c = iteration_config(cfg, it.index)
        out = it.folder / "labelled.jsonl"
        s = label_file(it.results["sample"]["samples_file"], out, c.label)
        return {"labelled_file": str(out), **s.to_dict()}

    return Step("label", run)


def outcome_pairs(c: PFPOConfig, it: Iteration, out: Path) -> tuple[dict, int]:
    """Outcome pairs, one fresh random pairing per training epoch."""
    from ponder.pairs.outcome import build_outcome_pairs

    settings = dataclasses.replace(c.outcome, draws=c.train.epochs, seed=iteration_seed(c, it.index))
    s = build_outcome_pairs(it.results["label"]["labelled_file"], out, settings)
    return {"pairs": s.stages.get("pairs", 0), **s.to_dict()}, settings.draws


def process_settings(cfg: PFPOConfig, index: int) -> ProcessSettings:
    """The process pair builder's settings in iteration ``index`` (``cfg`` already for that iteration)."""
    p = cfg.process
    return dataclasses.replace(
        p,
        draws=cfg.train.epochs,
        seed=iteration_seed(cfg, index),
        chunk_problems=max(1, 2048 // max(1, p.max_prefixes_per_problem)),
    )


def process_pairs(c: PFPOConfig, it: Iteration, out: Path) -> tuple[dict, int]:
    """pDPO pairs: prefixes of the sampled solutions, completed by the iteration's model and valued."""
    from ponder.pairs.process import build_process_pairs

    settings = process_settings(c, it.index)
    labelled = it.results["label"]["labelled_file"]
    s = build_process_pairs(labelled, out, it.model, settings, backend=c.generation)
    return {"pairs": s.stages.get("pairs", 0), **s.to_dict()}, settings.draws


class MathTask(engine.Task):
    title = "PFPO"
    metric = "accuracy"
    plot = "accuracy.png"
    columns = (
        "name",
        "accuracy",
        "mean_tokens",
        "prompts",
        "labelled",
        "label_accuracy",
        "outcome_pairs",
        "process_pairs",
        "seconds",
    )

    def prompts_file(self, cfg: PFPOConfig, it: Iteration) -> Path:
        """The iteration's fresh prompts with the template applied, written once as ``problems.jsonl``."""
        return engine.write_once(
            it.folder / "problems.jsonl",
            lambda: [templated(cfg)(p) for p in engine.iteration_problems(cfg, it.index)],
        )

    def pair_steps(self, cfg: PFPOConfig) -> list[Step]:
        return [
            label_step(cfg),
            engine.pair_step(cfg, "pairs_outcome", "outcome", outcome_pairs),
            engine.pair_step(cfg, "pairs_process", "process", process_pairs),
        ]

    def prompt(self, cfg: PFPOConfig) -> Callable[[Problem], Problem]:
        return templated(cfg)

    def extra(self, key: str) -> bool:
        return key.startswith(("maj@", "pass@"))

    def row(self, it: Iteration) -> dict:
        """One row of the per-iteration table."""
        r = it.results
        row: dict = {"name": "sft" if it.index == 0 else it.name, "model": it.model}
        row.update(r.get("eval", {}).get("metrics", {}))
        if "label" in r:
            row["prompts"] = r["label"]["problems"]
            row["labelled"] = r["label"]["kept"]
            row["label_accuracy"] = r["label"]["label_accuracy"]
        for key, name in (("pairs_outcome", "outcome_pairs"), ("pairs_process", "process_pairs")):
            if key in r:
                row[name] = r[key]["pairs"]
        row["seconds"] = sum(s.get("step_seconds", 0.0) for s in r.values())
        return row


TASK = MathTask()
TABLE_COLUMNS = list(MathTask.columns)


def evaluate(cfg: PFPOConfig, model: str, out: Path) -> dict:
    """``model`` on the benchmarks with the prompt template of training (see :func:`engine.evaluate`)."""
    return engine.evaluate(cfg, TASK, model, out)


def run(cfg: PFPOConfig, log: Callable[[str], None] = lambda m: None) -> dict:
    """Run every iteration (resuming a run in ``cfg.output``); return the report."""
    return engine.run(cfg, TASK, log)
