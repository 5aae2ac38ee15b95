"""Solutions to pair up, read from the record files people have: each record gives one prompt and its responses.

A solution file may hold any one of these record kinds (told apart by the first record; every record is then
read as that kind, and bad records raise :class:`~ponder.errors.InputError` naming file, line and field):

- ponder samples ``{id, prompt, responses[], finish_reasons[], num_tokens[], answer?}`` (``ponder generate``);
- prompt-completion ``{prompt, completion, id?, answer?}`` (TRL's format; the completion may be a list holding
  one assistant message);
- conversational ``{messages: [...], id?, answer?}``: the last message is the assistant's response, the ones
  before it the prompt (a distillation set with a system prompt reads this way);
- problems ``{id, prompt, answer?, meta: {long, short}}`` as ``ponder synth`` writes them: ``style`` picks
  ``meta.long`` or ``meta.short`` as the one response.

Records match across files by ``id``; a record without one gets ``p-`` plus a hash of its prompt's last user
message, so a prompt-completion file without ids still matches samples generated from the same questions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ponder import record_fields as rf
from ponder.errors import InputError
from ponder.records import Message, Problem, PromptLike, Sample
from ponder.records import iter_json_objects as _iter_json

KINDS = ("samples", "prompt-completion", "conversational", "problems")


@dataclass
class Response:
    """One response with what is known of its length and ending (``None`` when the file does not say)."""

    text: str
    num_tokens: int | None = None
    finish_reason: str | None = None


@dataclass
class Solutions:
    """A prompt and its responses, from line ``line`` of a solution file."""

    id: str
    prompt: PromptLike
    responses: list[Response]
    answer: str | None
    line: int


def prompt_text(prompt: PromptLike) -> str:
    """The question itself: a text prompt, or the content of the last user message of a conversation."""
    if isinstance(prompt, str):
        return prompt
    users = [m["content"] for m in prompt if m.get("role") == "user"]
    return users[-1] if users else prompt[-1]["content"]


def prompt_id(prompt: PromptLike) -> str:
    """A stable id for a record without one: ``p-`` and 16 hex digits of a hash of :func:`prompt_text`."""
    return "p-" + hashlib.blake2b(prompt_text(prompt).strip().encode("utf-8"), digest_size=8).hexdigest()


def detect_kind(first: object, path: str | Path) -> str:
    """The record kind of a solution file, from its first record."""
    if isinstance(first, dict):
        if "responses" in first:
            return "samples"
        if "completion" in first:
            return "prompt-completion"
        if "messages" in first:
            return "conversational"
        if isinstance(first.get("meta"), dict) and ("long" in first["meta"] or "short" in first["meta"]):
            return "problems"
    raise InputError(
        path,
        "cannot tell the record kind: expected ponder samples ('responses'), prompt-completion "
        "('prompt' + 'completion'), conversational ('messages') or problems with 'meta.long'/'meta.short'",
        line=1,
    )


def _field(path: str | Path, line: int, name: str, check, value):
    try:
        return check(value)
    except ValueError as e:
        raise InputError(path, str(e), line=line, field=name) from None


def _optional_id(d: dict, path, line: int, prompt: PromptLike) -> str:
    if d.get("id") is None:
        return prompt_id(prompt)
    return _field(path, line, "id", rf.record_id, d["id"])


def _optional_answer(d: dict, path, line: int) -> str | None:
    return None if d.get("answer") is None else _field(path, line, "answer", rf.answer, d["answer"])


def _assistant_text(value: PromptLike, path, line: int, name: str) -> str:
    if isinstance(value, str):
        return value
    last = value[-1]
    if last.get("role") != "assistant":
        raise InputError(
            path,
            f"the last message must be the assistant's, got role {last.get('role')!r}",
            line=line,
            field=name,
        )
    return last["content"]


def _parse(kind: str, d: dict, path, line: int, style: str) -> Solutions:
    if kind == "samples":
        s = Sample.from_dict(d, path=path, line=line)
        responses = [
            Response(text, tokens, reason)
            for text, tokens, reason in zip(s.responses, s.num_tokens, s.finish_reasons, strict=True)
        ]
        return Solutions(s.id, s.prompt, responses, s.answer, line)
    if kind == "problems":
        p = Problem.from_dict(d, path=path, line=line)
        text = p.meta.get(style)
        if not isinstance(text, str):
            raise InputError(
                path, f"expected the {style} solution as a string", line=line, field=f"meta.{style}"
            )
        return Solutions(p.id, p.prompt, [Response(text)], p.answer, line)
    if not isinstance(d, dict):
        raise InputError(path, "expected a JSON object", line=line)
    if kind == "prompt-completion":
        for name in ("prompt", "completion"):
            if name not in d:
                raise InputError(path, "missing", line=line, field=name)
        prompt = _field(path, line, "prompt", rf.text_or_messages, d["prompt"])
        completion = _field(path, line, "completion", rf.text_or_messages, d["completion"])
        text = _assistant_text(completion, path, line, "completion")
    else:
        if "messages" not in d:
            raise InputError(path, "missing", line=line, field="messages")
        messages: list[Message] = _field(path, line, "messages", rf.messages, d["messages"])
        if len(messages) < 2:
            raise InputError(path, "needs a prompt and an assistant response", line=line, field="messages")
        text = _assistant_text(messages, path, line, "messages")
        prompt = messages[:-1]
    return Solutions(
        _optional_id(d, path, line, prompt), prompt, [Response(text)], _optional_answer(d, path, line), line
    )


def read_solutions(path: str | Path, *, style: str = "long") -> Iterator[Solutions]:
    """Stream the solutions of a file (any kind in :data:`KINDS`); ``style`` is used for problem files only."""
    kind: str | None = None
    for line, obj in _iter_json(path):
        if kind is None:
            kind = detect_kind(obj, path)
        yield _parse(kind, obj, path, line, style)


def load_solutions(path: str | Path, *, style: str = "long") -> dict[str, Solutions]:
    """All solutions of a file by id; a repeated id is an error naming both lines."""
    out: dict[str, Solutions] = {}
    for sol in read_solutions(path, style=style):
        if sol.id in out:
            raise InputError(
                path, f"duplicate id {sol.id!r} (first on line {out[sol.id].line})", line=sol.line, field="id"
            )
        out[sol.id] = sol
    return out
