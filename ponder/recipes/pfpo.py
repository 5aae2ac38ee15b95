"""PFPO for math (Jiao et al., ICLR 2025): iterated preference optimisation on pseudo feedback.

Each iteration k (``OUT/iterK``) starts from model k-1 and runs, top to bottom:

1. ``sample``  -- fresh prompts (its own slice of the prompt file), ``samples_per_prompt`` solutions each;
2. ``label``   -- self-consistency labels (``vote``: the plurality answer, kept when its share of all samples
   is strictly above ``min_vote_share``) or gold answers (``gold``);
3. ``pairs_outcome`` -- outcome pairs: responses reaching the label against the others;
4. ``pairs_process`` -- pDPO pairs: solution prefixes valued by sampled completions;
5. ``train``   -- DPO (sigmoid) + SFT term on the chosen side from model k-1, reference = model k-1, on the
   pair files mixed at their ratios (the authors mix prefix pairs with outcome pairs at a replay ratio);
6. ``eval``    -- greedy accuracy on the benchmark files.

Iteration 0 only evaluates the starting (SFT) model. The loop (:mod:`ponder.recipes.iterate`) resumes after
a crash at any step. ``run(cfg)`` returns the per-iteration table (``OUT/report.json``, ``report.md`` and
``accuracy.png``), like the paper's tables: accuracy per iteration with the data each one was trained on.

The steps are plain functions of the config (``sample_step``, ``train_step``, ``eval_step``, ...), so a
variant (PFPO for code) builds its own step list from the same parts.

Deviations from the paper are listed in docs/pfpo.md: pairs are redrawn per epoch by writing ``epochs``
drawings and training one pass over them; identical prefixes are merged before the cap.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ponder.config import config_to_dict, load_config, option
from ponder.errors import ConfigError, PonderError
from ponder.feedback.labels import label_file
from ponder.io import write_json, write_records, write_text
from ponder.pairs.outcome import build_outcome_pairs
from ponder.pairs.process import ProcessSettings, build_process_pairs
from ponder.recipes import pfpo_eval
from ponder.recipes.iterate import Iteration, Step, check_same_config, pair_sources, run_iterations
from ponder.records import Problem, load_records

Pairing = Literal["each_positive", "one_per_problem", "closest_steps"]
Rule = Literal["math", "boxed", "number", "choice"]
PROMPT_TEMPLATE = "{question}\n\nPlease put your final answer within \\boxed{}."


@dataclass(frozen=True)
class GenerationConfig:
    backend: Literal["hf", "vllm", "openai"] = option("hf", help="Generation backend for sampling and completions.")
    batch_size: int = option(32, help="Sequences per forward pass (hf).")
    dtype: Literal["float32", "bfloat16"] = option("float32", help="Weights dtype for generation (hf, vllm).")
    base_url: str | None = option(None, help="Endpoint of the openai backend, e.g. http://127.0.0.1:8000/v1.")
    tokenizer: str | None = option(
        None, help="Tokenizer with the chat template (openai backend: the served model's); default: the model's."
    )


@dataclass(frozen=True)
class SampleConfig:
    samples_per_prompt: int = option(8, help="n solutions sampled per prompt (the authors: 8-16).")
    temperature: float = option(1.0, help="Sampling temperature.")
    top_p: float = option(1.0, help="Nucleus sampling mass (the authors: 0.9-1.0).")
    max_new_tokens: int = option(2048, help="Token budget per solution.")


@dataclass(frozen=True)
class LabelConfig:
    by: Literal["vote", "gold"] = option("vote", help="vote: self-consistency pseudo labels; gold: the problems' answers.")
    min_vote_share: float = option(
        0.5, help="Keep a problem only if its plurality answer's share of all n samples is strictly above this."
    )
    rule: Rule = option("boxed", help="How answers are read and compared (ponder.verify.rules).")


@dataclass(frozen=True)
class OutcomePairsConfig:
    enabled: bool = option(True, help="Build outcome pairs (full responses).")
    pairing: Pairing = option("each_positive", help="each_positive, one_per_problem or closest_steps.")
    ratio: float = option(1.0, help="Mixing ratio of the outcome pairs in training (share of the file per epoch).")


@dataclass(frozen=True)
class ProcessPairsConfig:
    enabled: bool = option(True, help="Build pDPO pairs on solution prefixes.")
    upper_step_ratio: float = option(0.7, help="Cut points only among the first share of steps (lines).")
    sample_ratio: float = option(0.3, help="Share of those candidate steps drawn as cut points per response.")
    max_prefixes_per_problem: int = option(10, help="Cap on the prefixes pooled per problem.")
    min_steps: int = option(5, help="Responses with fewer non-empty lines give no prefix.")
    filter_all_same: bool = option(True, help="Skip problems whose samples all give the same answer.")
    completions_per_prefix: int = option(3, help="Completions sampled per prefix; a prefix's value counts hits.")
    temperature: float = option(1.0, help="Temperature of the completions.")
    top_p: float = option(0.9, help="Nucleus mass of the completions.")
    max_new_tokens: int = option(2048, help="Token budget per completion.")
    value_threshold: int = option(1, help="A prefix is positive when its value is at least this (the authors: 2 "
                                  "with gold labels at iteration 0, 1 or 2 with self-consistency).")
    pairing: Pairing = option("each_positive", help="each_positive, one_per_problem or closest_steps.")
    closest_k: int = option(5, help="closest_steps: draw the negative among this many closest in step count.")
    ratio: float = option(1.0, help="Mixing ratio of the prefix pairs in training.")


@dataclass(frozen=True)
class TrainConfig:
    beta: float = option(0.5, help="DPO β.")
    sft_loss_weight: float = option(1.0, help="Weight of the NLL of the chosen side (the authors: 0.2 or 1.0).")
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
    output: str = option(help="Run folder: iter0 (baseline evaluation), iter1, ..., report.json/md, accuracy.png.")
    prompts: str = option(help="Problem file of training prompts (answers, if any, are used only to measure labels).")
    iterations: int = option(2, help="PFPO iterations after the starting model.")
    prompts_per_iteration: int | None = option(
        None, help="Fresh prompts per iteration: iteration k takes the k-th slice; null: all prompts every time."
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
        [], help="Settings that change between iterations: entry k-1 holds {dotted.key: value} overrides for "
        "iteration k (e.g. {label.min_vote_share: 0.0, train.lr: 5e-7}); later iterations use the base settings."
    )

    def __post_init__(self) -> None:
        if self.iterations < 0:
            raise ValueError("iterations must be >= 0")
        if self.prompts_per_iteration is not None and self.prompts_per_iteration < 1:
            raise ValueError("prompts_per_iteration must be >= 1")
        if "{question}" not in self.prompt_template:
            raise ValueError("prompt_template must contain {question}")


# --------------------------------------------------------------------------- per-iteration settings

FIXED_KEYS = ("model", "output", "prompts", "iterations", "prompts_per_iteration", "seed", "per_iteration")


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
        raise ConfigError(f"per_iteration has {len(cfg.per_iteration)} entries for {cfg.iterations} iterations")
    for k in range(1, cfg.iterations + 1):
        iteration_config(cfg, k)


# --------------------------------------------------------------------------- steps


def open_generator(cfg: PFPOConfig, model: str):
    from ponder.generation.stage import open_backend

    g = cfg.generation
    return open_backend(g.backend, model, dtype=g.dtype, batch_size=g.batch_size, base_url=g.base_url)


def iteration_prompts(cfg: PFPOConfig, index: int) -> list[Problem]:
    """The fresh prompts of iteration ``index`` (1-based), with the prompt template applied."""
    problems = load_records(cfg.prompts, Problem)
    m = cfg.prompts_per_iteration
    if m is not None:
        if index * m > len(problems):
            raise PonderError(
                f"{cfg.prompts}: {len(problems)} prompts are too few for iteration {index} of "
                f"{m} fresh prompts each (need {index * m})"
            )
        problems = problems[(index - 1) * m : index * m]
    out = []
    for p in problems:
        prompt = cfg.prompt_template.replace("{question}", p.prompt) if isinstance(p.prompt, str) else p.prompt
        out.append(dataclasses.replace(p, prompt=prompt))
    return out


def sample_step(cfg: PFPOConfig) -> Step:
    """Fresh prompts of the iteration, ``samples_per_prompt`` solutions each from the iteration's model."""

    def run(it: Iteration) -> dict:
        from ponder.generation.base import SamplingParams
        from ponder.generation.stage import load_prompts, run_generate

        c = iteration_config(cfg, it.index)
        problems = it.folder / "problems.jsonl"
        if not problems.exists():
            write_records(problems, iteration_prompts(c, it.index))
        s = c.sample
        params = SamplingParams(n=s.samples_per_prompt, temperature=s.temperature, top_p=s.top_p,
                                max_new_tokens=s.max_new_tokens, seed=c.seed * 1000 + it.index)
        with open_generator(c, it.model) as generator:
            summary = run_generate(generator, load_prompts(problems), it.folder / "samples.jsonl", params)
        return {"samples_file": str(it.folder / "samples.jsonl"), **summary}

    return Step("sample", run)


def label_step(cfg: PFPOConfig) -> Step:
    """Self-consistency (or gold) labels of the sampled solutions."""

    def run(it: Iteration) -> dict:
        c = iteration_config(cfg, it.index)
        out = it.folder / "labelled.jsonl"
        s = label_file(it.results["sample"]["samples_file"], out, by=c.label.by,
                       min_vote_share=c.label.min_vote_share, rule=c.label.rule, workers=1)
        return {"labelled_file": str(out), **s.to_dict()}

    return Step("label", run)


def outcome_step(cfg: PFPOConfig) -> Step:
    """Outcome pairs, one fresh random pairing per training epoch."""

    def run(it: Iteration) -> dict:
        c = iteration_config(cfg, it.index)
        if not c.outcome.enabled:
            return {"pairs": 0, "skipped": "outcome pairs disabled"}
        out = it.folder / "pairs_outcome.jsonl"
        s = build_outcome_pairs(it.results["label"]["labelled_file"], out, pairing=c.outcome.pairing,
                                draws=c.train.epochs, seed=c.seed * 1000 + it.index)
        return {"pairs_file": str(out), "ratio": c.outcome.ratio, "pairs": s.stages.get("pairs", 0), **s.to_dict()}

    return Step("pairs_outcome", run)


def process_settings(cfg: PFPOConfig, index: int) -> ProcessSettings:
    """The process pair builder's settings in iteration ``index`` (``cfg`` already for that iteration)."""
    p = cfg.process
    return ProcessSettings(
        upper_step_ratio=p.upper_step_ratio, sample_ratio=p.sample_ratio,
        max_prefixes_per_problem=p.max_prefixes_per_problem, min_steps=p.min_steps,
        filter_all_same=p.filter_all_same, completions_per_prefix=p.completions_per_prefix,
        temperature=p.temperature, top_p=p.top_p, max_new_tokens=p.max_new_tokens, value_threshold=p.value_threshold,
        pairing=p.pairing, closest_k=p.closest_k, draws=cfg.train.epochs, rule=cfg.label.rule,
        seed=cfg.seed * 1000 + index, chunk_problems=max(1, 2048 // max(1, p.max_prefixes_per_problem)),
    )


def process_step(cfg: PFPOConfig) -> Step:
    """pDPO pairs: prefixes of the sampled solutions, completed by the iteration's model and valued."""

    def run(it: Iteration) -> dict:
        c = iteration_config(cfg, it.index)
        if not c.process.enabled:
            return {"pairs": 0, "skipped": "process pairs disabled"}
        out = it.folder / "pairs_process.jsonl"
        with open_generator(c, it.model) as generator:
            tokenizer = _tokenizer(c, generator, it.model)
            s = build_process_pairs(it.results["label"]["labelled_file"], out, generator, tokenizer,
                                    process_settings(c, it.index))
        return {"pairs_file": str(out), "ratio": c.process.ratio, "pairs": s.stages.get("pairs", 0), **s.to_dict()}

    return Step("pairs_process", run)


def _tokenizer(cfg: PFPOConfig, generator, model: str):
    if cfg.generation.tokenizer is None and getattr(generator, "tokenizer", None) is not None:
        return generator.tokenizer
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(cfg.generation.tokenizer or model)


def dpo_config(cfg: PFPOConfig, it: Iteration, sources: list[tuple[str, float]]):
    """The trainer's config for iteration ``it``: from the iteration's model, which is also the reference."""
    from ponder.recipes import dpo

    t = cfg.train
    return dpo.DPOConfig(
        model=it.model, data=[f"{path}:{ratio}" for path, ratio in sources], output=str(it.folder / "train"),
        loss_type=t.loss_type, beta=t.beta, sft_loss_weight=t.sft_loss_weight, lr=t.lr,
        lr_schedule=t.lr_schedule, warmup_ratio=t.warmup_ratio, weight_decay=t.weight_decay,
        adam_betas=list(t.adam_betas), adam_eps=t.adam_eps, max_grad_norm=t.max_grad_norm,
        epochs=1,  # the pair files already hold one fresh drawing per epoch
        pairs_per_step=t.pairs_per_step, tokens_per_microbatch=t.tokens_per_microbatch,
        max_length=t.max_length, bf16=t.bf16, gradient_checkpointing=t.gradient_checkpointing,
        precompute_ref=t.precompute_ref, save_every=t.save_every, seed=cfg.seed * 1000 + it.index,
        resume=True, tensorboard=False,
    )


def train_step(cfg: PFPOConfig) -> Step:
    """DPO + SFT term on every pair file of the iteration, mixed at their ratios."""

    def run(it: Iteration) -> dict:
        from ponder.recipes import dpo

        c = iteration_config(cfg, it.index)
        sources = pair_sources(it)
        if not sources:
            raise PonderError(f"{it.folder}: no pairs to train on in iteration {it.index}; see the pair summaries")
        summary = dpo.run(dpo_config(c, it, sources))
        return {"model": summary["model"], "steps": summary["steps"], "data": sources,
                "seconds": summary["seconds"], "final": summary.get("final") or {}}

    return Step("train", run)


def eval_step(cfg: PFPOConfig) -> Step:
    """Accuracy of the iteration's resulting model (iteration 0: the starting model) on the benchmarks."""

    def run(it: Iteration) -> dict:
        model = it.results["train"]["model"] if "train" in it.results else it.model
        return pfpo_eval.evaluate(iteration_config(cfg, it.index), model, it.folder / "eval")

    return Step("eval", run)


def math_steps(cfg: PFPOConfig) -> list[Step]:
    """The steps of one PFPO math iteration, in order. A builder disabled in some iteration returns no pairs."""
    return [sample_step(cfg), label_step(cfg), outcome_step(cfg), process_step(cfg), train_step(cfg), eval_step(cfg)]


# --------------------------------------------------------------------------- the run


def iteration_row(it: Iteration) -> dict:
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
    return row


TABLE_COLUMNS = ["name", "accuracy", "mean_tokens", "prompts", "labelled", "label_accuracy", "outcome_pairs",
                 "process_pairs"]


def write_report(out: Path, rows: list[dict], title: str = "PFPO") -> dict:
    """``report.json`` (rows), ``report.md`` (the table) and ``accuracy.png``."""
    from ponder.eval.report import bar_plot, markdown_table

    columns = [c for c in TABLE_COLUMNS if any(c in r for r in rows)]
    extra = [k for r in rows for k in r if k.startswith(("maj@", "pass@")) and k not in columns]
    columns += list(dict.fromkeys(extra))
    table = markdown_table(rows, columns)
    report = {"rows": rows, "table": table}
    write_json(out / "report.json", report)
    write_text(out / "report.md", f"# {title}\n\n{table}\n")
    bar_plot(out / "accuracy.png", rows, ["accuracy", "mean_tokens"], title=title)
    return report


def run(cfg: PFPOConfig, log: Callable[[str], None] = lambda m: None) -> dict:
    """Run every iteration (resuming a run in ``cfg.output``); return the report."""
    out = Path(cfg.output)
    check_iterations(cfg)
    check_same_config(out, config_to_dict(cfg))
    history = run_iterations(out, start_model=cfg.model, iterations=cfg.iterations, steps=math_steps(cfg),
                             baseline=[eval_step(cfg)], log=log)
    return write_report(out, [iteration_row(it) for it in history])
