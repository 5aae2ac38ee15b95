"""SFT training speed: ponder (packed) vs TRL's SFTTrainer, same tiny model, data and hyperparameters.

Data: prompt-completion pairs in conversational form from ponder's synthetic arithmetic problems, with
completions of varied length (one to three worked solutions), as in chain-of-thought SFT sets. Loss on the
completion tokens only, token-mean over the step, on both sides.

ponder packs the step's sequences without padding (attention kept inside each sequence). TRL runs in its
default mode (right-padded batches of the same sequences, so both sides train on identical batches). TRL's
``packing=True`` is not compared: it re-bins the whole data set into fixed-length rows, so its steps would
see other batches and the per-step losses could not be compared. Throughput counts the real (non-padding)
tokens, over steps 2..n.

    python bench/train_sft.py [--quick] [--threads 2] [--preset micro]
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
from pathlib import Path

import train_common as common


def build_examples(n: int, seed: int = 0) -> list[dict]:
    from ponder.tasks.synthetic import make

    problems = make("arithmetic", 3 * n, seed, min_ops=2, max_ops=12)
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        k = rng.randint(1, 3)
        solution = "\n\n".join(p.meta["long"] for p in problems[3 * i : 3 * i + k])
        rows.append(
            {
                "prompt": [{"role": "user", "content": f"Solve step by step. {problems[3 * i].prompt}"}],
                "completion": [{"role": "assistant", "content": solution}],
            }
        )
    return rows


def run_ponder(model_dir: Path, data: Path, out: Path, a):
    from ponder.recipes import sft
    from ponder.train.encode import Encoder
    from ponder.train.model import load_tokenizer

    shutil.rmtree(out, ignore_errors=True)
    sft.run(
        sft.SFTConfig(
            model=str(model_dir),
            data=[str(data)],
            output=str(out),
            examples_per_step=a.per_step,
            max_steps=a.steps,
            lr=a.lr,
            lr_schedule="linear",
            warmup_ratio=0.0,
            shuffle=False,
            tokens_per_microbatch=1 << 20,
            tensorboard=False,
            bf16=a.bf16,
        )
    )
    groups = sft.encode_sft_file(str(data), Encoder(load_tokenizer(model_dir)))
    losses, times = common.ponder_step_times(out / "metrics.jsonl")
    return losses, times, groups


def run_trl(model_dir: Path, rows: list[dict], out: Path, a):
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="sdpa")
    args = SFTConfig(
        output_dir=str(out),
        per_device_train_batch_size=a.per_step,
        gradient_accumulation_steps=1,
        max_steps=a.steps,
        learning_rate=a.lr,
        lr_scheduler_type="linear",
        warmup_steps=0,
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
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok, callbacks=[clock]
    )
    trainer.remove_callback(PrinterCallback)
    trainer.train()
    return clock.losses, clock.times, trainer.train_dataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps and the nano model (under 2 minutes)")
    ap.add_argument("--preset", default=None, help="tiny model preset (default: micro; nano with --quick)")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--per-step", dest="per_step", type=int, default=8, help="sequences per optimizer step")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--workdir", type=Path, default=None)
    a = ap.parse_args()
    a.preset = a.preset or ("nano" if a.quick else "micro")
    a.steps = a.steps or (5 if a.quick else 10)
    common.setup(a.threads)
    work = a.workdir or Path(tempfile.mkdtemp(prefix="ponder-bench-sft-"))
    model_dir = common.build_model(work / f"model-{a.preset}", a.preset)
    rows = build_examples(a.steps * a.per_step)
    data = work / "sft.jsonl"
    from ponder.io import write_records

    write_records(data, rows)
    p_losses, p_times, groups = run_ponder(model_dir, data, work / "ponder-sft", a)
    t_losses, t_times, trl_data = run_trl(model_dir, rows, work / "trl-sft", a)
    notes = [
        f"model: {a.preset} preset; {a.steps} steps x {a.per_step} sequences; threads {a.threads}; "
        f"{'bf16 autocast' if a.bf16 else 'fp32'}"
    ]
    same = all(
        list(g.prompt) + list(g.responses[0]) == r["input_ids"] for g, r in zip(groups, trl_data, strict=True)
    )
    notes.append(f"token ids identical on both sides: {'yes' if same else 'NO'}")
    lengths = [len(g.prompt) + len(g.responses[0]) for g in groups]
    notes.append(
        f"sequence tokens: mean {sum(lengths) / len(lengths):.0f}, min {min(lengths)}, max {max(lengths)}"
    )
    useful = [sum(lengths[s * a.per_step : (s + 1) * a.per_step]) for s in range(a.steps)]
    common.report("SFT", useful, {"ponder": (p_losses, p_times), "trl": (t_losses, t_times)}, notes)


if __name__ == "__main__":
    main()
