"""GPU smoke test for a machine with 2 CUDA GPUs: the scale-out paths end to end, in about ten minutes.

    make gpu-smoke            # or: python bench/gpu_smoke.py [--out runs/gpu-smoke] [--steps 4]

Stages (each a real command, its output checked; the first failure stops the run with its log's tail):

1. ``fsdp-sft``: ``accelerate launch --config_file fsdp.yaml --num_processes 2 -m ponder train sft`` on
   the ``small`` tiny model with Qwen's 151,936-token vocabulary -- FSDP2, bf16, chunked log-probs, the
   FlexAttention packed kernel (``auto`` on CUDA); checks: 2 processes, finite decreasing loss, a saved
   bf16 model (``save_dtype=bfloat16``) that transformers loads.
2. ``fsdp-dpo``: the same launcher, ``ponder train dpo`` from the SFT model, live reference sharded like
   the policy; checks: step-1 loss log 2 (policy = reference), finite rewards, accuracy reported.
3. ``vllm-tp2``: vLLM ``LLM(tensor_parallel_size=2, dtype=bfloat16)`` on the DPO model, 16 prompts x 2
   samples; checks: every prompt answered, tokens/s printed.
4. ``rl-step``: ``ponder train rl`` (GRPO, qa task, ``backend=vllm``) for one step: the policy is trained
   and its weights reach the rollout engine for the next step (today by saving the policy and loading
   the folder into the engine); checks: one step logged with its rollout and update times.

On a machine without 2 CUDA GPUs it prints one line saying so and exits with status 2. Expected output
and what each line checks: docs/training.md, "GPU smoke test".
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FSDP_YAML = ROOT / "ponder/recipes/configs/accelerate/fsdp.yaml"


def gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def run(name: str, argv: list[str], out: Path) -> None:
    """Run a stage's command, its output to ``out/NAME.log``; stop with the log's tail on failure."""
    log = out / f"{name}.log"
    start = time.perf_counter()
    with open(log, "w") as fh:
        code = subprocess.run(argv, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT).returncode
    if code != 0:
        tail = log.read_text(errors="replace").splitlines()[-20:]
        sys.exit(
            f"FAIL {name}: exit {code} after {time.perf_counter() - start:.0f} s; {log}:\n" + "\n".join(tail)
        )


def check(name: str, ok: bool, detail: str) -> None:
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}", flush=True)
    if not ok:
        sys.exit(1)


def metrics(folder: Path) -> list[dict]:
    return [json.loads(x) for x in (folder / "metrics.jsonl").read_text().splitlines() if x.strip()]


def launch(*args: str) -> list[str]:
    return [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(FSDP_YAML)] + [
        "--num_processes",
        "2",
        "-m",
        "ponder",
        *args,
    ]


def make_data(out: Path) -> tuple[Path, Path, Path]:
    from ponder.io import write_records
    from ponder.tasks.synthetic import make

    sft, pairs, problems = out / "sft.jsonl", out / "pairs.jsonl", out / "problems.jsonl"
    rows = make("arithmetic", 64, 100)
    write_records(sft, [{"prompt": p.prompt, "completion": p.meta["long"]} for p in rows])
    write_records(
        pairs, [{"prompt": p.prompt, "chosen": p.meta["long"], "rejected": p.meta["short"]} for p in rows]
    )
    write_records(
        problems, [{"id": p.id, "prompt": p.prompt, "answer": p.answer} for p in make("arithmetic", 16, 101)]
    )
    return sft, pairs, problems


def vllm_child(model: str) -> None:
    """Stage 3 in its own process (vLLM starts workers: needs the __main__ guard)."""
    from ponder.generation.base import SamplingParams
    from ponder.generation.vllm import VLLMGenerator

    gen = VLLMGenerator(model, dtype="bfloat16", tensor_parallel_size=2, max_model_len=2048)
    prompts = [f"Compute {i} + {i + 1}." for i in range(16)]
    start = time.perf_counter()
    outs = gen.generate(prompts, SamplingParams(n=2, max_new_tokens=64, temperature=1.0, seed=0))
    secs = time.perf_counter() - start
    tokens = sum(c.num_tokens for comps in outs for c in comps)
    answered = sum(len(comps) == 2 and all(c.num_tokens > 0 for c in comps) for comps in outs)
    print(json.dumps({"answered": answered, "tokens_per_s": tokens / secs}))
    gen.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/gpu-smoke", help="work folder (logs, data, models)")
    ap.add_argument("--steps", type=int, default=4, help="optimizer steps of the SFT and DPO stages")
    ap.add_argument("--vllm-child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.vllm_child:
        vllm_child(args.vllm_child)
        return 0
    found = gpus()
    if found < 2:
        print(
            f"gpu-smoke needs 2 CUDA GPUs; this machine has {found}: run it on a GPU machine", file=sys.stderr
        )
        return 2
    sys.path.insert(0, str(ROOT / "bench"))
    from logprob_memory import build_model

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    base = build_model(out / "base", preset="small")
    sft_data, pair_data, problems = make_data(out)
    steps = [f"max_steps={args.steps}", "tensorboard=false", "save_dtype=bfloat16"]

    run(
        "fsdp-sft",
        launch(
            "train",
            "sft",
            "--model",
            str(base),
            "--data",
            str(sft_data),
            "--output",
            str(out / "sft"),
            "examples_per_step=16",
            "lr=1e-4",
            *steps,
        ),
        out,
    )
    m = metrics(out / "sft")
    config = json.loads((out / "sft/model/config.json").read_text())
    check(
        "fsdp-sft",
        len(m) == args.steps
        and m[-1]["loss"] < m[0]["loss"]
        and math.isfinite(m[-1]["loss"])
        and config["dtype"] == "bfloat16",
        f"{len(m)} steps, loss {m[0]['loss']:.3f} -> {m[-1]['loss']:.3f}, saved {config['dtype']}",
    )

    run(
        "fsdp-dpo",
        launch(
            "train",
            "dpo",
            "--model",
            str(out / "sft/model"),
            "--data",
            str(pair_data),
            "--output",
            str(out / "dpo"),
            "pairs_per_step=16",
            "lr=1e-5",
            *steps,
        ),
        out,
    )
    m = metrics(out / "dpo")
    check(
        "fsdp-dpo",
        abs(m[0]["loss"] - math.log(2)) < 1e-2 and all(math.isfinite(r["margin"]) for r in m),
        f"{len(m)} steps, loss {m[0]['loss']:.4f} -> {m[-1]['loss']:.4f}, accuracy {m[-1]['accuracy']:.2f}",
    )

    log = out / "vllm-tp2.log"
    run("vllm-tp2", [sys.executable, __file__, "--vllm-child", str(out / "dpo/model")], out)
    gen = json.loads(log.read_text().strip().splitlines()[-1])
    check("vllm-tp2", gen["answered"] == 16, f"16 prompts x 2 samples, {gen['tokens_per_s']:.0f} tokens/s")

    rl = [
        sys.executable,
        "-m",
        "ponder",
        "train",
        "rl",
        "--env",
        "qa",
        "--algo",
        "grpo",
        "--model",
        str(out / "dpo/model"),
    ]
    rl += ["--data", str(problems), "--output", str(out / "rl"), "backend=vllm", "max_steps=1"]
    rl += ["prompts_per_step=8", "samples_per_prompt=2", "bf16=true", "threads=8"]
    run("rl-step", rl, out)
    m = metrics(out / "rl")
    times = {k[5:]: v for k, v in m[-1].items() if k.startswith("time/")}
    check(
        "rl-step",
        len(m) == 1 and bool(times),
        "1 step, " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()),
    )
    print(f"gpu-smoke passed: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
