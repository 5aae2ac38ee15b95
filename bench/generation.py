"""Generation speed: ponder's hf backend against transformers' own ``model.generate``, side by side.

Same tiny model (built locally), same prompts (synthetic problems through the chat template), same batch of
sequences, same sampling (temperature 1, top-p 1) and token budget. Speed = generated tokens (eos included, up
to the budget) per wall-clock second; runs alternate between the two and the best of ``--repeats`` is kept.

    python bench/generation.py [--preset micro] [--prompts 32] [--n 4] [--max-new-tokens 128] [--threads 2]

Last line: ``ratio: X`` = ponder tokens/s / transformers tokens/s.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="micro")
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch
    from transformers.utils import logging

    from ponder.generation.base import SamplingParams
    from ponder.generation.hf import HFGenerator
    from ponder.models.tiny import build_tiny_model
    from ponder.tasks.synthetic import make

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    torch.set_num_threads(args.threads)
    rows = args.prompts * args.n
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_tiny_model(Path(tmp) / "m", args.preset, seed=0)
        gen = HFGenerator(model_dir, batch_size=rows)
        tok, model = gen.tokenizer, gen.model
        prompts = [[{"role": "user", "content": p.prompt}] for p in make("arithmetic", args.prompts, seed=0)]
        params = SamplingParams(
            n=args.n, temperature=1.0, top_p=1.0, max_new_tokens=args.max_new_tokens, seed=0
        )
        texts = [gen.prompt_text(p) for p in prompts]
        tok.padding_side = "left"
        enc = tok(texts, add_special_tokens=False, return_tensors="pt", padding=True)
        eos = sorted(gen.eos_ids)

        def ponder_run() -> tuple[int, float]:
            start = time.perf_counter()
            out = gen.generate(prompts, params)
            return sum(c.num_tokens for comps in out for c in comps), time.perf_counter() - start

        def hf_run() -> tuple[int, float]:
            start = time.perf_counter()
            with torch.inference_mode():
                out = model.generate(
                    **enc,
                    do_sample=True,
                    temperature=1.0,
                    top_p=1.0,
                    top_k=0,
                    max_new_tokens=args.max_new_tokens,
                    num_return_sequences=args.n,
                    eos_token_id=eos,
                    pad_token_id=gen.pad_id,
                )
            seconds = time.perf_counter() - start
            new = out[:, enc.input_ids.shape[1] :]
            # Tokens up to and including the first eos of each row; what follows is padding.
            is_eos = torch.isin(new, torch.tensor(eos))
            ended = is_eos.any(dim=1)
            first = torch.where(
                ended, is_eos.int().argmax(dim=1) + 1, torch.full_like(ended, new.shape[1], dtype=torch.long)
            )
            return int(first.sum()), seconds

        best = {"ponder": 0.0, "transformers": 0.0}
        ponder_run(), hf_run()  # warm-up
        for _ in range(args.repeats):
            for name, fn in (("ponder", ponder_run), ("transformers", hf_run)):
                tokens, seconds = fn()
                best[name] = max(best[name], tokens / seconds)
    print(
        f"model {args.preset}, {args.prompts} prompts x {args.n} samples, {args.max_new_tokens} new tokens, "
        f"batch {rows}, {args.threads} threads"
    )
    print(f"ponder hf backend:           {best['ponder']:8.0f} tokens/s")
    print(f"transformers model.generate: {best['transformers']:8.0f} tokens/s")
    print(f"ratio: {best['ponder'] / best['transformers']:.2f}")


if __name__ == "__main__":
    main()
