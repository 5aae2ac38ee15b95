"""``ponder demo pfpo-code``: PFPO's code feedback on the synthetic code family, measured against the truth.

Everything is real and offline. A nano model (~0.57M parameters) is fine-tuned on the family's reference
programs (a plan line, then the program in a fenced block) until it writes them often but not always. Then,
on a fresh set of prompts:

1. **Candidates.** The SFT policy samples ``samples_per_prompt`` programs per prompt at temperature 1.
2. **Test inputs.** The family's input sampler writes ``n_inputs`` inputs per problem (seeded apart from the
   hidden tests; the two edge-case inputs of each template are shared) -- the stand-in for the LLM that
   writes inputs in the paper (``ponder tests generate --from sampler``).
3. **Pseudo feedback.** ``pairs code``: the programs run on the inputs, outputs are voted, programs ranked by
   pseudo-test pass counts (the authors' lower bound 0.5 and margin 6 of 10). Measured against the hidden
   truth: ``pseudo_output_accuracy`` (voted output = the reference program's output, over kept inputs) and
   ``pair_precision`` (chosen passes more of the problem's own hidden tests than rejected). The same is measured
   on a second candidate pool, a mixture of the family's reference and buggy programs.
4. **Code pDPO.** ``pairs code-process``: prefixes of the sampled responses, completed by the policy and valued
   by pseudo-test pass counts (its pair precision measured the same way, with the hidden tests).
5. **One PFPO-code iteration.** DPO + SFT term from the SFT model on the pseudo outcome pairs and prefix pairs;
   for reference, the same training on ground-truth pairs (passing-all over failing programs, hidden tests).
6. **Evaluation.** pass@1 on held-out problems with greedy decoding, and averaged over 8 samples at
   temperature 1, before and after.

Outputs in ``OUT``: ``report.json`` (``pseudo_output_accuracy``, ``pair_precision``, ``pairs``, ``rows``,
``measurements``), ``report.md`` (the tables), ``report.png``, and every stage's files.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from ponder.config import extend, option
from ponder.demos import size_of, tiny_sft
from ponder.demos.pfpo_code_report import MEASURE_COLUMNS, format_report, plot_report
from ponder.io import write_json, write_records, write_text
from ponder.pairs.code_process_stage import CodeProcessSettings
from ponder.pairs.code_stage import CodePairSettings
from ponder.recipes.dpo import DPOSettings
from ponder.records import Problem, Sample


@dataclass(frozen=True)
class DemoSize:
    """Sizes and settings of the demo (``full`` is documented in docs/pfpo_code.md; ``smoke`` checks the
    machinery). The pair, code pDPO and DPO settings are the stages' own; the run sets their seeds and
    the token budget."""

    preset: str = option("nano", help="Tiny model size.")
    sft_problems: int = option(
        800, help="Code problems whose reference programs the policy is fine-tuned on."
    )
    sft_steps: int = option(400, help="SFT optimizer steps (32 examples each).")
    sft_lr: float = option(3e-3, help="SFT learning rate.")
    pfpo_problems: int = option(64, help="Fresh problems the policy samples programs for.")
    test_problems: int = option(96, help="Held-out problems of the evaluation.")
    samples_per_prompt: int = option(8, help="Programs sampled per problem at temperature 1.")
    n_inputs: int = option(10, help="Test inputs per problem from the family's sampler.")
    pairs: CodePairSettings = option(
        CodePairSettings(min_success=4, score_gold=True, timeout_s=2.0),
        help="Program pairs on pseudo tests (4 of 8 programs must run; the authors: 5 of 10); the gold pairs "
        "are the same with labels gold.",
    )
    process: CodeProcessSettings = option(
        CodeProcessSettings(completions_per_prefix=3, score_gold=True, timeout_s=2.0), help="Code pDPO."
    )
    # Chosen once on seed 0 (lr 5e-5, 2 epochs, SFT weight 0.2 lost 0.20 greedy pass@1; this lost 0.15) and
    # frozen for the reported seeds; see docs/pfpo_code.md, Results.
    dpo: DPOSettings = option(
        DPOSettings(lr=3e-5, beta=0.1, sft_loss_weight=1.0, epochs=4, pairs_per_step=32, tensorboard=False),
        help="DPO (+ SFT term) from the policy, on the pseudo pairs and on the gold pairs.",
    )
    eval_samples: int = option(8, help="Samples per held-out problem for pass@1 at temperature 1.")
    max_new_tokens: int = option(160, help="Token budget of every sampled program and completion.")
    threads: int = option(1, help="Torch CPU threads.")
    sandbox_workers: int = option(2, help="Sandbox workers running the programs.")


FULL = DemoSize()
SIZES = {
    "full": FULL,
    "smoke": replace(
        FULL,
        sft_problems=200,
        sft_steps=150,
        pfpo_problems=8,
        test_problems=8,
        samples_per_prompt=4,
        pairs=replace(FULL.pairs, min_success=2, margin=3),
        process=replace(FULL.process, max_prefixes_per_problem=3, completions_per_prefix=2, margin=1),
        dpo=replace(FULL.dpo, epochs=1, pairs_per_step=8),
        eval_samples=2,
        max_new_tokens=96,
    ),
}


def variant_samples(problems: list[Problem], n: int, seed: int) -> list[Sample]:
    """The stand-in pool: per problem, ``n`` responses drawn from the reference program (probability 0.5) and
    the family's buggy variants (the rest, evenly), in the fenced form the policy writes."""
    out = []
    for p in problems:
        rng = random.Random(f"variants\x00{seed}\x00{p.id}")
        kinds = list(p.meta["buggy"])
        texts = []
        for _ in range(n):
            src = p.meta["reference"] if rng.random() < 0.5 else p.meta["buggy"][rng.choice(kinds)]
            texts.append(f"```python\n{src}```")
        out.append(
            Sample(
                id=p.id,
                prompt=[{"role": "user", "content": p.prompt}],
                responses=texts,
                finish_reasons=["stop"] * n,
                num_tokens=[0] * n,
            )
        )
    return out


def make_data(out: Path, seed: int, z: DemoSize) -> list[Problem]:
    """SFT, PFPO-prompt and test sets of the code family, seeded apart; returns the PFPO prompts."""
    from ponder.tasks.synthetic import make

    base = seed * 1000
    sft_set, pfpo_set, test_set = (
        make("code", n, seed=base + k)
        for k, n in ((101, z.sft_problems), (102, z.pfpo_problems), (103, z.test_problems))
    )
    write_records(out / "sft.jsonl", [{"prompt": p.prompt, "completion": p.meta["long"]} for p in sft_set])
    write_records(out / "prompts.jsonl", pfpo_set)
    write_records(out / "test.jsonl", test_set)
    return pfpo_set


def train_sft(out: Path, seed: int, z: DemoSize) -> str:
    """The policy: a fresh tiny model fine-tuned on the reference programs (the SFT recipe)."""
    from ponder.models.tiny import build_tiny_model

    base = build_tiny_model(out / "base", z.preset, seed)
    s = tiny_sft(
        base,
        out / "sft.jsonl",
        out / "sft",
        seed=seed,
        lr=z.sft_lr,
        examples_per_step=32,
        max_steps=z.sft_steps,
    )
    return s["model"]


def evaluate_model(out: Path, seed: int, z: DemoSize, path: str, name: str) -> dict[str, Any]:
    """pass@1 on the held-out problems: greedy, and averaged over samples at temperature 1."""
    from ponder.eval.runner import chat_solver, evaluate, load_benchmark
    from ponder.generation.base import SamplingParams
    from ponder.generation.hf import HFGenerator

    gen = HFGenerator(path, batch_size=64)
    bench = [load_benchmark(f"{out / 'test.jsonl'}:code")]
    runs = {}
    for kind, params in (
        ("greedy", SamplingParams(n=1, temperature=0.0, max_new_tokens=z.max_new_tokens)),
        ("t1", SamplingParams(n=z.eval_samples, temperature=1.0, max_new_tokens=z.max_new_tokens, seed=seed)),
    ):
        report = evaluate(chat_solver(gen), bench, params, out / "eval" / f"{name}-{kind}", name=name)
        runs[kind] = report["benchmarks"]["test"]
    g = runs["greedy"]
    return {
        "name": name,
        "accuracy": g["accuracy"],
        "pass@1_t1": runs["t1"]["accuracy"],
        "mean_tokens": g["mean_tokens"],
    }


def candidates(out: Path, seed: int, z: DemoSize, gen, pfpo_set: list[Problem]) -> None:
    """The policy's programs, the stand-in pool of reference and buggy programs, and the sampled test inputs."""
    from ponder.feedback.test_inputs_stage import InputSettings, run_test_inputs
    from ponder.generation.base import SamplingParams
    from ponder.generation.stage import load_prompts, run_generate
    from ponder.records import load_records

    params = SamplingParams(
        n=z.samples_per_prompt, temperature=1.0, max_new_tokens=z.max_new_tokens, seed=seed
    )
    run_generate(
        gen, load_prompts(out / "prompts.jsonl"), out / "samples.jsonl", params, desc="policy samples"
    )
    write_records(out / "variant_samples.jsonl", variant_samples(pfpo_set, z.samples_per_prompt, seed))
    inputs = InputSettings(source="sampler", n_inputs=z.n_inputs, sampler_seed=seed * 1000 + 7)
    run_test_inputs(load_records(out / "prompts.jsonl", Problem), out / "with_inputs.jsonl", inputs)


def measure_feedback(out: Path, seed: int, z: DemoSize, pool) -> list[dict[str, Any]]:
    """Pseudo-test and gold pairs of both candidate pools, with the pseudo feedback measured against the truth."""
    from ponder.pairs.code_stage import run_code_pairs

    pseudo = replace(z.pairs, seed=seed)
    gold = replace(pseudo, labels="gold", score_gold=False)
    measurements = []
    for cand, samples in (("policy", "samples.jsonl"), ("variants", "variant_samples.jsonl")):
        problems = out / "with_inputs.jsonl"
        m = run_code_pairs(problems, out / samples, out / f"pairs-{cand}.jsonl", pseudo, pool=pool)
        g = run_code_pairs(problems, out / samples, out / f"gold-pairs-{cand}.jsonl", gold, pool=pool)
        measured = {k: m.get(k) for k in MEASURE_COLUMNS[1:-1]}
        measurements.append({"candidates": cand, **measured, "gold_pairs": g["pairs"]})
    return measurements


def code_pdpo(out: Path, seed: int, z: DemoSize, gen, pool) -> dict[str, Any]:
    """Code pDPO on the policy's samples, valued by the pseudo tests of the policy pool."""
    from ponder.pairs.code_process_stage import run_code_process

    settings = replace(z.process, max_new_tokens=z.max_new_tokens, seed=seed)
    return run_code_process(
        out / "with_inputs.jsonl",
        out / "samples.jsonl",
        out / "prefix-pairs.jsonl",
        gen,
        settings,
        scores_path=out / "pairs-policy.scores.jsonl",
        pool=pool,
    )


def train_dpo(out: Path, seed: int, z: DemoSize, policy: str, name: str, data: list[str]) -> str:
    """DPO (+ SFT term) from the policy on ``data`` (the DPO recipe)."""
    from ponder.recipes import dpo

    cfg = extend(replace(z.dpo, seed=seed), dpo.DPOConfig, model=policy, data=data, output=str(out / name))
    return dpo.run(cfg)["model"]


def run_pfpo_code_demo(out: str | Path, seed: int = 0, *, size: str | DemoSize = "full") -> dict[str, Any]:
    """Run the demo into ``out``; return the report (also ``out/report.json``)."""
    import torch

    from ponder.generation.hf import HFGenerator
    from ponder.models.tiny import count_parameters
    from ponder.verify.code import SandboxPool

    z = size_of(SIZES, size) if isinstance(size, str) else size
    torch.set_num_threads(z.threads)
    out = Path(out)
    _clear(out)
    clock: dict[str, float] = {}
    t0 = time.perf_counter()

    def lap(name: str) -> None:
        clock[name] = round(time.perf_counter() - t0 - sum(clock.values()), 1)

    pfpo_set = make_data(out, seed, z)
    policy = train_sft(out, seed, z)
    lap("sft")
    rows = [evaluate_model(out, seed, z, policy, "sft")]
    lap("eval_sft")
    gen = HFGenerator(policy, batch_size=64)
    candidates(out, seed, z, gen, pfpo_set)
    lap("samples_and_inputs")
    with SandboxPool(z.sandbox_workers) as pool:
        measurements = measure_feedback(out, seed, z, pool)
        lap("pseudo_feedback")
        proc = code_pdpo(out, seed, z, gen, pool)
    lap("code_process")

    # one PFPO-code iteration on the pseudo pairs, and for reference DPO on ground-truth pairs
    policy_m = measurements[0]
    pseudo_files = [
        str(out / f)
        for f, n in (("pairs-policy.jsonl", policy_m["pairs"]), ("prefix-pairs.jsonl", proc["pairs"]))
        if n
    ]
    after = {}
    if pseudo_files:
        after["pfpo-code"] = (
            train_dpo(out, seed, z, policy, "dpo-pseudo", pseudo_files),
            policy_m["pairs"] + proc["pairs"],
        )
    if policy_m["gold_pairs"]:
        gold_files = [str(out / "gold-pairs-policy.jsonl")]
        after["dpo-gold-pairs"] = (
            train_dpo(out, seed, z, policy, "dpo-gold", gold_files),
            policy_m["gold_pairs"],
        )
    lap("dpo")
    rows[0]["pairs"] = 0
    for name, (path, pairs) in after.items():
        rows.append({**evaluate_model(out, seed, z, path, name), "pairs": pairs})
    lap("eval_after")

    report = {
        "demo": "pfpo-code",
        "seed": seed,
        "size": size if isinstance(size, str) else "custom",
        "settings": asdict(z),
        "model": {"preset": z.preset, "parameters": count_parameters(z.preset)},
        "candidates": "policy samples (SFT nano model, temperature 1); also measured on reference/buggy variants",
        "pseudo_output_accuracy": policy_m["pseudo_output_accuracy"],
        "pair_precision": policy_m["pair_precision"],
        "pairs": {"outcome": policy_m["pairs"], "process": proc["pairs"], "gold": policy_m["gold_pairs"]},
        "process_pair_precision": proc.get("pair_precision"),
        "measurements": measurements,
        "process": {
            k: proc[k] for k in ("prefixes", "positives", "pairs", "pair_precision", "mean_value_share")
        },
        "rows": rows,
        "seconds": clock,
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    write_json(out / "report.json", report)
    write_text(out / "report.md", format_report(report) + "\n")
    plot_report(report, out / "report.png")
    return report


def _clear(out: Path) -> None:
    """A fresh run every time (the training stages refuse folders holding another run)."""
    import shutil

    out.mkdir(parents=True, exist_ok=True)
    for name in ("base", "sft", "dpo-pseudo", "dpo-gold", "eval"):
        shutil.rmtree(out / name, ignore_errors=True)
    for f in out.glob("*.jsonl*"):
        f.unlink()
    for f in out.glob("*.summary.json"):
        f.unlink()
