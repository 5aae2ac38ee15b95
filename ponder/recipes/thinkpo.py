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
Every section is a stage's own settings (SFT and DPO trainer settings, the generate stage's sampling, the
pair filters, the eval stage), so every option of those stages is available here under the section's name.

Deviations from the paper: none in the procedure. Pairs whose short answer is cut by its token budget are
dropped (the paper's "both answers boxed" drops them too, since a cut answer has no box).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ponder.config import config_to_dict, extend, option
from ponder.errors import PonderError
from ponder.eval.stage import EvalSettings
from ponder.generation.backend import BackendSettings
from ponder.generation.stage import GenerateSettings
from ponder.io import write_json, write_records
from ponder.pairs.solutions import prompt_text, read_solutions
from ponder.pairs.thinkpo import ThinkPOPairSettings
from ponder.ranks import on_main
from ponder.recipes.dpo import DPOConfig, DPOSettings
from ponder.recipes.sft import SFTConfig, SFTSettings


@dataclass(frozen=True)
class ShortSampling(GenerateSettings):
    """Where the rejected short answers come from: the generate stage's settings, and the short model (or
    samples made earlier)."""

    model: str | None = option(
        None, help="Short-CoT model writing the rejected answers (paper: Qwen2.5-Math-7B-Instruct)."
    )
    samples: str | None = option(
        None, help="Short samples generated earlier (ponder samples file); used instead of sampling `model`."
    )


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
    sft: SFTSettings = option(SFTSettings(), help="SFT stage (ponder train sft --show-config).")
    short: ShortSampling = option(ShortSampling(), help="Short-answer sampling (the generate stage).")
    pairs: ThinkPOPairSettings = option(ThinkPOPairSettings(), help="Pair filters (ponder pairs thinkpo).")
    dpo: DPOSettings = option(DPOSettings(), help="ThinkPO stage (ponder train dpo --show-config).")
    eval: EvalSettings = option(
        EvalSettings(), help="Evaluation after training (ponder eval); no benchmarks: none."
    )
    generation: BackendSettings = option(
        BackendSettings(), help="Backend of the short model and of the evaluation."
    )
    resume: bool = option(False, help="Continue a run in `output`: finished stages are skipped.")

    def __post_init__(self) -> None:
        if self.long is None and not self.sft_data:
            raise ValueError("set `long` (the long solutions to pair) when there is no sft_data")
        if self.short.model is None and self.short.samples is None:
            raise ValueError(
                "set short.model (a short-CoT model to sample) or short.samples (a samples file)"
            )


def sft_config(cfg: ThinkPOConfig, output: str) -> SFTConfig:
    return extend(cfg.sft, SFTConfig, model=cfg.model, data=cfg.sft_data, output=output, resume=cfg.resume)


def dpo_config(cfg: ThinkPOConfig, policy: str, pairs: str, output: str) -> DPOConfig:
    return extend(cfg.dpo, DPOConfig, model=policy, data=[pairs], output=output, resume=cfg.resume)


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
    from ponder.generation.stage import generate_file

    problems = on_main(question_file, long_file, out / "questions.jsonl")
    samples = out / "samples.jsonl"
    generate_file(problems, samples, cfg.short.model, cfg.short, cfg.generation, desc="short answers")
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


def start_folder(cfg: ThinkPOConfig) -> Path:
    """The run folder, made; a folder holding a run is refused unless ``resume``."""
    out = Path(cfg.output)
    if not cfg.resume and out.exists() and any(out.iterdir()):
        raise PonderError(
            f"{out} already holds a run; pass resume=true to continue it, or choose another output"
        )
    out.mkdir(parents=True, exist_ok=True)
    return out


def run(cfg: ThinkPOConfig, log=print) -> dict:
    """Run every stage; return the summary (also written to ``OUTPUT/thinkpo.json``)."""
    out = on_main(start_folder, cfg)
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
        from ponder.eval.runner import compare_runs
        from ponder.eval.stage import evaluate_model

        models = {"sft": policy, "thinkpo": summary["thinkpo_model"]}
        summary["eval"] = {
            name: evaluate_model(
                m, out / "eval" / name, dataclasses.replace(cfg.eval, name=name), cfg.generation
            )
            for name, m in models.items()
        }
        summary["compare"] = compare_runs([out / "eval" / name for name in models])
        log(summary["compare"])
    on_main(write_json, out / "thinkpo.json", summary)
    return summary
