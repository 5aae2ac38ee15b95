"""DPO training speed: ponder vs TRL's DPOTrainer, same tiny model, data and hyperparameters, one run.

Shapes (pairs built from ponder's synthetic arithmetic problems, lengths vary as in real data):

- ``thinkpo``: short prompt, long chain-of-thought chosen (about 5x the rejected), short rejected --
  ThinkPO's long-vs-short pairs;
- ``pfpo``: long few-shot prompt (about 600 tokens), short chosen and rejected solutions -- PFPO's
  pairs under a long instruction.

Both sides: fp32, AdamW, linear decay without warmup, β = 0.1, sigmoid loss, live reference model (the
starting policy), no truncation, the same pairs in the same order (no shuffling), one forward pass per
step. TRL pads chosen and rejected to a common length per batch and runs the prompt twice; ponder packs
without padding and runs each prompt once. Throughput counts the same useful tokens for both sides
(prompt + chosen and prompt + rejected per pair), over steps 2..n.

    python bench/train_dpo.py --shape thinkpo [--quick] [--threads 2] [--preset micro]
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

import train_common as common


def build_pairs(shape: str, n: int, seed: int = 0) -> list[dict]:
    from ponder.tasks.synthetic import make

    problems = make("arithmetic", n, seed, min_ops=2, max_ops=12)
    rng = random.Random(seed)
    pairs = []
    if shape == "thinkpo":
        for p in problems:
            pairs.append(
                {
                    "id": p.id,
                    "prompt": [{"role": "user", "content": f"Solve step by step. {p.prompt}"}],
                    "chosen": [{"role": "assistant", "content": p.meta["long"]}],
                    "rejected": [{"role": "assistant", "content": p.meta["short"]}],
                }
            )
    else:
        shots = make("arithmetic", 40, seed + 1, min_ops=3, max_ops=6)
        for p in problems:
            demo = rng.sample(shots, 3)
            fewshot = "\n\n".join(f"Problem: {s.prompt}\nSolution: {s.meta['long']}" for s in demo)
            wrong = p.meta["short"].replace(f"\\boxed{{{p.answer}}}", f"\\boxed{{{int(p.answer) + 1}}}")
            pairs.append(
                {
                    "id": p.id,
                    "prompt": [{"role": "user", "content": f"{fewshot}\n\nProblem: {p.prompt}\nSolution:"}],
                    "chosen": [{"role": "assistant", "content": p.meta["short"]}],
                    "rejected": [{"role": "assistant", "content": wrong}],
                }
            )
    return pairs


def run_ponder(model_dir: Path, data: Path, out: Path, a) -> tuple[list[float], list[float], list]:
    import shutil

    shutil.rmtree(out, ignore_errors=True)
    from ponder.recipes import dpo
    from ponder.train.data import read_pair_records
    from ponder.train.encode import Encoder, Where
    from ponder.train.model import load_tokenizer

    cfg = dpo.DPOConfig(
        model=str(model_dir),
        data=[str(data)],
        output=str(out),
        pairs_per_step=a.pairs_per_step,
        max_steps=a.steps,
        lr=a.lr,
        lr_schedule="linear",
        warmup_ratio=0.0,
        beta=0.1,
        shuffle=False,
        tokens_per_microbatch=1 << 20,
        tensorboard=False,
        bf16=a.bf16,
    )
    dpo.run(cfg)
    enc = Encoder(load_tokenizer(model_dir))
    groups = [enc.encode_pair(p, Where(data, line)) for line, p in read_pair_records(data)]
    losses, times = common.ponder_step_times(out / "metrics.jsonl")
    return losses, times, groups


def run_trl(model_dir: Path, pairs: list[dict], out: Path, a) -> tuple[list[float], list[float], object]:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="sdpa")
    args = DPOConfig(
        output_dir=str(out),
        per_device_train_batch_size=a.pairs_per_step,
        gradient_accumulation_steps=1,
        max_steps=a.steps,
        learning_rate=a.lr,
        lr_scheduler_type="linear",
        warmup_steps=0,
        beta=0.1,
        loss_type=["sigmoid"],
        max_length=None,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=0,
        use_cpu=True,
        bf16=a.bf16,
        train_sampling_strategy="sequential",
        dataloader_num_workers=0,
        disable_tqdm=True,
        max_grad_norm=1.0,
        weight_decay=0.0,
    )
    clock = common.trl_clock()
    rows = [{k: v for k, v in p.items() if k != "id"} for p in pairs]
    trainer = DPOTrainer(
        model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok, callbacks=[clock]
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # its per-step log dicts would flood the report
    trainer.train()
    return clock.losses, clock.times, trainer.train_dataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shape", choices=["thinkpo", "pfpo"], default="thinkpo")
    ap.add_argument("--quick", action="store_true", help="fewer steps and the nano model (under 2 minutes)")
    ap.add_argument("--preset", default=None, help="tiny model preset (default: micro; nano with --quick)")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--pairs-per-step", dest="pairs_per_step", type=int, default=8)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--workdir", type=Path, default=None)
    a = ap.parse_args()
    a.preset = a.preset or ("nano" if a.quick else "micro")
    a.steps = a.steps or (5 if a.quick else 10)
    common.setup(a.threads)
    work = a.workdir or Path(tempfile.mkdtemp(prefix="ponder-bench-dpo-"))
    model_dir = common.build_model(work / f"model-{a.preset}", a.preset)
    pairs = build_pairs(a.shape, a.steps * a.pairs_per_step)
    data = work / f"pairs-{a.shape}.jsonl"
    from ponder.io import write_records

    write_records(data, pairs)
    p_losses, p_times, groups = run_ponder(model_dir, data, work / f"ponder-{a.shape}", a)
    t_losses, t_times, trl_data = run_trl(model_dir, pairs, work / f"trl-{a.shape}", a)
    same_ids = all(
        list(g.prompt) == r["prompt_ids"]
        and list(g.responses[0]) == r["chosen_ids"]
        and list(g.responses[1]) == r["rejected_ids"]
        for g, r in zip(groups, trl_data, strict=True)
    )
    useful = [
        sum(
            2 * len(g.prompt) + len(g.responses[0]) + len(g.responses[1])
            for g in groups[s * a.pairs_per_step : (s + 1) * a.pairs_per_step]
        )
        for s in range(a.steps)
    ]
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    notes = [
        f"model: {a.preset} preset; {a.steps} steps x {a.pairs_per_step} pairs; threads {a.threads}; "
        f"{'bf16 autocast' if a.bf16 else 'fp32'}",
        f"mean tokens per pair: prompt {mean([len(g.prompt) for g in groups]):.0f}, chosen "
        f"{mean([len(g.responses[0]) for g in groups]):.0f}, rejected {mean([len(g.responses[1]) for g in groups]):.0f}",
        f"token ids identical on both sides: {'yes' if same_ids else 'NO'}",
    ]
    common.report(
        f"DPO, {a.shape} shape", useful, {"ponder": (p_losses, p_times), "trl": (t_losses, t_times)}, notes
    )


if __name__ == "__main__":
    main()
