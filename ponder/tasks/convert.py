"""``ponder tasks convert``: public data sets in their own schemas as ponder's records.

Each format reads the fields its data set card names and writes problem records (the code formats:
:mod:`ponder.tasks.convert_code`) or, for ``r1-sft``, conversational SFT records:

- ``r1-sft`` (Bespoke-Stratos-17k, OpenThoughts-114k): ``{system, conversations: [{from, value}]}`` with the
  assistant's ``<|begin_of_thought|>``/``<|begin_of_solution|>`` markers -> ``{id, messages: [system, user,
  assistant], answer?}`` (the markers kept; ``answer``: the last ``\\boxed{}`` of the solution, when any);
- ``math`` (MATH, MATH-500): ``{problem, solution, answer?, level?, type|subject?, unique_id?}`` -> gold
  answer ``answer``, else the last ``\\boxed{}`` of ``solution``;
- ``gsm8k``: ``{question, answer: "... #### 72"}`` -> gold answer after ``####`` (thousands commas dropped),
  the worked solution in ``meta.solution``;
- ``aime`` (AIME 2024/2025 sets): ``{id|ID?, problem|Problem|question, answer|Answer, solution|Solution?}``
  -> gold answer an integer 0..999.

A record's ``id`` is the data set's own id field when it has one, else the hash of the row (the same in
every run, see :mod:`ponder.records`). Input may be any source a stage reads (a file, a dataset folder,
``hf:NAME``). A row the format cannot read stops the conversion with one line naming the file, the row and
the field; nothing is written then.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ponder import record_fields as rf
from ponder.errors import InputError, PonderError
from ponder.io import write_records
from ponder.jsonl import content_hash
from ponder.records import Problem, iter_json_objects
from ponder.verify.answers.extract import last_boxed


class RowError(ValueError):
    """A row the format cannot read: the field and what is wrong with it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def text_field(row: dict, *names: str, required: bool = True) -> str | None:
    """The first of ``names`` present in ``row``, as a non-empty string (data sets spell fields variously)."""
    for name in names:
        if row.get(name) is not None:
            v = row[name]
            if isinstance(v, str) and not v.strip() and not required:
                return None  # an empty optional field (MBPP's test_setup_code) is an absent one
            if not isinstance(v, str) or not v.strip():
                raise RowError(name, f"expected a non-empty string, got {rf.type_name(v)}")
            return v
    if required:
        raise RowError(names[0], "missing")
    return None


def row_id(row: dict, *names: str) -> str:
    """The data set's own id (the first of ``names`` present), else the hash of the row."""
    for name in names:
        if row.get(name) is not None:
            try:
                return rf.record_id(row[name])
            except ValueError as e:
                raise RowError(name, str(e)) from None
    return content_hash(row)


def _math(row: dict) -> dict:
    solution = text_field(row, "solution", required=False)
    gold = row.get("answer")
    if gold is None:
        gold = last_boxed(solution or "")
        if gold is None:
            raise RowError("solution", "no 'answer' and no \\boxed{} answer in the solution")
    meta = {k: row[k] for k in ("level", "type", "subject") if row.get(k) is not None}
    if solution:
        meta["solution"] = solution
    return {
        "id": row_id(row, "unique_id", "id"),
        "prompt": text_field(row, "problem"),
        "answer": _answer(row, "answer", gold),
        "source": "math",
        "meta": {**meta, "rule": "math"},
    }


def _answer(row: dict, field: str, value: Any) -> str:
    try:
        return rf.answer(value)
    except ValueError as e:
        raise RowError(field, str(e)) from None


_GSM8K_MARK = "####"


def _gsm8k(row: dict) -> dict:
    text = text_field(row, "answer")
    solution, mark, gold = text.rpartition(_GSM8K_MARK)
    gold = gold.strip().replace(",", "")
    if not mark or not gold:
        raise RowError("answer", f"no final answer after '{_GSM8K_MARK}'")
    return {
        "id": row_id(row, "id"),
        "prompt": text_field(row, "question"),
        "answer": gold,
        "source": "gsm8k",
        "meta": {"rule": "math", "solution": solution.strip()},
    }


def _aime(row: dict) -> dict:
    field = next((k for k in ("answer", "Answer") if row.get(k) is not None), "answer")
    value = row.get(field)
    text = str(value).strip() if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not re.fullmatch(r"\d{1,3}", text):
        shown = "missing" if value is None else f"got {value!r}"
        raise RowError(field, f"expected an AIME answer, an integer from 0 to 999; {shown}")
    solution = text_field(row, "solution", "Solution", required=False)
    meta = {"rule": "math", **({"solution": solution} if solution else {})}
    meta.update({k: row[k] for k in ("url", "year") if row.get(k) is not None})
    return {
        "id": row_id(row, "id", "ID"),
        "prompt": text_field(row, "problem", "Problem", "question"),
        "answer": str(int(text)),
        "source": "aime",
        "meta": meta,
    }


R1_ROLES = {"user": "user", "human": "user", "assistant": "assistant", "gpt": "assistant", "system": "system"}
R1_MARKERS = ("<|begin_of_thought|>", "<|end_of_thought|>", "<|begin_of_solution|>")


def _r1_sft(row: dict) -> dict:
    turns = row.get("conversations")
    if not isinstance(turns, list) or not turns:
        raise RowError("conversations", f"expected a non-empty list of turns, got {rf.type_name(turns)}")
    messages = []
    system = text_field(row, "system", required=False)
    if system:
        messages.append({"role": "system", "content": system})
    for i, t in enumerate(turns):
        role = R1_ROLES.get(t.get("from")) if isinstance(t, dict) else None
        if role is None or not isinstance(t.get("value"), str):
            raise RowError("conversations", f"turn {i}: expected {{from: user|assistant, value: text}}")
        messages.append({"role": role, "content": t["value"]})
    if messages[-1]["role"] != "assistant":
        raise RowError("conversations", "the last turn is not the assistant's")
    reply = messages[-1]["content"]
    missing = [m for m in R1_MARKERS if m not in reply]
    if missing:
        raise RowError("conversations", f"the assistant's turn has no {missing[0]} marker")
    solution = reply.split(R1_MARKERS[2], 1)[1]
    out = {"id": row_id(row, "id"), "messages": messages}
    gold = last_boxed(solution)
    if gold is not None:
        out["answer"] = gold
    return out


def _check_problem(d: dict) -> None:
    Problem.from_dict(d)


def _check_messages(d: dict) -> None:
    rf.messages(d["messages"])


def _code_formats() -> dict[str, Callable[[dict], dict]]:
    from ponder.tasks import convert_code

    return convert_code.FORMATS


MATH_FORMATS: dict[str, Callable[[dict], dict]] = {
    "r1-sft": _r1_sft,
    "math": _math,
    "gsm8k": _gsm8k,
    "aime": _aime,
}
FORMAT_NAMES = ("r1-sft", "math", "gsm8k", "aime", "mbpp", "apps", "livecodebench")


def converter(name: str) -> Callable[[dict], dict]:
    formats = {**MATH_FORMATS, **_code_formats()}
    if name not in formats:
        raise PonderError(f"--format: unknown format {name!r}; choose one of {', '.join(FORMAT_NAMES)}")
    return formats[name]


def convert_rows(fmt: str, source: str | Path) -> list[dict]:
    """The records of every row of ``source`` in format ``fmt``; InputError naming the row and field."""
    convert = converter(fmt)
    out, first_row = [], {}
    for line, row in iter_json_objects(source):
        if not isinstance(row, dict):
            raise InputError(source, f"expected a JSON object, got {rf.type_name(row)}", line=line)
        try:
            rec = convert(row)
        except RowError as e:
            raise InputError(source, str(e), line=line, field=e.field) from None
        if rec["id"] in first_row:
            raise InputError(
                source, f"duplicate id {rec['id']!r} (first on row {first_row[rec['id']]})", line=line
            )
        first_row[rec["id"]] = line
        try:
            (_check_messages if "messages" in rec else _check_problem)(rec)
        except (InputError, ValueError) as e:
            raise InputError(source, f"converted record is invalid: {e}", line=line) from None
        out.append(rec)
    return out


def convert_file(fmt: str, source: str | Path, output: str | Path) -> str:
    """``ponder tasks convert``: write ``source`` in format ``fmt`` as records to ``output`` (atomic)."""
    n = write_records(output, convert_rows(fmt, source))
    kind = "SFT conversations" if fmt == "r1-sft" else "problems"
    return f"wrote {n} {kind} ({fmt}) to {output}"
