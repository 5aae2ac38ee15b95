"""Peak memory of one DPO step at Qwen's vocabulary: chunked log-probs against whole logits.

One preference pair of about ``--tokens`` packed tokens (prompt + chosen + rejected, one micro-batch), the
``nano`` model with a 151,936-token vocabulary (its embedding, tied to the LM head, is most of its 15M
parameters), live reference model, fp32, ``ponder train dpo`` for one step. Each measurement runs in a
fresh subprocess and reports its peak resident memory (VmHWM): the whole process, imports and both
models included.

- ``whole``: ``logits_per_chunk=0``, the LM head's ``[tokens, vocabulary]`` fp32 logits at once (the
  path before chunking);
- ``chunked``: the default ``logits_per_chunk`` (2**25 values: ~220 tokens of this vocabulary per chunk).

The whole-logits step needs about 2.5 GiB more per 1,000 tokens; a size whose estimate exceeds the memory
available now is skipped (and said so) rather than risking the machine's other work.

    python bench/logprob_memory.py [--tokens 1024,2048,3840] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import train_common as common

VOCAB = 151_936
WHOLE_BYTES_PER_TOKEN = 2.7 * 2**30 / 1000  # measured: the whole-logits peak grows ~2.5 GiB per 1,000 tokens


def build_model(folder: Path, preset: str = "nano") -> Path:
    """A tiny preset with Qwen's vocabulary; the tokenizer is ponder's tiny one (ids below 1,024)."""
    if (folder / "model.safetensors").exists():
        return folder
    import torch
    from transformers import AutoTokenizer, Qwen2ForCausalLM

    from ponder.models.tiny import build_tiny_model, make_config

    build_tiny_model(folder, preset, seed=0)
    tok = AutoTokenizer.from_pretrained(str(folder))
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(make_config(preset, VOCAB, tok.eos_token_id, tok.pad_token_id))
    model.save_pretrained(folder)
    return folder


def build_pair(model_dir: Path, tokens: int, path: Path) -> int:
    """One pair of about ``tokens`` tokens: prompt 10%, chosen 50%, rejected 40%. Returns the packed size."""
    from ponder.records import Pair
    from ponder.tasks.synthetic import corpus
    from ponder.train.encode import Encoder, Where
    from ponder.train.model import load_tokenizer

    tok = load_tokenizer(model_dir)
    words = " ".join(t for _, t in zip(range(4000), corpus(), strict=False)).split(" ")

    def text(n_tokens: int, offset: int) -> str:
        out, k = [], offset
        while len(tok(" ".join(out), add_special_tokens=False)["input_ids"]) < n_tokens:
            out.extend(words[k : k + 50])
            k += 50
        return " ".join(out)

    pair = {
        "id": "p0",
        "prompt": text(tokens // 10, 0),
        "chosen": text(tokens // 2, 5000),
        "rejected": text(tokens * 2 // 5, 20000),
    }
    path.write_text(json.dumps(pair) + "\n", encoding="utf-8")
    group = Encoder(tok).encode_pair(Pair(**pair), Where(path, 1))
    return group.num_tokens()


def child(args) -> None:
    """One DPO step in this process; prints the peak RSS."""
    common.setup(args.threads)
    from ponder.recipes import dpo
    from ponder.train.metrics import peak_rss_bytes

    cfg = dpo.DPOConfig(
        model=args.model,
        data=[args.data],
        output=args.out,
        pairs_per_step=1,
        max_steps=1,
        tokens_per_microbatch=8192,
        tensorboard=False,
        logits_per_chunk=args.logits_per_chunk,
    )
    summary = dpo.run(cfg)
    print(json.dumps({"peak": peak_rss_bytes(), "loss": summary["final"]["loss"]}))


def measure(model_dir: Path, data: Path, out: Path, per_chunk: int, threads: int) -> dict:
    argv = [sys.executable, __file__, "--child", "--model", str(model_dir), "--data", str(data)]
    argv += ["--out", str(out), "--logits-per-chunk", str(per_chunk), "--threads", str(threads)]
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        return {"error": r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"}
    return json.loads(r.stdout.strip().splitlines()[-1])


def available_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", default="1024,2048,3840", help="packed sizes of the pair, comma-separated")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--logits-per-chunk", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return 0
    from ponder.train.chunked import LOGITS_PER_CHUNK

    gib = 2**30
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir = build_model(tmp / "model")
        for n in (int(x) for x in args.tokens.split(",")):
            data = tmp / f"pair-{n}.jsonl"
            packed = build_pair(model_dir, n, data)
            row = {"tokens": packed}
            for name, per_chunk in (("chunked", LOGITS_PER_CHUNK), ("whole", 0)):
                need = packed * WHOLE_BYTES_PER_TOKEN + gib if per_chunk == 0 else 2 * gib
                if need > 0.8 * available_bytes():
                    row[name] = {
                        "skipped": f"needs ~{need / gib:.0f} GiB, {available_bytes() / gib:.0f} available"
                    }
                else:
                    row[name] = measure(model_dir, data, tmp / f"out-{name}-{n}", per_chunk, args.threads)
                print(n, name, row[name], flush=True)
            rows.append(row)

    print("\n| packed tokens | whole logits: peak RSS | chunked: peak RSS | loss (whole / chunked) |")
    print("|---|---|---|---|")

    def cell(m):
        return f"{m['peak'] / gib:.2f} GiB" if "peak" in m else m.get("skipped") or m.get("error")

    last_ratio = None
    for row in rows:
        w, c = row["whole"], row["chunked"]
        losses = " / ".join(f"{m['loss']:.6f}" if "loss" in m else "-" for m in (w, c))
        print(f"| {row['tokens']} | {cell(w)} | {cell(c)} | {losses} |")
        if "peak" in w and "peak" in c:
            last_ratio = w["peak"] / c["peak"]
    print(f"ratio: {last_ratio:.2f}" if last_ratio else "ratio: n/a")
    return 0


if __name__ == "__main__":
    sys.exit(main())
