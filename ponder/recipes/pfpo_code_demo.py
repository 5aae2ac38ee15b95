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

from ponder.eval.report import markdown_table
from ponder.io import write_json, write_records, write_text
from ponder.records import Problem, Sample

ROW_COLUMNS = ["name", "accuracy", "pass@1_t1", "mean_tokens", "pairs"]
MEASURE_COLUMNS = [
    "candidates",
    "programs_passing_all",
    "kept_test_share",
    "pseudo_output_accuracy",
    "pairs",
    "pair_precision",
    "pair_ties",
    "chosen_correct_share",
    "gold_pairs",
]


@dataclass(frozen=True)
class DemoSize:
    """Sizes of the demo (``full`` is documented in docs/pfpo_code.md; ``smoke`` checks the machinery)."""

    preset: str = "nano"
    sft_problems: int = 800
    sft_steps: int = 400
    sft_lr: float = 3e-3
    pfpo_problems: int = 64
    test_problems: int = 96
    samples_per_prompt: int = 8
    n_inputs: int = 10
    min_success: int = 4
    lower_bound: float = 0.5
    margin: int = 6
    prefixes_per_problem: int = 10
    completions_per_prefix: int = 3
    prefix_lower_bound: float = 0.5
    prefix_margin: float = 4
    # Chosen once on seed 0 (lr 5e-5, 2 epochs, SFT weight 0.2 lost 0.20 greedy pass@1; this lost 0.15) and
    # frozen for the reported seeds; see docs/pfpo_code.md, Results.
    dpo_lr: float = 3e-5
    dpo_beta: float = 0.1
    sft_loss_weight: float = 1.0
    dpo_epochs: int = 4
    pairs_per_step: int = 32
    eval_samples: int = 8
    max_new_tokens: int = 160
    threads: int = 1
    sandbox_workers: int = 2


SIZES = {
    "full": DemoSize(),
    "smoke": DemoSize(
        sft_problems=200,
        sft_steps=150,
        pfpo_problems=8,
        test_problems=8,
        samples_per_prompt=4,
        min_success=2,
        margin=3,
        prefixes_per_problem=3,
        completions_per_prefix=2,
        prefix_margin=1,
        dpo_epochs=1,
        pairs_per_step=8,
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


def run_pfpo_code_demo(out: str | Path, seed: int = 0, *, size: str | DemoSize = "full") -> dict[str, Any]:
    """Run the demo into ``out``; return the report (also ``out/report.json``)."""
    import torch

    from ponder.eval.runner import chat_solver, evaluate, load_benchmark
    from ponder.feedback.test_inputs_stage import InputSettings, run_test_inputs
    from ponder.generation.base import SamplingParams
    from ponder.generation.hf import HFGenerator
    from ponder.generation.stage import load_prompts, run_generate
    from ponder.models.tiny import build_tiny_model, count_parameters
    from ponder.pairs.code_process_stage import CodeProcessSettings, run_code_process
    from ponder.pairs.code_stage import CodePairSettings, run_code_pairs
    from ponder.recipes import dpo, sft
    from ponder.records import load_records
    from ponder.tasks.synthetic import make
    from ponder.verify.code import SandboxPool

    z = SIZES[size] if isinstance(size, str) else size
    torch.set_num_threads(z.threads)
    out = Path(out)
    _clear(out)
    clock: dict[str, float] = {}
    t0 = time.perf_counter()

    def lap(name: str) -> None:
        clock[name] = round(time.perf_counter() - t0 - sum(clock.values()), 1)

    # ------------------------------------------------------------------ data and the SFT policy
    base = seed * 1000
    sft_set, pfpo_set, test_set = (
        make("code", n, seed=base + k)
        for k, n in ((101, z.sft_problems), (102, z.pfpo_problems), (103, z.test_problems))
    )
    write_records(out / "sft.jsonl", [{"prompt": p.prompt, "completion": p.meta["long"]} for p in sft_set])
    write_records(out / "prompts.jsonl", pfpo_set)
    write_records(out / "test.jsonl", test_set)
    model = build_tiny_model(out / "base", z.preset, seed)
    s_sft = sft.run(
        sft.SFTConfig(
            model=str(model),
            data=[str(out / "sft.jsonl")],
            output=str(out / "sft"),
            lr=z.sft_lr,
            max_steps=z.sft_steps,
            examples_per_step=32,
            warmup_ratio=0.05,
            seed=seed,
            tensorboard=False,
        )
    )
    policy = s_sft["model"]
    lap("sft")

    def eval_model(path: str, name: str) -> dict[str, Any]:
        gen = HFGenerator(path, batch_size=64)
        bench = [load_benchmark(f"{out / 'test.jsonl'}:code")]
        greedy = evaluate(
            chat_solver(gen),
            bench,
            SamplingParams(n=1, temperature=0.0, max_new_tokens=z.max_new_tokens),
            out / "eval" / f"{name}-greedy",
            name=name,
        )
        sampled = evaluate(
            chat_solver(gen),
            bench,
            SamplingParams(n=z.eval_samples, temperature=1.0, max_new_tokens=z.max_new_tokens, seed=seed),
            out / "eval" / f"{name}-t1",
            name=name,
        )
        g, s = greedy["benchmarks"]["test"], sampled["benchmarks"]["test"]
        return {
            "name": name,
            "accuracy": g["accuracy"],
            "pass@1_t1": s["accuracy"],
            "mean_tokens": g["mean_tokens"],
        }

    rows = [eval_model(policy, "sft")]
    lap("eval_sft")

    # ------------------------------------------------------------------ candidates and test inputs
    gen = HFGenerator(policy, batch_size=64)
    run_generate(
        gen,
        load_prompts(out / "prompts.jsonl"),
        out / "samples.jsonl",
        SamplingParams(n=z.samples_per_prompt, temperature=1.0, max_new_tokens=z.max_new_tokens, seed=seed),
        desc="policy samples",
    )
    write_records(out / "variant_samples.jsonl", variant_samples(pfpo_set, z.samples_per_prompt, seed))
    run_test_inputs(
        load_records(out / "prompts.jsonl", Problem),
        out / "with_inputs.jsonl",
        source="sampler",
        settings=InputSettings(n_inputs=z.n_inputs, sampler_seed=base + 7),
    )
    lap("samples_and_inputs")

    # ------------------------------------------------------------------ pseudo feedback, measured
    pair_cfg = CodePairSettings(
        lower_bound=z.lower_bound,
        margin=z.margin,
        min_success=z.min_success,
        score_gold=True,
        timeout_s=2.0,
        seed=seed,
    )
    measurements = []
    with SandboxPool(z.sandbox_workers) as pool:
        for cand, samples in (("policy", "samples.jsonl"), ("variants", "variant_samples.jsonl")):
            m = run_code_pairs(
                out / "with_inputs.jsonl", out / samples, out / f"pairs-{cand}.jsonl", pair_cfg, pool=pool
            )
            g = run_code_pairs(
                out / "with_inputs.jsonl",
                out / samples,
                out / f"gold-pairs-{cand}.jsonl",
                replace(pair_cfg, labels="gold", score_gold=False),
                pool=pool,
            )
            measurements.append(
                {"candidates": cand, **{k: m.get(k) for k in MEASURE_COLUMNS[1:-1]}, "gold_pairs": g["pairs"]}
            )
        lap("pseudo_feedback")
        proc_cfg = CodeProcessSettings(
            max_prefixes_per_problem=z.prefixes_per_problem,
            completions_per_prefix=z.completions_per_prefix,
            lower_bound=z.prefix_lower_bound,
            margin=z.prefix_margin,
            max_new_tokens=z.max_new_tokens,
            timeout_s=2.0,
            score_gold=True,
            seed=seed,
        )
        proc = run_code_process(
            out / "with_inputs.jsonl",
            out / "samples.jsonl",
            out / "prefix-pairs.jsonl",
            gen,
            proc_cfg,
            scores_path=out / "pairs-policy.scores.jsonl",
            pool=pool,
        )
    lap("code_process")

    # ------------------------------------------------------------------ one PFPO-code iteration (and gold DPO)
    def train(name: str, data: list[str]) -> str:
        cfg = dpo.DPOConfig(
            model=policy,
            data=data,
            output=str(out / name),
            beta=z.dpo_beta,
            lr=z.dpo_lr,
            sft_loss_weight=z.sft_loss_weight,
            epochs=z.dpo_epochs,
            pairs_per_step=z.pairs_per_step,
            seed=seed,
            tensorboard=False,
        )
        return dpo.run(cfg)["model"]

    pseudo_files = [
        str(out / f)
        for f, n in (("pairs-policy.jsonl", measurements[0]["pairs"]), ("prefix-pairs.jsonl", proc["pairs"]))
        if n
    ]
    after = {}
    if pseudo_files:
        after["pfpo-code"] = train("dpo-pseudo", pseudo_files)
    if measurements[0]["gold_pairs"]:
        after["dpo-gold-pairs"] = train("dpo-gold", [str(out / "gold-pairs-policy.jsonl")])
    lap("dpo")
    rows[0]["pairs"] = 0
    for name, path in after.items():
        row = eval_model(path, name)
        row["pairs"] = (
            (measurements[0]["pairs"] + proc["pairs"])
            if name == "pfpo-code"
            else measurements[0]["gold_pairs"]
        )
        rows.append(row)
    lap("eval_after")

    policy_m = measurements[0]
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


def format_report(report: dict[str, Any]) -> str:
    """The demo's tables: the measurements of pseudo feedback, then pass@1 before and after."""
    proc = report["process"]
    lines = [
        f"**PFPO-code demo**, seed {report['seed']} ({report['model']['preset']}, "
        f"{report['model']['parameters']:,} parameters); wall time {report['wall_s']} s",
        "",
        "Pseudo feedback against the hidden truth:",
        "",
        markdown_table(report["measurements"], MEASURE_COLUMNS),
        "",
        f"Code pDPO: {proc['prefixes']} prefixes, {proc['positives']} positive, {proc['pairs']} pairs, "
        f"pair precision {_num(proc['pair_precision'])}",
        "",
        "pass@1 on held-out problems (greedy; and over samples at temperature 1):",
        "",
        markdown_table(report["rows"], ROW_COLUMNS),
    ]
    return "\n".join(lines)


def plot_report(report: dict[str, Any], path: str | Path) -> Path:
    """Two panels: the pseudo feedback measured against the hidden tests (policy pool, stand-in pool, code
    pDPO), and pass@1 per model (greedy, and over samples at temperature 1)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    groups = {m["candidates"]: m for m in report["measurements"]}
    groups["code pDPO"] = {"pair_precision": report["process"]["pair_precision"]}
    metrics = ["pseudo_output_accuracy", "pair_precision", "chosen_correct_share"]
    width = 0.8 / len(metrics)
    for k, metric in enumerate(metrics):
        xs = [i + (k - 1) * width for i in range(len(groups))]
        vals = [g.get(metric) for g in groups.values()]
        bars = left.bar(xs, [v or 0.0 for v in vals], width, label=metric, color=f"C{k}")
        left.bar_label(bars, labels=["" if v is None else f"{v:.2f}" for v in vals], fontsize=7)
    left.set_xticks(range(len(groups)), list(groups))
    left.set_ylim(0, 1.1)
    left.set_title("pseudo feedback vs hidden tests")
    left.legend(fontsize=7, loc="lower right")
    rows = report["rows"]
    for k, metric in enumerate(["accuracy", "pass@1_t1"]):
        xs = [i + (k - 0.5) * 0.4 for i in range(len(rows))]
        label = "pass@1 greedy" if metric == "accuracy" else "pass@1 at T 1"
        bars = right.bar(xs, [r[metric] for r in rows], 0.4, label=label, color=f"C{k + 3}")
        right.bar_label(bars, labels=[f"{r[metric]:.2f}" for r in rows], fontsize=7)
    right.set_xticks(range(len(rows)), [r["name"] for r in rows])
    right.set_ylim(0, 1.1)
    right.set_title("held-out problems")
    right.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"PFPO-code demo, seed {report['seed']}")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _num(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"
