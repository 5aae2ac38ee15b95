"""Multiple-choice answers: find the chosen letter in a response and grade it.

Recognised forms, in order: ``\\boxed{B}``, ``\\boxed{\\text{(C)}}``, ``\\textbf{(D)}``, "The answer is C",
"Answer: (B) 42", "**C**", a line holding only ``(C)`` or ``C.``, the last parenthesised capital letter
such as ``(B)``, a line starting with ``C.`` or ``C)``, and in a short response (300 characters) a single
capital letter B-H or J standing alone.
"""

from __future__ import annotations

import re

from ponder.records import Verdict
from ponder.verify.answers.extract import TAIL_CHARS, last_boxed, last_match, strip_thinking

LETTERS = "ABCDEFGHIJ"

_WRAPPERS = re.compile(r"\\(?:text|textbf|mathrm|mathbf|mbox|textnormal)\s*\{([^{}]*)\}")
_SHORT = re.compile(
    r"^\s*(?:\*\*)?\s*(?:option|choice|answer)?\s*[:.]?\s*[(\[]?\s*([A-J])\s*[)\].:]?(?:\s|$|\*\*|\\|[,;~])",
    re.I,
)
_ANCHOR = re.compile(
    r"(?:answer|option|choice)\s*(?:\*\*)?\s*(?:is|:)?\s*(?:\*\*)?\s*(?:option\s*|choice\s*)?[:\s]*"
    r"(?:\$?\\(?:text|textbf|mathrm|boxed)\s*\{\s*)?[(\[]?\s*([A-J])(?![A-Za-z])",
    re.I,
)
_LINE = re.compile(r"(?m)^\s*(?:\*\*)?\s*[(\[]?([A-J])[)\].:]?\s*(?:\*\*)?\s*$")
_PAREN = re.compile(r"\(([A-J])\)")
_LINE_START = re.compile(r"(?m)^\s*(?:\*\*)?([A-J])(?:\*\*)?[.):]\s")
_LONE = re.compile(r"(?<![\w\\$])([B-HJ])(?![\w'])")
_GOLD = re.compile(r"\s*\$?\s*(?:\\(?:text|textbf|mathrm)\s*\{)?\s*[(\[]?\s*([A-J])\s*[)\]]?\s*\}?\s*\$?\s*")


def gold_letter(gold: str, letters: str = LETTERS) -> str | None:
    """The letter when a gold answer is exactly a capital choice letter (``C``, ``(C)``, ``\\text{(C)}``)."""
    if not isinstance(gold, str):
        return None
    m = _GOLD.fullmatch(gold)
    return m.group(1) if m and m.group(1) in letters else None


def letter_of(answer: str | None, letters: str = LETTERS) -> str | None:
    """The letter an answer string names (``"(B)"``, ``"\\text{(C)}"``, ``"b"``, ``"B) 42"``), or None."""
    if not isinstance(answer, str):
        return None
    s = answer.strip().strip("$").strip()
    for _ in range(3):
        t = _WRAPPERS.sub(r"\1", s)
        if t == s:
            break
        s = t
    s = s.replace("\\(", "").replace("\\)", "").strip()
    m = _SHORT.match(s)
    if not m:
        return None
    letter = m.group(1).upper()
    # A lone lower-case letter is a letter choice only when it is the whole answer.
    if m.group(1).islower() and len(s.strip("()[]. ")) != 1:
        return None
    return letter if letter in letters else None


def extract_choice(text: str, letters: str = LETTERS) -> str | None:
    """The letter chosen in a whole response (see the module docstring), or None."""
    if not isinstance(text, str) or not text:
        return None
    body = strip_thinking(text)
    if body is None:
        return None
    boxed = last_boxed(body)
    if boxed is not None:
        found = letter_of(boxed, letters)
        if found:
            return found
    tail = body[-TAIL_CHARS:]
    for pattern in (_ANCHOR, _LINE, _PAREN, _LINE_START):
        m = last_match(pattern, tail)
        if m is not None:
            letter = m.group(1).upper()
            if letter in letters:
                return letter
    stripped = tail.strip()
    if len(stripped) <= 12:
        return letter_of(stripped, letters)
    # Last resort: one capital letter standing alone ("Because B is valid"); A and I are left out,
    # as they are English words.
    if len(stripped) > 300:
        return None  # in a long solution a lone capital is more likely a point or a matrix
    lone = {m.group(1) for m in _LONE.finditer(stripped)} & set(letters)
    return lone.pop() if len(lone) == 1 else None


def grade_choice(response: str, gold: str, letters: str = LETTERS) -> Verdict:
    """Correct when the response picks the gold letter. Never raises on any response."""
    want = letter_of(gold, letters)
    if want is None:
        return Verdict(correct=False, pred=None, reason=f"gold {gold!r} is not a choice letter")
    got = extract_choice(response, letters)
    if got is None:
        return Verdict(correct=False, pred=None, reason="no choice letter found")
    ok = got == want
    return Verdict(correct=ok, pred=got, reason="same letter" if ok else "different letter")
