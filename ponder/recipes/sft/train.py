"""Supervised fine-tuning: config, setup, loop, checkpoint, report.

``run(SFTConfig(...))`` trains on prompt-completion, conversational, ponder-sample or pair files (see
:mod:`ponder.train.data`) with the token-mean NLL of the response tokens (:mod:`ponder.losses.sft`), packed
without padding; ``ponder train sft`` is the same from the command line.
"""

from __future__ import annotations

import functools

import torch

from ponder.errors import PonderError
from ponder.losses.sft import sft_loss
from ponder.recipes.sft.config import SFTConfig
from ponder.records import Pair, Sample
from ponder.train import run as trainer
from ponder.train.data import Conversation, PromptCompletion, parse_sources, read_sft_records
from ponder.train.encode import Encoder, Where
from ponder.train.logprobs import logprobs
from ponder.train.packing import PromptGroup, TokenBatch


def run(cfg: SFTConfig) -> dict:
    """Train; return the summary (also written to ``OUTPUT/summary.json``)."""
    # ------------------------------------------------------------------ setup
    r, done = trainer.begin(cfg)
    if done is not None:
        return done  # this run already finished: nothing left to do
    sources = parse_sources(cfg.data)
    files = [encode_sft_file(src.path, r.encoder, cfg.sample_filter) for src in sources]
    trainer.schedule(r, [len(f) for f in files], [s.ratio for s in sources], cfg.examples_per_step)
    trainer.trainable(r)

    # ------------------------------------------------------------------ loop
    tokens_seen = 0
    for step in trainer.loop(r, "sft"):
        groups = [files[f][i] for f, i in r.schedule.items(step.index)]
        # token-mean over the whole step: every micro-batch divides by the step's response-token count
        scored = sum(g.scored(0) for g in groups)
        loss_fn = functools.partial(_microbatch_loss, r.model, scored, r.acc.num_processes)
        t, grad_norm = trainer.update(r, trainer.microbatches(r, groups), loss_fn, STATS)
        tokens_seen += int(t["tokens"])
        step.record = {
            "loss": t["nll"] / scored,
            "examples": int(t["examples"]),
            "response_tokens": scored,
            "tokens": int(t["tokens"]),
            "grad_norm": grad_norm,
        }

    # ------------------------------------------------------------------ final model and report
    return trainer.finish(r, "sft", tokens=tokens_seen, examples=[len(f) for f in files])


STATS = ("nll", "examples", "tokens")


def _microbatch_loss(
    model, scored: int, scale: float, indices: list[int], batch: TokenBatch
) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss share and statistics of one micro-batch; ``scored``: response tokens of the whole step."""
    tokens = logprobs(model, batch).tokens
    stats = {"nll": -float(tokens.detach().sum()), "examples": len(indices), "tokens": batch.num_tokens}
    return sft_loss(tokens, num_tokens=scored) * scale, stats


def encode_sft_file(path: str, encoder: Encoder, sample_filter: str = "all") -> list[PromptGroup]:
    """Every training example of an SFT file as a one-response prompt group."""
    groups: list[PromptGroup] = []
    for line, rec in read_sft_records(path):
        where = Where(path, line)
        if isinstance(rec, Conversation):
            found = [encoder.encode_conversation(rec.messages, where)]
        elif isinstance(rec, PromptCompletion):
            found = [encoder.encode(rec.prompt, [rec.completion], where, ["completion"])]
        elif isinstance(rec, Pair):
            prefix = bool((rec.meta or {}).get("prefix", False))
            found = [encoder.encode(rec.prompt, [rec.chosen], where, ["chosen"], prefix=prefix)]
        else:
            found = _sample_examples(rec, encoder, where, sample_filter)
        groups.extend(g for g in found if g is not None)
    if not groups:
        raise PonderError(f"{path}: no example left to train on (filtered out, or all over max_length)")
    return groups


def _sample_examples(
    rec: Sample, encoder: Encoder, where: Where, sample_filter: str
) -> list[PromptGroup | None]:
    if sample_filter == "correct" and rec.correct is None:
        raise where.error("sample_filter=correct needs graded samples (run ponder grade first)", "correct")
    out = []
    for k, response in enumerate(rec.responses):
        if sample_filter == "correct" and not rec.correct[k]:
            continue
        # A response cut at its token budget did not end its turn: train it as a prefix, without end-of-turn.
        prefix = rec.finish_reasons[k] == "length"
        out.append(encoder.encode(rec.prompt, [response], where, [f"responses[{k}]"], prefix=prefix))
    return out
