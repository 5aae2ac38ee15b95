"""Process preference pairs on solution prefixes (PFPO's pDPO), from labelled samples.

Four steps, each visible in its own file so a run can be inspected and resumed:

1. **prefixes** (:mod:`ponder.pairs.prefixes`): cut points drawn from each problem's sampled solutions;
2. **completions**: each prefix is continued ``completions_per_prefix`` (3) times by the model through the
   :class:`~ponder.generation.Generator` contract, with a *raw* prompt = the rendered chat prompt with its
   generation prompt followed by the prefix, no separator (``render_prompt(tokenizer, messages, prefix)``),
   so the model writes the rest of the same assistant turn. The vLLM backend caches the shared prompt and
   prefix tokens (prefix caching is on there); the hf backend computes each row's prompt afresh.
   Written to ``NAME.completions.jsonl``, one record per problem, resumable;
3. **values**: a prefix's value is the number of its completions whose final answer (read from prefix +
   completion) reaches the problem's label -- an estimate of how likely the prefix leads to the label;
4. **pairs**: a prefix is positive when its value is at least ``value_threshold`` (the authors used 2 at
   iteration 0, 1 later), negative otherwise; positives and negatives of a problem are paired by a rule of
   :mod:`ponder.pairs.pairing`. Chosen and rejected are *prefixes*: ``meta.prefix`` is true, so the
   trainer appends no end-of-turn token to them.

The label is the only feedback used: a gold answer never enters the values.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from ponder.config import at_least, option
from ponder.errors import PonderError
from ponder.feedback.labels import Labelled, matches, read_labelled, summary_path
from ponder.generation import Generator, render_prompt
from ponder.generation.backend import BackendSettings, model_identity
from ponder.io import StageWriter, write_json
from ponder.pairs.outcome import PAIRING_HELP, Pairing, PairSummary, make_pair
from ponder.pairs.pairing import pair_indices, problem_rng
from ponder.pairs.prefixes import Prefix, all_same_answer, completion_sampling, prefix_value, problem_prefixes
from ponder.progress import in_chunks
from ponder.ranks import on_main, shared_output
from ponder.records import iter_json_objects
from ponder.verify.rules import extract_with


@dataclass(frozen=True)
class ProcessSettings:
    """How ``ponder pairs process`` cuts, completes, values and pairs prefixes (defaults: the authors')."""

    upper_step_ratio: float = option(0.7, help="Cut only in the first share of steps (non-empty lines).")
    sample_ratio: float = option(0.3, help="Share of candidate steps cut per response.")
    max_prefixes_per_problem: int = option(10, help="Cap on the prefixes pooled per problem.")
    min_steps: int = option(5, help="Responses with fewer non-empty lines are not cut.")
    filter_all_same: bool = option(
        True,
        flag="--filter-all-same/--keep-all-same",
        help="Skip problems whose answers all agree (--keep-all-same cuts them too).",
    )
    completions_per_prefix: int = option(
        3, help="Completions sampled per prefix; a prefix's value counts hits."
    )
    temperature: float = option(1.0, help="Temperature of the completions.")
    top_p: float = option(0.9, help="Nucleus mass of the completions.")
    max_new_tokens: int = option(2048, help="Token budget per completion.")
    value_threshold: int = option(
        1,
        help="A prefix is positive when its value is at least this (the authors: 2 with gold labels at "
        "iteration 0, 1 or 2 with self-consistency).",
    )
    pairing: Pairing = option("each_positive", help=PAIRING_HELP)
    closest_k: int = option(5, help="closest_steps: negatives considered.")
    draws: int = option(1, help="Independent random pairings written (one per training epoch).")
    rule: Literal["math", "boxed", "number", "choice"] = option(
        "boxed", help="How answers are read: math, boxed, number or choice (the label's rule)."
    )
    seed: int = option(0, help="Seed of the cuts, the completions and the pairing.")
    chunk_problems: int = option(64, help="Problems whose prefixes go to the model together.")

    def __post_init__(self) -> None:
        if not 0 < self.upper_step_ratio <= 1:
            raise ValueError(f"upper_step_ratio must be in (0, 1], got {self.upper_step_ratio}")
        if not 0 < self.sample_ratio <= 1:
            raise ValueError(f"sample_ratio must be in (0, 1], got {self.sample_ratio}")
        names = ("max_prefixes_per_problem", "min_steps", "completions_per_prefix", "closest_k", "draws")
        at_least(self, 1, *names, "chunk_problems")
        if not 0 <= self.value_threshold <= self.completions_per_prefix:
            raise ValueError(
                f"value_threshold must be in [0, {self.completions_per_prefix}] "
                f"(the completions per prefix), got {self.value_threshold}"
            )


_PAIRING_ONLY = frozenset({"value_threshold", "pairing", "closest_k", "draws", "chunk_problems"})


def completions_path(output: str | Path) -> Path:
    output = Path(output)
    return output.with_name(f"{output.stem}.completions.jsonl")


def completion_scores(prefix: str, completions: list[str], label: str, rule: str) -> tuple[list[bool], list]:
    """``(scores, preds)``: whether each completion reaches ``label`` (the answer is read from prefix +
    completion, so the last answer written counts), and the answer of each."""
    preds = [extract_with(rule, prefix + c) for c in completions]
    return [matches(p, label) for p in preds], preds


def messages_of(prompt: Any) -> list[dict]:
    """The chat messages of a sample's prompt (a text prompt is one user message, as when it was sampled)."""
    return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)


def _prefixes_of(item: Labelled, s: ProcessSettings) -> tuple[list[Prefix], str | None]:
    sample = item.sample
    if s.filter_all_same and all_same_answer(sample.preds or [None] * len(sample.responses)):
        return [], "all answers the same"
    prefixes = problem_prefixes(
        sample.responses,
        sample.preds or [None] * len(sample.responses),
        upper_step_ratio=s.upper_step_ratio,
        sample_ratio=s.sample_ratio,
        max_prefixes_per_problem=s.max_prefixes_per_problem,
        min_steps=s.min_steps,
        filter_all_same=False,
        rng=problem_rng("prefix", s.seed, 0, sample.id),
    )
    return prefixes, (None if prefixes else "no response with enough steps")


def complete_prefixes(
    items: list[Labelled], output: str | Path, generator: Generator, tokenizer: Any, s: ProcessSettings
) -> None:
    """Step 1-3: prefixes, their completions and values, one record per problem in ``output`` (resumable)."""
    params = completion_sampling(s)
    # Pairing options do not change completions: changing them re-pairs without completing again.
    settings = {k: v for k, v in asdict(s).items() if k not in _PAIRING_ONLY}
    settings["model"] = model_identity(generator)
    with shared_output(output, [it.id for it in items], settings=settings) as (writer, mine):
        share = [items[i] for i in mine]
        todo = [it for it in share if not writer.has(it.id, it)]
        chunks = in_chunks(
            todo, s.chunk_problems, total=len(share), desc="prefix completions", unit="problem"
        )
        for chunk, bar in chunks:
            _complete_chunk(chunk, writer, generator, tokenizer, params, s, bar)


def _complete_chunk(chunk, writer, generator, tokenizer, params, s: ProcessSettings, bar) -> None:
    records: list[dict] = []
    prompts: list[str] = []
    owner: list[tuple[int, int]] = []  # (record, prefix) of each prompt
    for item in chunk:
        prefixes, reason = _prefixes_of(item, s)
        rec = {"id": item.id, "prompt": item.sample.prompt, "label": item.label, "prefixes": []}
        if reason:
            rec["skip_reason"] = reason
        for p in prefixes:
            rec["prefixes"].append({"text": p.text, "response_index": p.response_index, "steps": p.steps})
            prompts.append(render_prompt(tokenizer, messages_of(item.sample.prompt), p.text))
            owner.append((len(records), len(rec["prefixes"]) - 1))
        records.append(rec)
    remaining = [len(r["prefixes"]) for r in records]

    def finish(r: int) -> None:
        writer.write(records[r])
        bar.update(1)

    for r, n in enumerate(remaining):
        if n == 0:
            finish(r)
    for i, comps in generator.generate_iter(prompts, params):
        r, k = owner[i]
        entry = records[r]["prefixes"][k]
        entry["completions"] = [x.text for x in comps]
        entry["finish_reasons"] = [x.finish_reason for x in comps]
        entry["num_tokens"] = [x.num_tokens for x in comps]
        scores, entry["preds"] = completion_scores(
            entry["text"], entry["completions"], records[r]["label"], s.rule
        )
        entry["value"] = prefix_value(scores, "sum")
        remaining[r] -= 1
        if remaining[r] == 0:
            finish(r)


def process_pairs(record: dict, s: ProcessSettings, draw: int = 0) -> list:
    """Step 4 for one problem record of the completions file: prefix pairs by value."""
    prefixes = record["prefixes"]
    pos = [i for i, p in enumerate(prefixes) if p["value"] >= s.value_threshold]
    neg = [i for i, p in enumerate(prefixes) if p["value"] < s.value_threshold]
    steps = [p["steps"] for p in prefixes]
    rng = problem_rng("process", s.seed, draw, record["id"])
    out = []
    texts = [p["text"] for p in prefixes]
    pairs = pair_indices(pos, neg, s.pairing, rng, steps=steps, closest_k=s.closest_k, texts=texts)
    for k, (c, r) in enumerate(pairs):
        meta = {
            "kind": "process",
            "prefix": True,
            "problem": record["id"],
            "label": record["label"],
            "chosen_value": prefixes[c]["value"],
            "rejected_value": prefixes[r]["value"],
            "chosen_steps": prefixes[c]["steps"],
            "rejected_steps": prefixes[r]["steps"],
            "draw": draw,
        }
        out.append(
            make_pair(
                f"{record['id']}:p{k}.d{draw}",
                record["prompt"],
                prefixes[c]["text"],
                prefixes[r]["text"],
                meta,
            )
        )
    return out


def build_process_pairs(
    input_path: str | Path,
    output_path: str | Path,
    model: str | Generator,
    settings: ProcessSettings = ProcessSettings(),
    *,
    backend: BackendSettings = BackendSettings(),
    tokenizer: Any = None,
) -> PairSummary:
    """The ``pairs process`` stage: prefixes -> completions -> values -> pairs for every labelled problem of
    ``input_path``, completed by ``model`` (the sampling model: a name, opened with ``backend``, or a Generator;
    its chat template renders the prompts unless ``tokenizer`` is given).

    Writes ``output_path`` (the pairs), ``NAME.completions.jsonl`` (prefixes, completions, values) and
    ``NAME.summary.json``; a killed run resumes from the completions already written.
    """
    if Path(output_path).resolve() == Path(input_path).resolve():
        raise PonderError("--output must differ from --input")
    items = list(read_labelled(input_path))  # validates the whole file before any output exists
    with backend.use(model) as generator:
        if tokenizer is None:
            tokenizer = backend.chat_tokenizer(generator, model if isinstance(model, str) else "")
        if getattr(tokenizer, "chat_template", None) is None:
            raise PonderError(
                "the tokenizer has no chat template; process pairs continue a rendered chat prompt"
            )
        comp_path = completions_path(output_path)
        complete_prefixes(items, comp_path, generator, tokenizer, settings)
    return on_main(_pairs_from_completions, comp_path, output_path, settings, labelled=len(items))


def _pairs_from_completions(comp_path: Path, output_path: str | Path, s: ProcessSettings, labelled: int):
    summary = PairSummary("process")
    values: Counter = Counter()
    pairs = []
    summary.bump("labelled problems", labelled)
    skipped: Counter = Counter()
    records = (rec for _, rec in iter_json_objects(comp_path)) if comp_path.stat().st_size else ()
    for rec in records:  # an empty file: no labelled problem this time
        prefixes = rec["prefixes"]
        if rec.get("skip_reason"):
            skipped[rec["skip_reason"]] += 1
            continue
        summary.bump("problems with prefixes")
        summary.bump("prefixes", len(prefixes))
        summary.bump("completions", sum(len(p["completions"]) for p in prefixes))
        summary.bump("completion tokens", sum(sum(p["num_tokens"]) for p in prefixes))
        n_pos = sum(p["value"] >= s.value_threshold for p in prefixes)
        summary.bump("positive prefixes", n_pos)
        summary.bump("negative prefixes", len(prefixes) - n_pos)
        if n_pos and n_pos < len(prefixes):
            summary.bump("problems with both")
        values.update(p["value"] for p in prefixes)
        for draw in range(s.draws):
            pairs += process_pairs(rec, s, draw)
    for reason, n in sorted(skipped.items()):
        summary.stages[f"skipped: {reason}"] = n
    summary.bump("pairs", len(pairs))
    with StageWriter(output_path, drop_unchecked=True) as writer:
        for p in pairs:
            if not writer.has(p.id, p):
                writer.write(p)
    summary.extra = {
        "value_histogram": {str(v): values.get(v, 0) for v in range(s.completions_per_prefix + 1)},
        "value_threshold": s.value_threshold,
        "pairing": s.pairing,
        "draws": s.draws,
    }
    write_json(summary_path(output_path), summary.to_dict())
    return summary
