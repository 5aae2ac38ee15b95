"""One RL update pass over Thinker dialogues: each dialogue packed once against each stage packed alone.

Thinker-shaped samples from neighbour-sum problems (the texts of ``ponder demo thinker``): every dialogue has
a fast answer and its check; ``--slow-share`` of them (wrong fast answers) go on to Slow Thinking and a
summary. Each stage's answer is one RL sample whose prompt is the dialogue before it.

- ``dialogue``: :func:`ponder.recipes.rl.batch.encode_samples` as the RL recipe calls it -- the stages of one
  dialogue are one sequence, each answer a scored sequence of it;
- ``stage by stage`` (the peer): the same function with every sample in an episode of its own, so each stage
  re-reads the dialogue before it (samples with the same prompt still share it).

Both run forward and backward over the same samples on the ``nano`` model in micro-batches of
``tokens_per_microbatch`` tokens, ``--repeats`` times; the script prints packed tokens, the fastest pass, the
ratio, and the largest difference of a sample's summed log-prob between the two layouts.

    python bench/rl_dialogue_packing.py [--dialogues 128] [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import tempfile
import time
from pathlib import Path


def thinker_samples(n: int, slow_share: float, seed: int = 0):
    """``n`` dialogues of RL samples: every assistant turn of the demo's SFT dialogues, in stage order."""
    from ponder.config import load_config
    from ponder.demos.thinker import CONFIG
    from ponder.demos.thinker_data import verify_record, wrong_answer_record
    from ponder.recipes.rl.batch import RLSample
    from ponder.recipes.rl.config import RLConfig
    from ponder.tasks.neighbour_sum import NeighbourSumTask, neighbour_sum

    cfg = load_config(RLConfig, CONFIG, ["model=-", "data=-", "output=-"])
    task, rng = NeighbourSumTask(fast_lines=2, whole_search=True), random.Random(seed)
    samples = []
    for e, p in enumerate(neighbour_sum(n, seed)):
        if rng.random() < slow_share:
            messages = wrong_answer_record(p, cfg.thinker, task, task.distractor(p, rng))["messages"]
        else:
            messages = verify_record(p, cfg.thinker, task, task.fast(p))["messages"]
        stages = iter(("fast", "verify", "slow", "summary"))
        for i, m in enumerate(messages):
            if m["role"] == "assistant":
                prompt = [{k: v for k, v in x.items() if k != "weight"} for x in messages[:i]]
                samples.append(RLSample(prompt, m["content"], False, 0.0, next(stages), (e, ""), e))
    return samples


def one_pass(model, enc, tokens_per_microbatch: int) -> tuple[float, dict]:
    """Forward and backward over every group; returns (seconds, per-sample summed log-prob)."""
    from ponder.recipes.rl.batch import microbatches, split
    from ponder.train.logprobs import logprobs

    sums = {}
    model.zero_grad()
    t0 = time.perf_counter()
    for sids, batch in microbatches(enc, range(len(enc.groups)), tokens_per_microbatch):
        lp = logprobs(model, batch).tokens
        lp.sum().backward()
        for s, piece in zip(sids, split(lp.detach(), batch.lengths), strict=True):
            sums[s] = float(piece.sum())
    return time.perf_counter() - t0, sums


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dialogues", type=int, default=128)
    ap.add_argument("--slow-share", type=float, default=0.45)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--tokens-per-microbatch", type=int, default=8192)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import torch

    from ponder.models.tiny import build_tiny_model
    from ponder.recipes.rl.batch import encode_samples
    from ponder.train.encode import Encoder
    from ponder.train.model import load_model, load_tokenizer

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder = build_tiny_model(Path(tmp) / "nano", "nano", seed=0)
        model, encoder = load_model(folder), Encoder(load_tokenizer(folder))
    samples = thinker_samples(args.dialogues, args.slow_share)
    alone = [dataclasses.replace(s, episode=i) for i, s in enumerate(samples)]
    layouts = {"dialogue": encode_samples(encoder, samples), "stage by stage": encode_samples(encoder, alone)}
    rows, sums = {}, {}
    for name, enc in layouts.items():
        tokens = sum(g.num_tokens() for g in enc.groups)
        times = []
        for _ in range(args.repeats):
            t, sums[name] = one_pass(model, enc, args.tokens_per_microbatch)
            times.append(t)
        rows[name] = (tokens, min(times))
    diff = max(abs(sums["dialogue"][i] - sums["stage by stage"][i]) for i in sums["dialogue"])
    print(f"{len(samples)} samples from {args.dialogues} dialogues, {args.threads} thread(s)")
    print(f"{'layout':<16}{'packed tokens':>14}{'fastest pass (s)':>18}")
    for name, (tokens, t) in rows.items():
        print(f"{name:<16}{tokens:>14,}{t:>18.3f}")
    (tok_d, t_d), (tok_s, t_s) = rows["dialogue"], rows["stage by stage"]
    print(f"largest difference of a sample's summed log-prob: {diff:.2e}")
    print(f"ratio (stage by stage / dialogue): tokens {tok_s / tok_d:.2f}, time {t_s / t_d:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
