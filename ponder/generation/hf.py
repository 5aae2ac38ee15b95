"""The default backend: transformers models, batched, with a KV cache and our own sampling loop.

Why our own loop rather than ``model.generate``: each sequence ("row" = one sample of one prompt) draws its
random numbers from its own ``torch.Generator`` seeded by ``sample_seed(seed, prompt_text, sample_index)``,
and sampling is done per row (Gumbel-max, see :func:`sample_next`). A row's tokens therefore do not depend
on which other rows share its batch, the batch size or the order of prompts -- up to floating point: a
different batch can change logits in the last bits, which flips a draw about once in millions of tokens -- so
a resumed run reproduces an uninterrupted one, and per-row budgets, temperatures and stop strings come free.

Batching: rows are sorted by prompt length (longest first, so memory errors show up at once) and run
``batch_size`` at a time with left padding. Finished rows are dropped from the batch and the KV cache
(``Cache.batch_select_indices``) so a long straggler does not drag finished rows along.

Shapes: ``input_ids``/``attention_mask`` ``[rows, prompt_len]`` for the prefill, then ``[rows, 1]`` per step
with the mask growing to ``[rows, prompt_len + step]``; logits ``[rows, vocab]`` (float32 for sampling).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ponder.generation.base import (
    Completion,
    LocalGenerator,
    Prompt,
    SamplingParams,
    cut_at_stop,
    first_stop,
    sample_seed,
)

DTYPES = ("float32", "bfloat16")


@dataclass
class _Row:
    prompt: int  # index of the prompt
    sample: int  # index of the sample within the prompt
    ids: list[int]
    params: SamplingParams
    budget: int
    seed: int
    tokens: list[int] = field(default_factory=list)
    finish: str | None = None


def load_model(model_dir: str | Path, dtype: str = "float32", device: str = "cpu"):
    """Load a causal LM and its tokenizer (local folder or hub name) for inference, on ``device``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, dtype)).to(device)
    model.eval()
    return model, tok


def cache_keyword(model: Any) -> str:
    """The forward() keyword for the KV cache: ``cache`` from transformers 5.24, ``past_key_values`` before."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def eos_token_ids(model: Any, tokenizer: Any) -> set[int]:
    """Every token id that ends a turn: the tokenizer's eos plus the model's generation-config eos ids."""
    ids: set[int] = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    gc = getattr(model, "generation_config", None)
    eos = getattr(gc, "eos_token_id", None) if gc is not None else None
    if isinstance(eos, int):
        ids.add(eos)
    elif eos:
        ids.update(int(e) for e in eos)
    return ids


def sample_next(logits, temperature, top_p, generators: list) -> Any:
    """Next token per row: greedy where ``temperature == 0``, else temperature + nucleus (top-p) sampling.

    ``logits`` ``[rows, vocab]`` float32, ``temperature``/``top_p`` ``[rows]``; ``generators[r]`` is row r's
    ``torch.Generator`` and supplies ``vocab`` uniforms per sampled step. The nucleus is the smallest set of
    most likely tokens whose probability reaches ``top_p`` (stable sort; always at least the top token). The
    token is drawn by the Gumbel-max trick, ``argmax(logits / T + g)`` over the nucleus with
    ``g = -log(-log(u))``: exactly a draw from the renormalised nucleus.

    Why Gumbel-max rather than one uniform against the cumulative distribution: every operation is row-wise,
    but the logits themselves can differ in the last bits (~1e-7) when a row shares its batch with other
    rows (other kernels, other padding). Against a cumulative sum such noise flips the draw whenever the
    uniform lands within it of one of ``vocab`` boundaries (about vocab * 1e-7 per step for a flat
    distribution); with Gumbel-max the two best perturbed scores must be that close, and their gap is
    Exp(1)-distributed (about 1e-7 per step). Returns ``[rows]`` int64.
    """
    import torch

    out = logits.argmax(dim=-1)
    sampled = (temperature > 0).nonzero().squeeze(1)
    if sampled.numel() == 0:
        return out
    scaled = logits[sampled] / temperature[sampled, None]
    nucleus = top_p[sampled] < 1
    if nucleus.any():  # rows with top_p == 1 keep every token on either path
        probs = torch.softmax(scaled, dim=-1)
        sorted_p, order = probs.sort(dim=-1, descending=True, stable=True)
        keep_sorted = (sorted_p.cumsum(dim=-1) - sorted_p) < top_p[sampled, None]
        keep_sorted[:, 0] = True
        keep = torch.zeros_like(keep_sorted).scatter(1, order, keep_sorted)
        scaled = scaled.masked_fill(~keep, float("-inf"))
    vocab = logits.shape[-1]
    u = torch.stack([torch.rand(vocab, generator=generators[int(r)], device=logits.device) for r in sampled])
    gumbel = -torch.log(-torch.log(u.clamp_min(torch.finfo(u.dtype).tiny)))
    out[sampled] = (scaled + gumbel).argmax(dim=-1)
    return out


class HFGenerator(LocalGenerator):
    """Generate with a transformers causal LM.

    ``model``: a folder / hub name, or an already loaded model (e.g. the policy being trained; then pass
    ``tokenizer``). ``batch_size``: rows (sequences) per forward pass. ``dtype``: float32 or bfloat16 (bf16 is
    about 2x faster on CPUs with AVX-512 bf16; never use float16 on CPU). ``device``: where a model loaded here
    runs (``cpu``, ``cuda:0``, ...); a loaded model stays where it is.
    """

    name = "hf"

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        *,
        dtype: str = "float32",
        batch_size: int = 32,
        device: str = "cpu",
    ):
        super().__init__()
        import torch

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if isinstance(model, str | Path):
            model, loaded_tok = load_model(model, dtype, device)
            tokenizer = tokenizer or loaded_tok
        elif tokenizer is None:
            raise ValueError("pass the tokenizer together with a loaded model")
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.eos_ids = eos_token_ids(model, tokenizer)
        self._cache_kw = cache_keyword(model)
        if not self.eos_ids:
            raise ValueError(
                "the tokenizer and generation config define no eos token; generation could not stop"
            )
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else min(self.eos_ids))
        self.max_positions = getattr(model.config, "max_position_embeddings", None)
        self.device = next(model.parameters()).device
        self._torch = torch
        self._warned_long = False

    # ------------------------------------------------------------------ generation

    def generate_iter(
        self, prompts: Sequence[Prompt], params: SamplingParams | Sequence[SamplingParams]
    ) -> Iterator[tuple[int, list[Completion]]]:
        import os

        per_prompt, texts, ids = self.tokenized(prompts, params)
        run_seeds = [
            p.seed if p.seed is not None else int.from_bytes(os.urandom(8), "little") for p in per_prompt
        ]
        rows: list[_Row] = []
        for i, (text, toks, p) in enumerate(zip(texts, ids, per_prompt, strict=True)):
            budget = p.max_new_tokens
            if self.max_positions:
                budget = min(budget, self.max_positions - len(toks))
            for j in range(p.n):
                rows.append(_Row(i, j, toks, p, budget, sample_seed(run_seeds[i], text, j)))
        self.stats = {
            "prompts": len(prompts),
            "completions": len(rows),
            "prompt_tokens": sum(map(len, ids)),
            "generated_tokens": 0,
            "seconds": 0.0,
            "tokens_per_s": 0.0,
        }
        remaining = [p.n for p in per_prompt]
        results: list[list[Completion | None]] = [[None] * p.n for p in per_prompt]
        rows.sort(key=lambda r: (-len(r.ids), r.prompt, r.sample))
        start = time.perf_counter()

        def finished(batch_rows: list[_Row]) -> Iterator[tuple[int, list[Completion]]]:
            for r in batch_rows:
                results[r.prompt][r.sample] = self._completion(r)
                self.stats["generated_tokens"] += len(r.tokens)
                remaining[r.prompt] -= 1
                if remaining[r.prompt] == 0:
                    yield r.prompt, results[r.prompt]  # type: ignore[misc]
            self.stats["seconds"] = time.perf_counter() - start
            self.stats["tokens_per_s"] = self.stats["generated_tokens"] / max(self.stats["seconds"], 1e-9)

        too_long = [r for r in rows if r.budget <= 0]
        for r in too_long:
            r.finish = "length"
        if too_long and not self._warned_long:
            self._warned_long = True
            print(
                f"ponder: warning: {len({r.prompt for r in too_long})} prompt(s) fill the model's context of "
                f"{self.max_positions} tokens; their completions are empty",
                file=sys.stderr,
            )
        yield from finished(too_long)
        live = [r for r in rows if r.budget > 0]
        for b in range(0, len(live), self.batch_size):
            batch = live[b : b + self.batch_size]
            # A model handed over by a trainer may be in train mode: no dropout while sampling, mode restored.
            was_training = self.model.training
            self.model.eval()
            try:
                self._run_batch(batch)
            finally:
                self.model.train(was_training)
            yield from finished(batch)

    def _run_batch(self, rows: list[_Row]) -> None:
        torch = self._torch
        from transformers import DynamicCache

        n = len(rows)
        width = max(len(r.ids) for r in rows)
        input_ids = torch.full((n, width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((n, width), dtype=torch.long)
        for k, r in enumerate(rows):
            input_ids[k, width - len(r.ids) :] = torch.tensor(r.ids, dtype=torch.long)
            mask[k, width - len(r.ids) :] = 1
        dev = self.device  # everything stays on the model's device; only the chosen token ids come back
        input_ids, mask = input_ids.to(dev), mask.to(dev)
        position = (mask.cumsum(-1) - 1).clamp(min=0)
        temperature = torch.tensor([r.params.temperature for r in rows], dtype=torch.float32, device=dev)
        top_p = torch.tensor([r.params.top_p for r in rows], dtype=torch.float32, device=dev)
        generators = [torch.Generator(device=dev).manual_seed(r.seed) for r in rows]
        active = list(range(n))
        cache = DynamicCache(config=self.model.config)
        with torch.inference_mode():
            out = self.model(
                input_ids=input_ids,
                attention_mask=mask,
                position_ids=position,
                **{self._cache_kw: cache},
                use_cache=True,
                logits_to_keep=1,
            )
            next_pos = position[:, -1] + 1
            while True:
                logits = out.logits[:, -1, :].float()
                tokens = sample_next(logits, temperature, top_p, generators)
                keep = []
                for k, (b, t) in enumerate(zip(active, tokens.tolist(), strict=True)):
                    r = rows[b]
                    r.tokens.append(t)
                    if t in self.eos_ids or (r.params.stop and self._hit_stop(r)):
                        r.finish = "stop"
                    elif len(r.tokens) >= r.budget:
                        r.finish = "length"
                    else:
                        keep.append(k)
                if not keep:
                    return
                if len(keep) < len(active):
                    idx = torch.tensor(keep, dtype=torch.long, device=dev)
                    cache.batch_select_indices(idx)
                    mask, next_pos, tokens = mask[idx], next_pos[idx], tokens[idx]
                    temperature, top_p = temperature[idx], top_p[idx]
                    generators = [generators[k] for k in keep]
                    active = [active[k] for k in keep]
                mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
                out = self.model(
                    input_ids=tokens[:, None],
                    attention_mask=mask,
                    position_ids=next_pos[:, None],
                    **{self._cache_kw: cache},
                    use_cache=True,
                )
                next_pos = next_pos + 1

    def _hit_stop(self, r: _Row) -> bool:
        # Only the tail can hold a stop string that was not there one token ago; a token is at least one byte,
        # and a character at most four, so this window always covers the longest stop string.
        window = 4 * max(len(s) for s in r.params.stop) + 8
        tail = self.tokenizer.decode(r.tokens[-window:], skip_special_tokens=True)
        return first_stop(tail, r.params.stop) >= 0

    def _completion(self, r: _Row) -> Completion:
        toks = r.tokens[:-1] if r.tokens and r.tokens[-1] in self.eos_ids else r.tokens
        text = self.tokenizer.decode(toks, skip_special_tokens=True)
        finish = r.finish or "length"
        if r.params.stop:
            text, hit = cut_at_stop(text, r.params.stop, r.params.include_stop)
            finish = "stop" if hit else finish
        return Completion(text=text, finish_reason=finish, num_tokens=len(r.tokens))
