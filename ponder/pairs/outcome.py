"""Outcome preference pairs from labelled samples (PFPO's outcome DPO).

Per problem, positives are the responses that reach the label (``positive[i]``), negatives the rest;
problems with no positive or no negative give nothing. Positives and negatives are paired by one of the
rules of :mod:`ponder.pairs.pairing`. The authors redraw the random pairing each training epoch; here
``draws`` independent drawings are written to one file (pair ids end in ``.dDRAW``), so one pass over the
file with the trainer equals ``draws`` epochs with a fresh drawing each.

Pairs are in TRL's preference format: for a conversational prompt (a list of messages), chosen and rejected
are one assistant message each; for a text prompt they are text. ``meta`` records the problem, the label,
the response indices, the draw and, when the samples carry gold grades, whether each side is correct
(``chosen_correct`` / ``rejected_correct``) -- for measuring pair quality only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ponder.config import option
from ponder.errors import PonderError
from ponder.feedback.labels import Labelled, read_labelled, summary_path
from ponder.io import StageWriter, write_json
from ponder.pairs.pairing import count_steps, pair_indices, problem_rng
from ponder.ranks import main_only
from ponder.records import Pair, PromptLike

Pairing = Literal["each_positive", "one_per_problem", "closest_steps", "shared_prefix"]
PAIRING_HELP = (
    "each_positive (every positive, a random negative), one_per_problem, closest_steps, or shared_prefix "
    "(every negative, the positive sharing the longest beginning with it)."
)


@dataclass(frozen=True)
class OutcomeSettings:
    """How ``ponder pairs outcome`` pairs responses reaching the label with the others."""

    pairing: Pairing = option("each_positive", help=PAIRING_HELP)
    draws: int = option(1, help="Independent random pairings written (one per training epoch).")
    closest_k: int = option(5, help="closest_steps: negatives considered.")
    seed: int = option(0, help="Seed of the random pairing.")

    def __post_init__(self) -> None:
        if self.draws < 1 or self.closest_k < 1:
            raise ValueError("draws and closest_k must be >= 1")


def make_pair(pair_id: str, prompt: PromptLike, chosen: str, rejected: str, meta: dict) -> Pair:
    """A TRL preference pair: conversational when the prompt is a list of messages."""
    if isinstance(prompt, list):
        return Pair(
            id=pair_id,
            prompt=prompt,
            chosen=[{"role": "assistant", "content": chosen}],
            rejected=[{"role": "assistant", "content": rejected}],
            meta=meta,
        )
    return Pair(id=pair_id, prompt=prompt, chosen=chosen, rejected=rejected, meta=meta)


def outcome_pairs(
    item: Labelled, *, pairing: str = "each_positive", seed: int = 0, draw: int = 0, closest_k: int = 5
) -> list[Pair]:
    """The outcome pairs of one labelled problem for one drawing."""
    s = item.sample
    pos = [i for i, ok in enumerate(item.positive) if ok]
    neg = [i for i, ok in enumerate(item.positive) if not ok]
    steps = [count_steps(r) for r in s.responses] if pairing == "closest_steps" else None
    rng = problem_rng("outcome", seed, draw, s.id)
    out = []
    pairs = pair_indices(pos, neg, pairing, rng, steps=steps, closest_k=closest_k, texts=s.responses)
    for k, (c, r) in enumerate(pairs):
        meta = {
            "kind": "outcome",
            "problem": s.id,
            "label": item.label,
            "chosen_index": c,
            "rejected_index": r,
            "draw": draw,
        }
        if s.correct is not None:
            meta["chosen_correct"] = s.correct[c]
            meta["rejected_correct"] = s.correct[r]
        for side, i in (("chosen", c), ("rejected", r)):
            if s.finish_reasons[i] == "length":  # cut by the budget: trained without an end-of-turn token
                meta[f"{side}_prefix"] = True
        out.append(make_pair(f"{s.id}:o{k}.d{draw}", s.prompt, s.responses[c], s.responses[r], meta))
    return out


@dataclass
class PairSummary:
    """Counts per stage of a pair builder, printed and saved next to the pairs."""

    kind: str
    stages: dict[str, int] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def bump(self, key: str, n: int = 1) -> None:
        self.stages[key] = self.stages.get(key, 0) + n

    def to_dict(self) -> dict:
        return {"kind": self.kind, "stages": dict(self.stages), **self.extra}

    def lines(self) -> list[str]:
        width = max((len(k) for k in self.stages), default=0)
        out = [f"{self.kind} pairs:"]
        out += [f"  {k.ljust(width)}  {v}" for k, v in self.stages.items()]
        for key, value in self.extra.items():
            if isinstance(value, dict):
                out.append(f"  {key}: " + ", ".join(f"{k}: {v}" for k, v in value.items()))
            elif value is not None:
                out.append(f"  {key}: {value:.4f}" if isinstance(value, float) else f"  {key}: {value}")
        return out


def gold_pair_accuracy(pairs: list[Pair]) -> float | None:
    """Share of pairs whose chosen side is correct and rejected side wrong by gold (None without gold)."""
    graded = [p.meta for p in pairs if "chosen_correct" in p.meta and "rejected_correct" in p.meta]
    if not graded:
        return None
    return sum(m["chosen_correct"] and not m["rejected_correct"] for m in graded) / len(graded)


@main_only
def build_outcome_pairs(
    input_path: str | Path, output_path: str | Path, settings: OutcomeSettings = OutcomeSettings()
) -> PairSummary:
    """Write the outcome pairs of every labelled problem of ``input_path`` (resumable); return the summary,
    also saved as ``NAME.summary.json`` next to the output."""
    pairing, draws, seed, closest_k = settings.pairing, settings.draws, settings.seed, settings.closest_k
    if Path(output_path).resolve() == Path(input_path).resolve():
        raise PonderError("--output must differ from --input")
    items = list(read_labelled(input_path))  # validates the whole file before any output exists
    summary = PairSummary("outcome")
    all_pairs: list[Pair] = []
    summary.bump("labelled problems", len(items))
    for item in items:
        n_pos = sum(item.positive)
        n_neg = len(item.positive) - n_pos
        summary.bump("responses", len(item.positive))
        summary.bump("positive responses", n_pos)
        summary.bump("negative responses", n_neg)
        if n_pos == 0:
            summary.bump("problems without a positive")
        if n_neg == 0:
            summary.bump("problems without a negative")
        if n_pos and n_neg:
            summary.bump("problems with both")
        for draw in range(draws):
            all_pairs += outcome_pairs(item, pairing=pairing, seed=seed, draw=draw, closest_k=closest_k)
    summary.bump("pairs", len(all_pairs))
    with StageWriter(output_path, drop_unchecked=True) as writer:
        for p in all_pairs:
            if not writer.has(p.id, p):  # a pair that changed since it was written is replaced
                writer.write(p)
    summary.extra = {"pairing": pairing, "draws": draws, "gold_pair_accuracy": gold_pair_accuracy(all_pairs)}
    write_json(summary_path(output_path), summary.to_dict())
    return summary
