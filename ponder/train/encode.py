"""Rendering and tokenising prompts and responses, following ponder's log-prob convention.

The convention (docs/training.md):

- A prompt given as text is wrapped as one user message; a response given as text as one assistant
  message. The prompt is rendered with the chat template and its generation prompt
  (``add_generation_prompt=True``).
- A response is *every token the chat template renders after the generation prompt*, up to and including
  the end-of-turn token. Whitespace a template puts after that token (Qwen's templates render
  ``<|im_end|>\\n``) is not part of the response: the model stops at the end-of-turn token and never
  generates it.
- A *prefix* response (a pair whose ``meta.prefix`` is true -- process-DPO pairs on solution prefixes --, one
  side of a pair with ``meta.chosen_prefix`` / ``meta.rejected_prefix``, or a sample cut at its token budget)
  is the rendered content without the end-of-turn token.
- Templates whose generation prompt opens a block (R1-distill style: the prompt ends with
  ``<｜Assistant｜><think>\n``) render an assistant turn without it, and often drop the reasoning before
  ``</think>`` from past turns. There the response is the message content as given -- less the opened
  text if it starts with it, since the prompt already holds it -- followed by the end-of-turn text the
  template puts after a turn's content: exactly the tokens the model generates after the prompt.
  Conversations (several assistant turns) are refused under such templates: later turns would be
  rendered without the reasoning of earlier ones.
- Prompt and response are tokenised separately (``add_special_tokens=False``; the template supplies any
  BOS), so the response tokens are the ones the model would generate after the prompt tokens.
- With ``chat_template=False`` prompts and responses must be text and are used as is; the tokenizer's EOS
  token is appended to each full response (not to prefixes).

``max_length`` bounds each ``prompt + response``. The end of a response is never cut: with
``overlong="truncate_prompt"`` the prompt loses tokens from its *start*; when even the longest response does
not fit (or with ``overlong="error"``) the record is refused with an error naming file and line; with
``overlong="skip"`` it is left out and counted.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ponder.errors import InputError
from ponder.records import Message, Pair, PromptLike
from ponder.train.packing import PromptGroup

OVERLONG = ("truncate_prompt", "skip", "error")
PAIR_CUTS = ("none", "first-token", "first-line")
# Content of a probe assistant turn, to find where a template puts the content (not a token of any vocabulary).
_PROBE = "\u2063ponder-probe\u2063"


@dataclass(frozen=True)
class Where:
    """Where a record came from, for error messages."""

    path: str | Path
    line: int | None = None

    def error(self, message: str, field: str | None = None) -> InputError:
        return InputError(self.path, message, line=self.line, field=field)


class Encoder:
    """Turns prompts and responses into token ids under the convention above."""

    def __init__(
        self,
        tokenizer: Any,
        *,
        chat_template: bool = True,
        max_length: int | None = None,
        overlong: str = "truncate_prompt",
    ):
        if overlong not in OVERLONG:
            raise ValueError(f"overlong must be one of {', '.join(OVERLONG)}, got {overlong!r}")
        if chat_template and not getattr(tokenizer, "chat_template", None):
            raise InputError(
                getattr(tokenizer, "name_or_path", "tokenizer"),
                "the tokenizer has no chat template; set chat_template=false to train on raw text",
            )
        self.tokenizer = tokenizer
        self.chat_template = chat_template
        self.max_length = max_length
        self.overlong = overlong
        self.skipped = 0
        self.truncated = 0
        specials = set(getattr(tokenizer, "all_special_tokens", []) or [])
        for tok in getattr(tokenizer, "added_tokens_decoder", {}).values():
            if getattr(tok, "special", False):
                specials.add(tok.content)
        self._specials = sorted(specials, key=len, reverse=True)

    # ----------------------------------------------------------------- rendering

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _ending_special(self, text: str) -> str | None:
        return next((s for s in self._specials if text.endswith(s)), None)

    def prompt_messages(self, prompt: PromptLike) -> list[Message]:
        return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)

    def render_prompt(self, messages: list[Message]) -> str:
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def render_response(
        self,
        prompt_msgs: list[Message],
        prompt_text: str,
        response: PromptLike,
        where: Where,
        field: str,
        *,
        prefix: bool = False,
    ) -> str:
        """The text the template renders after the generation prompt for ``response``."""
        resp_msgs = (
            [{"role": "assistant", "content": response}] if isinstance(response, str) else list(response)
        )
        full = self.tokenizer.apply_chat_template(prompt_msgs + resp_msgs, tokenize=False)
        if full.startswith(prompt_text):
            return self._cut(full[len(prompt_text) :], prefix)
        parts = self._opened_block(prompt_msgs, prompt_text)
        content = resp_msgs[0].get("content") if len(resp_msgs) == 1 else None
        if parts is None or resp_msgs[0].get("role") != "assistant" or not isinstance(content, str):
            raise where.error(
                "the chat template does not render the prompt (with its generation prompt) as the "
                "start of prompt + response; ponder cannot tell which tokens are the response",
                field,
            )
        opened, tail = parts
        if content.startswith(opened):
            content = content[len(opened) :]
        elif opened.strip() and content.startswith(opened.strip()):
            content = content[len(opened.strip()) :].lstrip()
        return self._cut(content + tail, prefix)

    def _opened_block(self, prompt_msgs: list[Message], prompt_text: str) -> tuple[str, str] | None:
        """For a template whose generation prompt goes past the header of an assistant turn: the text it
        opens (``<think>\n``) and the text after a turn's content (end of turn). ``None`` otherwise."""
        base = self.tokenizer.apply_chat_template(prompt_msgs, tokenize=False)
        probe = self.tokenizer.apply_chat_template(
            prompt_msgs + [{"role": "assistant", "content": _PROBE}], tokenize=False
        )
        if not (prompt_text.startswith(base) and probe.startswith(base)) or _PROBE not in probe:
            return None
        header, _, tail = probe[len(base) :].partition(_PROBE)
        suffix = prompt_text[len(base) :]
        if not suffix.startswith(header) or len(suffix) == len(header):
            return None
        return suffix[len(header) :], tail

    def _cut(self, text: str, prefix: bool) -> str:
        stripped = text.rstrip()
        special = self._ending_special(stripped)
        if special is not None:
            text = stripped  # whitespace after the end-of-turn token is never generated
            if prefix:
                text = text[: -len(special)]
        return text

    # ----------------------------------------------------------------- public encoders

    def encode(
        self,
        prompt: PromptLike,
        responses: list[PromptLike],
        where: Where,
        fields: list[str],
        *,
        prefix: bool | Sequence[bool] = False,
    ) -> PromptGroup | None:
        """One prompt and its responses as a :class:`PromptGroup` (``None`` when skipped as overlong).

        ``prefix``: one flag for all responses, or one per response (a response cut by its token budget is a
        prefix: it never generated the end-of-turn token, so it is not scored on one).
        """
        flags = [prefix] * len(responses) if isinstance(prefix, bool) else list(prefix)
        if self.chat_template:
            msgs = self.prompt_messages(prompt)
            prompt_text = self.render_prompt(msgs)
            prompt_ids = self._ids(prompt_text)
            resp_ids = [
                self._ids(self.render_response(msgs, prompt_text, r, where, f, prefix=cut))
                for r, f, cut in zip(responses, fields, flags, strict=True)
            ]
        else:
            for value, f in zip([prompt, *responses], ["prompt", *fields], strict=True):
                if not isinstance(value, str):
                    raise where.error("is a list of messages, but chat_template=false needs plain text", f)
            prompt_ids = self.tokenizer(prompt)["input_ids"]
            eos = [self.tokenizer.eos_token_id]
            resp_ids = [self._ids(r) + ([] if cut else eos) for r, cut in zip(responses, flags, strict=True)]
        for ids, f in zip(resp_ids, fields, strict=True):
            if not ids:
                raise where.error("renders to no tokens", f)
        if not prompt_ids:
            raise where.error("renders to no tokens", "prompt")
        prompt_ids = self._fit(prompt_ids, resp_ids, where)
        if prompt_ids is None:
            return None
        return PromptGroup(prompt_ids, tuple(resp_ids))

    def encode_pair(self, pair: Pair, where: Where, cut: str = "none") -> PromptGroup | None:
        """A preference pair: responses ``(chosen, rejected)``; both are prefixes when ``meta.prefix`` is true,
        one side when ``meta.chosen_prefix`` / ``meta.rejected_prefix`` is (a response cut by its budget).

        ``cut`` (:data:`PAIR_CUTS`) keeps only where the two responses part: ``first-token`` scores the first
        token in which they differ, ``first-line`` that token up to the end of its line; the tokens they share
        before it join the prompt (they cancel in the DPO margin anyway) and the tokens after it are dropped,
        so nothing the two sides share later (a correct step after a slip) is pushed down."""
        meta = pair.meta or {}
        both = bool(meta.get("prefix", False))
        flags = (
            both or bool(meta.get("chosen_prefix", False)),
            both or bool(meta.get("rejected_prefix", False)),
        )
        group = self.encode(
            pair.prompt, [pair.chosen, pair.rejected], where, ["chosen", "rejected"], prefix=flags
        )
        if group is None or cut == "none":
            return group
        return self._cut_pair(group, cut)

    def _cut_pair(self, group: PromptGroup, cut: str) -> PromptGroup:
        if cut not in PAIR_CUTS:
            raise ValueError(f"cut must be one of {', '.join(PAIR_CUTS)}, got {cut!r}")
        chosen, rejected = (list(r) for r in group.responses)
        d = first_difference(chosen, rejected)
        if d is None:  # the same tokens: nothing to prefer, nothing to cut
            return group
        ends = [min(d + 1, len(r)) for r in (chosen, rejected)]
        if cut == "first-line":
            ends = [self._line_end(r, d) for r in (chosen, rejected)]
        if d == min(len(chosen), len(rejected)):
            # One side is a prefix of the other: it keeps one token of its own -- the last shared one -- so
            # that neither side is empty; that token appears in both sides and cancels in the margin.
            d -= 1
        return PromptGroup([*group.prompt, *chosen[:d]], (chosen[d : ends[0]], rejected[d : ends[1]]))

    def _line_end(self, ids: list[int], start: int) -> int:
        """One past the first token at or after ``start`` whose text holds a newline (the end otherwise)."""
        for t in range(start, len(ids)):
            if "\n" in self.tokenizer.decode([ids[t]]):
                return t + 1
        return len(ids)

    def encode_conversation(self, messages: list[Message], where: Where) -> PromptGroup | None:
        """A multi-turn conversation; every assistant turn is scored, everything else is context. An assistant
        turn with ``"weight": 0`` (the OpenAI fine-tuning format's flag) is context too: a reply the dialogue
        holds but the model is not taught, such as a wrong answer shown to be checked."""
        if not self.chat_template:
            raise where.error("conversations need the chat template (chat_template=true)", "messages")
        turns = [i for i, m in enumerate(messages) if m["role"] == "assistant" and m.get("weight", 1) != 0]
        if not turns:
            raise where.error("has no assistant message to train on (none, or all of weight 0)", "messages")
        text = self.render_prompt(messages[: turns[0]])
        prompt_ids = self._ids(text)
        ids: list[int] = []
        mask: list[bool] = []
        for i in turns:
            before = self.render_prompt(messages[:i])
            full = self.tokenizer.apply_chat_template(messages[: i + 1], tokenize=False)
            if not full.startswith(before) and self._opened_block(messages[:i], before) is not None:
                raise where.error(
                    "the chat template opens a block in its generation prompt (as R1-distill templates "
                    "open <think>); conversations cannot be scored under it: give one assistant turn "
                    "per record (prompt + completion)",
                    "messages",
                )
            if not before.startswith(text) or not full.startswith(before):
                raise where.error(
                    f"the chat template does not render message {i} as a continuation of the earlier "
                    "ones; ponder cannot mark the assistant tokens",
                    "messages",
                )
            context = self._ids(before[len(text) :]) if len(before) > len(text) else []
            span = self._cut(full[len(before) :], prefix=False)
            ids += context
            mask += [False] * len(context)
            span_ids = self._ids(span)
            ids += span_ids
            mask += [True] * len(span_ids)
            text = before + span
        prompt_ids = self._fit(prompt_ids, [ids], where)
        if prompt_ids is None:
            return None
        return PromptGroup(prompt_ids, (ids,), (mask,))

    # ----------------------------------------------------------------- length policy

    def _fit(self, prompt_ids: list[int], responses: list[list[int]], where: Where) -> list[int] | None:
        limit = self.max_length
        longest = max(len(r) for r in responses)
        if limit is None or len(prompt_ids) + longest <= limit:
            return prompt_ids
        if self.overlong == "skip":
            self.skipped += 1
            return None
        what = f"prompt ({len(prompt_ids)} tokens) + response ({longest} tokens) exceeds max_length={limit}"
        if self.overlong == "error":
            raise where.error(f"{what}; raise max_length, or set overlong=truncate_prompt or overlong=skip")
        if longest >= limit:
            raise where.error(
                f"{what}, and the response alone does not fit with one prompt token; responses are "
                "never cut: raise max_length or set overlong=skip"
            )
        self.truncated += 1
        return prompt_ids[len(prompt_ids) - (limit - longest) :]


def first_difference(a: Sequence[int], b: Sequence[int]) -> int | None:
    """Index of the first position where ``a`` and ``b`` differ (the shorter length when one is a prefix of
    the other); ``None`` when they are equal."""
    n = len(os.path.commonprefix([list(a), list(b)]))
    return None if n == len(a) == len(b) else n
