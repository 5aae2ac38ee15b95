"""PFPO for code (Jiao et al., ICLR 2025): the config and the code-specific steps of an iteration.

An iteration of PFPO-code, from model k-1 on its slice of the problem file:

1. ``inputs``  -- test inputs per problem, once for the whole run (a strong model writes them: ``ponder tests
   generate``; or the synthetic family's sampler; or ``given``: the problems already carry ``meta.test_inputs``);
2. ``sample``  -- ``samples_per_prompt`` programs per problem at temperature 1 (the authors: 10);
3. ``pairs_code`` -- programs run on the inputs, outputs voted into pseudo tests (``min_success`` 5), programs
   paired by pass counts (``lower_bound`` 0.5, ``margin`` 6); or ``labels: gold``: the problems' own tests;
4. ``pairs_code_process`` -- code pDPO: prefixes of the sampled programs valued by the pseudo tests their
   completions pass (``upper_step_ratio`` 0.8, ``sample_ratio`` 0.3, 5 completions, max value, margin 4);
5. ``train``   -- DPO (+ SFT term 0.2) from model k-1 on the pair files at their mixing ratios;
6. ``eval``    -- greedy pass@1 on the code benchmarks.

Each step here is a function of the config and the iteration's folder returning a JSON summary; pair steps
return ``{"pairs_file", "ratio", "pairs", ...}`` so a generic iteration loop can collect them for training.
Every field's paper value is listed in docs/paper_index.md ("PFPO (ICLR 2025): code").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ponder.config import option
from ponder.recipes.pfpo_config import GenerationConfig  # the same backend settings as the math half


@dataclass(frozen=True)
class InputsConfig:
    source: Literal["llm", "sampler", "given"] = option(
        "llm",
        help="llm: a model writes test inputs; sampler: the synthetic code family's sampler; given: the "
        "problems already carry meta.test_inputs.",
    )
    backend: Literal["hf", "openai", "vllm"] = option(
        "openai", help="Backend of the model that writes inputs."
    )
    model: str | None = option(
        None, help="Model that writes the inputs (the authors: GPT-4o, Mistral-Large)."
    )
    base_url: str | None = option(None, help="Endpoint of the openai backend.")
    n_inputs: int = option(10, help="Test inputs per problem (the authors: 10).")
    temperature: float = option(0.0, help="Temperature of the request (the authors: 0).")
    max_new_tokens: int = option(2048, help="Token budget of an answer.")
    json_mode: bool = option(True, help="Ask for a JSON object (response_format / constrained decoding).")
    attempts: int = option(
        2, help="Requests per problem at most (later ones only when too few inputs were usable)."
    )
    fallback: Literal["none", "sampler"] = option("none", help="When the model gives no usable input.")
    sampler_seed: int = option(1, help="Seed of the input sampler (source sampler, or the fallback).")


@dataclass(frozen=True)
class SampleConfig:
    samples_per_prompt: int = option(10, help="Programs sampled per problem (the authors: 10).")
    temperature: float = option(1.0, help="Sampling temperature (the authors: 1.0).")
    top_p: float = option(1.0, help="Nucleus sampling mass.")
    max_new_tokens: int = option(2048, help="Token budget per program.")


@dataclass(frozen=True)
class CodePairsConfig:
    enabled: bool = option(True, help="Build outcome pairs of whole programs.")
    labels: Literal["pseudo", "gold"] = option(
        "pseudo", help="pseudo: voted outputs on the inputs; gold: the problems' tests."
    )
    min_success: int = option(
        5, help="Drop inputs on which fewer programs ran successfully (the authors: 5)."
    )
    lower_bound: float = option(
        0.5, help="Chosen passes at least this share of the pseudo tests (the authors: 0.5)."
    )
    margin: int = option(
        6, help="Chosen passes at least this many more pseudo tests than rejected (the authors: 6)."
    )
    max_pairs_per_problem: int | None = option(
        None, help="Cap per problem, drawn at random; null: all pairs."
    )
    timeout_s: float = option(5.0, help="Wall-clock limit per test run.")
    ratio: float = option(1.0, help="Mixing ratio of these pairs in training.")


@dataclass(frozen=True)
class CodeProcessConfig:
    enabled: bool = option(True, help="Build code pDPO pairs on program prefixes.")
    upper_step_ratio: float = option(
        0.8, help="Cut only among the first share of lines before the end of the code."
    )
    sample_ratio: float = option(0.3, help="Share of candidate cuts drawn per response.")
    max_prefixes_per_problem: int = option(10, help="Prefixes kept per problem (the authors: 10-20).")
    completions_per_prefix: int = option(5, help="Completions per prefix (the authors: 5, or 3).")
    value: Literal["max", "mean"] = option(
        "max", help="Value of a prefix: max or mean pass count of its completions."
    )
    lower_bound: float = option(
        0.5, help="Positive prefix: value / tests at least this (README 0.8, config 0.5)."
    )
    margin: float = option(4, help="Negatives: value below the positive's minus this (the authors: 4).")
    temperature: float = option(1.0, help="Temperature of the completions.")
    max_new_tokens: int = option(2048, help="Token budget per completion.")
    ratio: float = option(1.0, help="Mixing ratio of the prefix pairs in training.")


@dataclass(frozen=True)
class TrainConfig:
    beta: float = option(0.1, help="DPO β (the authors: 0.1-0.5).")
    sft_loss_weight: float = option(0.2, help="Weight of the NLL of the chosen side (the authors: 0.2).")
    lr: float = option(5e-6, help="Peak learning rate (the authors: 1e-6 to 5e-6).")
    lr_schedule: Literal["cosine", "linear", "constant"] = option("cosine", help="Decay after warmup.")
    warmup_ratio: float = option(0.05, help="Share of steps warming up.")
    epochs: int = option(1, help="Epochs over the pairs.")
    pairs_per_step: int = option(128, help="Pairs per optimizer step.")
    tokens_per_microbatch: int = option(8192, help="Packed tokens per forward pass.")
    max_length: int | None = option(4096, help="Longest prompt + response in tokens.")
    bf16: bool = option(False, help="bf16 autocast.")
    gradient_checkpointing: bool = option(False, help="Recompute activations in backward.")
    save_every: int = option(100, help="Checkpoint every N steps (resumable training).")


@dataclass(frozen=True)
class EvalConfig:
    benchmarks: list[str] = option(
        [], help="Code benchmark files, each FILE:code (e.g. humaneval.jsonl:code)."
    )
    samples_per_problem: int = option(1, help="Samples per problem (1 with greedy decoding).")
    temperature: float = option(0.0, help="0: greedy (the authors' pass@1).")
    max_new_tokens: int = option(2048, help="Token budget per answer.")
    ks: list[int] = option([1], help="k of pass@k.")


@dataclass(frozen=True)
class PFPOCodeConfig:
    model: str = option(help="The starting (SFT) model, folder or hub name.")
    output: str = option(help="Run folder: iter0 (baseline evaluation), iter1, ..., report.json/md.")
    prompts: str = option(
        help="Code problem file (stdio, call or assert problems; tests used only with gold labels)."
    )
    recipe: Literal["pfpo-code"] = option("pfpo-code", help="Recipe name (what `ponder run` dispatches on).")
    iterations: int = option(2, help="PFPO-code iterations after the starting model.")
    prompts_per_iteration: int | None = option(
        None, help="Fresh problems per iteration; null: all every time."
    )
    seed: int = option(0, help="Seed of sampling, cuts, pairings and training.")
    inputs: InputsConfig = option(help="Test inputs.", default_factory=InputsConfig)
    generation: GenerationConfig = option(help="Generation backend.", default_factory=GenerationConfig)
    sample: SampleConfig = option(help="Sampling of programs.", default_factory=SampleConfig)
    outcome: CodePairsConfig = option(help="Outcome pairs by pass counts.", default_factory=CodePairsConfig)
    process: CodeProcessConfig = option(help="Code pDPO pairs.", default_factory=CodeProcessConfig)
    train: TrainConfig = option(help="DPO training.", default_factory=TrainConfig)
    eval: EvalConfig = option(help="Evaluation.", default_factory=EvalConfig)

    def __post_init__(self) -> None:
        if self.iterations < 0:
            raise ValueError("iterations must be >= 0")
        if not (self.outcome.enabled or self.process.enabled):
            raise ValueError("enable outcome or process pairs (or both)")
        if self.inputs.source == "llm" and not self.inputs.model:
            raise ValueError("inputs.model is needed when inputs.source is llm")


# --------------------------------------------------------------------------- code-specific steps


def inputs_step(cfg: PFPOCodeConfig, problems: Path, out: Path) -> dict[str, Any]:
    """Test inputs for every problem of the run (written once, resumable)."""
    from ponder.feedback.test_inputs_stage import InputSettings, load_input_problems, run_test_inputs
    from ponder.generation.base import SamplingParams
    from ponder.generation.stage import open_backend

    c = cfg.inputs
    if c.source == "given":
        return {"inputs_file": str(problems), "source": "given"}
    settings = InputSettings(
        n_inputs=c.n_inputs, attempts=c.attempts, fallback=c.fallback, sampler_seed=c.sampler_seed
    )
    items = load_input_problems(problems, "sampler" if c.source == "sampler" else "llm")
    if c.source == "sampler":
        s = run_test_inputs(items, out, source="sampler", settings=settings)
    else:
        params = SamplingParams(
            n=1, temperature=c.temperature, max_new_tokens=c.max_new_tokens, seed=cfg.seed
        )
        with open_backend(c.backend, c.model, base_url=c.base_url) as gen:
            s = run_test_inputs(
                items,
                out,
                source="llm",
                generator=gen,
                params=params,
                settings=settings,
                json_mode=c.json_mode,
            )
    return {"inputs_file": str(out), **s}


def code_pairs_step(cfg: PFPOCodeConfig, problems: Path, samples: Path, out: Path) -> dict[str, Any]:
    """Outcome pairs of whole programs (pseudo or gold labels)."""
    from ponder.pairs.code_stage import CodePairSettings, run_code_pairs

    c = cfg.outcome
    settings = CodePairSettings(
        labels=c.labels,
        lower_bound=c.lower_bound,
        margin=c.margin,
        min_success=c.min_success,
        max_pairs_per_problem=c.max_pairs_per_problem,
        timeout_s=c.timeout_s,
        seed=cfg.seed,
    )
    s = run_code_pairs(problems, samples, out, settings)
    return {"pairs_file": str(out), "ratio": c.ratio, **s}


def code_process_step(
    cfg: PFPOCodeConfig, model: str, problems: Path, samples: Path, scores: Path, out: Path
) -> dict[str, Any]:
    """Code pDPO pairs: prefixes completed by ``model`` and valued by the outcome step's pseudo tests."""
    from ponder.generation.stage import open_backend
    from ponder.pairs.code_process_stage import CodeProcessSettings, run_code_process

    c, g = cfg.process, cfg.generation
    settings = CodeProcessSettings(
        labels=cfg.outcome.labels,
        upper_step_ratio=c.upper_step_ratio,
        sample_ratio=c.sample_ratio,
        max_prefixes_per_problem=c.max_prefixes_per_problem,
        completions_per_prefix=c.completions_per_prefix,
        value=c.value,
        lower_bound=c.lower_bound,
        margin=c.margin,
        temperature=c.temperature,
        max_new_tokens=c.max_new_tokens,
        timeout_s=cfg.outcome.timeout_s,
        seed=cfg.seed,
    )
    tokenizer = None
    if g.tokenizer:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(g.tokenizer)
    with open_backend(g.backend, model, dtype=g.dtype, batch_size=g.batch_size, base_url=g.base_url) as gen:
        s = run_code_process(
            problems,
            samples,
            out,
            gen,
            settings,
            scores_path=scores if cfg.outcome.labels == "pseudo" else None,
            tokenizer=tokenizer,
        )
    return {"pairs_file": str(out), "ratio": c.ratio, **s}
