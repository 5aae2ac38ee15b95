"""ThinkPO end to end: SFT on long chain-of-thought, short samples, pairs, DPO (arXiv 2502.13173).

``run(ThinkPOConfig(...))`` reads top to bottom:

1. **SFT** (section 3.1) -- when ``sft_data`` is given, fine-tune ``model`` on the long-CoT answers
   (:mod:`ponder.recipes.sft`); otherwise ``model`` is already a long-CoT model (DeepSeek-R1-Distill-Qwen-7B,
   Bespoke-Stratos-7B in the paper) and is used as is.
2. **Short samples** (section 3.2) -- a short-CoT model answers every question of the long file
   (``short.model``; the paper uses Qwen2.5-Math-7B-Instruct, T 0.7, top-p 0.9, 1,024 tokens), or
   ``short.samples`` names samples generated earlier.
3. **Pairs** -- :mod:`ponder.pairs.thinkpo`: the long answer chosen, a short one with the same (gold) answer
   rejected; summary and length-gap histogram next to the pair file.
4. **ThinkPO** (section 3.3) -- DPO from the SFT model with the SFT model as the frozen reference
   (:mod:`ponder.recipes.dpo`; sigmoid loss, β 0.01, one epoch in the paper).
5. **Evaluation** (section 4) -- when ``eval.benchmarks`` is set, both models on every benchmark
   (:mod:`ponder.eval.runner`) and the paper's before/after table (``ponder eval compare``).

Each stage writes into its own folder of ``output`` (``sft/``, ``short/``, ``pairs/``, ``dpo/``, ``eval/``); with
``resume`` a finished stage is skipped and an unfinished one continues from its checkpoint or partial file.
The SFT and DPO sections are passed to the trainers' own config classes, so every trainer option is
available (``ponder train sft --show-config`` / ``ponder train dpo --show-config`` list them).

Deviations from the paper: none in the procedure. Pairs whose short answer is cut by its token budget are
dropped (the paper's "both answers boxed" drops them too, since a cut answer has no box).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ponder.config import config_to_dict, load_config, option
from ponder.errors import ConfigError, PonderError
from ponder.io import write_json, write_records
from ponder.pairs.solutions import prompt_text, read_solutions
from ponder.pairs.thinkpo import PairSettings

RECIPE_SET = {"model", "data", "output", "resume", "ref_model"}  # set by the recipe, not by a section


@dataclass(frozen=True)
class ShortSampling:
    """Where the rejected short answers come from."""

    model: str | None = option(
        None, help="Short-CoT model writing the rejected answers (paper: Qwen2.5-Math-7B-Instruct)."
    )
    samples: str | None = option(
        None, help="Short samples generated earlier (ponder samples file); used instead of sampling `model`."
    )
    system: str | None = option(None, help="System message for the short model; null: none.")
    n: int = option(1, help="Samples per question (paper: 1); the first one passing the filters is paired.")
    temperature: float = option(0.7, help="Sampling temperature (paper: 0.7).")
    top_p: float = option(0.9, help="Nucleus sampling share (paper: 0.9).")
    max_new_tokens: int = option(1024, help="Token budget of a short answer (paper: 1,024).")
    backend: Literal["hf", "vllm", "openai"] = option("hf", help="Generation backend.")
    base_url: str | None = option(None, help="Endpoint for backend openai (e.g. http://127.0.0.1:8000/v1).")
    batch_size: int = option(64, help="Sequences per forward pass (hf backend).")
    seed: int = option(0, help="Sampling seed (sample i of a prompt depends on seed, prompt and i only).")

    def __post_init__(self) -> None:
        if self.n < 1 or self.max_new_tokens < 1:
            raise ValueError("short.n and short.max_new_tokens must be at least 1")


@dataclass(frozen=True)
class EvalSettings:
    """Evaluation of the SFT and ThinkPO models after training (``ponder eval`` with these settings)."""

    benchmarks: list[str] = option(
        [], help="Benchmark files FILE[:RULE] (rules: math, boxed, number, choice); empty: no evaluation."
    )
    n: int = option(1, help="Answers per problem; accuracy is pass@1 averaged over them.")
    k: list[int] = option([1], help="k of pass@k and maj@k (each <= n).")
    temperature: float = option(0.7, help="Sampling temperature (paper: 0.7).")
    top_p: float = option(1.0, help="Nucleus sampling share.")
    max_new_tokens: int = option(32768, help="Token budget per answer (paper: 32,768).")
    system: str | None = option(None, help="System message (use the one of the SFT data).")
    backend: Literal["hf", "vllm", "openai"] = option("hf", help="Generation backend.")
    base_url: str | None = option(None, help="Endpoint for backend openai.")
    batch_size: int = option(64, help="Sequences per forward pass (hf backend).")
    seed: int = option(0, help="Sampling seed.")

    def __post_init__(self) -> None:
        if self.n < 1 or not self.k or min(self.k) < 1 or max(self.k) > self.n:
            raise ValueError("eval.n must be >= 1 and every eval.k between 1 and n")


@dataclass(frozen=True)
class ThinkPOConfig:
    output: str = option(help="Run folder: sft/, short/, pairs/, dpo/ and thinkpo.json.")
    model: str = option(
        help="Model to start from: a base model when sft_data is set, else a long-CoT (SFT-ed) model."
    )
    recipe: Literal["thinkpo"] = option("thinkpo", help="Recipe name (what `ponder run` dispatches on).")
    sft_data: list[str] = option(
        [], help="Long-CoT SFT files (PATH[:RATIO]); empty: skip SFT, `model` already writes long CoT."
    )
    long: str | None = option(
        None,
        help="Long solutions used as chosen answers (samples, prompt-completion, messages or problems with "
        "meta.long); default: the first sft_data file.",
    )
    sft: dict = option({}, help="SFT stage: fields of ponder.recipes.sft.SFTConfig (lr, epochs, ...).")
    short: ShortSampling = field(default_factory=ShortSampling, metadata={"help": "Short-answer sampling."})
    pairs: PairSettings = field(default_factory=PairSettings, metadata={"help": "Pair filters."})
    dpo: dict = option({}, help="ThinkPO stage: fields of ponder.recipes.dpo.DPOConfig (beta, lr, ...).")
    eval: EvalSettings = field(default_factory=EvalSettings, metadata={"help": "Evaluation after training."})
    resume: bool = option(False, help="Continue a run in `output`: finished stages are skipped.")

    def __post_init__(self) -> None:
        if self.long is None and not self.sft_data:
            raise ValueError("set `long` (the long solutions to pair) when there is no sft_data")
        if self.short.model is None and self.short.samples is None:
            raise ValueError(
                "set short.model (a short-CoT model to sample) or short.samples (a samples file)"
            )
        sft_config(self, "<model>")  # check the sections now, not after hours of training
        dpo_config(self, "<model>", "<pairs>", "<out>")


def _section(cls: type, name: str, values: dict[str, Any], **fixed: Any):
    clash = sorted(set(values) & RECIPE_SET)
    if clash:
        raise ConfigError(f"{name}.{clash[0]}: set by the ThinkPO recipe; remove it from the {name} section")
    try:
        return load_config(cls, None, [], **fixed, **values)
    except ConfigError as e:
        raise ConfigError(f"{name} section: {e}".replace("<config>: ", "")) from None


def sft_config(cfg: ThinkPOConfig, output: str):
    from ponder.recipes.sft import SFTConfig

    data = cfg.sft_data or ["<unused>"]
    return _section(SFTConfig, "sft", cfg.sft, model=cfg.model, data=data, output=output, resume=cfg.resume)


def dpo_config(cfg: ThinkPOConfig, policy: str, pairs: str, output: str):
    from ponder.recipes.dpo import DPOConfig

    return _section(DPOConfig, "dpo", cfg.dpo, model=policy, data=[pairs], output=output, resume=cfg.resume)


def long_path(cfg: ThinkPOConfig) -> str:
    """The long solutions to pair: ``long``, else the first SFT file (without its mixing ratio)."""
    if cfg.long:
        return cfg.long
    from ponder.train.data import parse_sources

    return parse_sources(cfg.sft_data)[0].path


def question_file(long_file: str | Path, out: Path) -> Path:
    """The questions of the long file as problems (id, question text, gold answer) for the short model."""
    rows = (
        {
            "id": s.id,
            "prompt": prompt_text(s.prompt),
            **({"answer": s.answer} if s.answer is not None else {}),
        }
        for s in read_solutions(long_file)
    )
    write_records(out, rows)
    return out


def sample_short(cfg: ThinkPOConfig, long_file: str, out: Path) -> Path:
    """Short answers of ``short.model`` to every question of the long file (resumable)."""
    if cfg.short.samples is not None:
        return Path(cfg.short.samples)
    from ponder.generation.base import SamplingParams
    from ponder.generation.stage import load_prompts, open_backend, run_generate

    s = cfg.short
    problems = question_file(long_file, out / "questions.jsonl")
    samples = out / "samples.jsonl"
    items = load_prompts(problems, system=s.system)
    params = SamplingParams(
        n=s.n, temperature=s.temperature, top_p=s.top_p, max_new_tokens=s.max_new_tokens, seed=s.seed
    )
    with open_backend(s.backend, s.model, batch_size=s.batch_size, base_url=s.base_url) as generator:
        run_generate(generator, items, samples, params, desc="short answers")
    return samples


def train_sft(cfg: ThinkPOConfig) -> dict:
    """Stage 1: SFT of ``model`` on ``sft_data`` into ``OUTPUT/sft`` (the trainer's summary)."""
    from ponder.recipes import sft

    return sft.run(sft_config(cfg, str(Path(cfg.output) / "sft")))


def make_pairs(cfg: ThinkPOConfig, policy: str, short_file: str | Path, log=print) -> dict:
    """Stage 3: pairs in ``OUTPUT/pairs/pairs.jsonl``, lengths counted with the policy's tokenizer."""
    from ponder.pairs.thinkpo import format_summary, hf_token_counter
    from ponder.pairs.thinkpo_stage import build_thinkpo_pairs

    pairs_file = Path(cfg.output) / "pairs" / "pairs.jsonl"
    summary = build_thinkpo_pairs(
        long_path(cfg), short_file, pairs_file, cfg.pairs, token_counter=hf_token_counter(policy)
    )
    log(format_summary(summary))
    if summary["kept"] == 0:
        raise PonderError(f"no pair passed the filters; see {summary['summary_path']}")
    return summary


def train_thinkpo(cfg: ThinkPOConfig, policy: str, pairs_file: str | Path) -> dict:
    """Stage 4: DPO from ``policy`` (also the frozen reference) into ``OUTPUT/dpo``."""
    from ponder.recipes import dpo

    return dpo.run(dpo_config(cfg, policy, str(pairs_file), str(Path(cfg.output) / "dpo")))


def run(cfg: ThinkPOConfig, log=print) -> dict:
    """Run every stage; return the summary (also written to ``OUTPUT/thinkpo.json``)."""
    out = Path(cfg.output)
    if not cfg.resume and out.exists() and any(out.iterdir()):
        raise PonderError(
            f"{out} already holds a run; pass resume=true to continue it, or choose another output"
        )
    out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"recipe": "thinkpo", "config": config_to_dict(cfg)}
    policy = cfg.model
    if cfg.sft_data:  # 1. SFT on long chain-of-thought (skipped for a model that already writes long CoT)
        summary["sft"] = train_sft(cfg)
        policy = summary["sft"]["model"]
    short_file = sample_short(cfg, long_path(cfg), out / "short")  # 2. short answers to the same questions
    summary["pairs"] = make_pairs(cfg, policy, short_file, log)  # 3. long chosen, short rejected
    summary["dpo"] = train_thinkpo(cfg, policy, summary["pairs"]["output"])  # 4. DPO from the SFT model
    summary["sft_model"] = policy
    summary["thinkpo_model"] = summary["dpo"]["model"]
    if cfg.eval.benchmarks:  # 5. both models on the benchmarks, and the paper's before/after table
        models = {"sft": policy, "thinkpo": summary["thinkpo_model"]}
        summary["eval"] = {
            name: evaluate(cfg.eval, m, out / "eval" / name, name) for name, m in models.items()
        }
        from ponder.eval.runner import compare_runs

        summary["compare"] = compare_runs([out / "eval" / name for name in models])
        log(summary["compare"])
    write_json(out / "thinkpo.json", summary)
    return summary


def evaluate(settings: EvalSettings, model: str, out: Path, name: str) -> dict:
    """Stage 5: the evaluation runner on ``settings.benchmarks`` into ``out`` (resumable)."""
    from ponder.eval.runner import chat_solver, load_benchmark
    from ponder.eval.runner import evaluate as run_eval
    from ponder.generation.base import SamplingParams
    from ponder.generation.stage import open_backend

    s = settings
    benches = [load_benchmark(spec) for spec in s.benchmarks]
    params = SamplingParams(
        n=s.n, temperature=s.temperature, top_p=s.top_p, max_new_tokens=s.max_new_tokens, seed=s.seed
    )
    with open_backend(s.backend, model, batch_size=s.batch_size, base_url=s.base_url) as generator:
        return run_eval(chat_solver(generator, system=s.system), benches, params, out, ks=s.k, name=name)


def replace(cfg: ThinkPOConfig, **changes: Any) -> ThinkPOConfig:
    """A copy with some fields changed (nested sections as dicts are merged, not replaced)."""
    merged = {}
    for k, v in changes.items():
        cur = getattr(cfg, k)
        if isinstance(cur, dict) and isinstance(v, dict):
            merged[k] = {**cur, **v}
        elif dataclasses.is_dataclass(cur) and isinstance(v, dict):
            merged[k] = dataclasses.replace(cur, **v)
        else:
            merged[k] = v
    return dataclasses.replace(cfg, **merged)
