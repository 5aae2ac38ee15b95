"""Math answer verification: extract the final answer, compare answers, vote, grade.

Public API (stable):

- ``extract_answer(text, *, strict=False, fallbacks=DEFAULT_FALLBACKS) -> str | None``
- ``is_equivalent(pred, gold, *, timeout_s=DEFAULT_TIMEOUT_S) -> bool``
- ``answer_key(answer) -> str``: equal for equivalent answers in the common forms (for voting)
- ``majority_vote(answers) -> Vote(answer, count, share, clusters)`` (:mod:`ponder.verify.vote`)
- ``grade(response, gold) -> Verdict(correct, pred, reason)``; never raises on model output

How two answers are compared (``compare``): identical text, then both are parsed (LaTeX or plain text)
and compared by structure (:mod:`ponder.verify.answers.compare`): exact rationals, 60-digit values, random
points for expressions with variables, and for what numbers cannot settle a sympy check in a worker
process under a hard time limit (:mod:`ponder.verify.answers.limits`). The rules and judgement calls
(percentages, decimal approximations, units, lists, intervals) are documented in docs/grading.md.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from functools import lru_cache

from ponder.records import Verdict
from ponder.verify import choice
from ponder.verify.answers import limits
from ponder.verify.answers.compare import equivalent
from ponder.verify.answers.extract import DEFAULT_FALLBACKS, from_hash, last_boxed
from ponder.verify.answers.extract import extract_answer as _extract
from ponder.verify.answers.latex import parse
from ponder.verify.answers.nodes import assignment, canon, free, items_of, unwrap
from ponder.verify.answers.normalize import MAX_PARSE_CHARS, clean, text_key
from ponder.verify.answers.numeric import Evaluator, Timeout, Unevaluable, symbol_value, value_key
from ponder.verify.answers.scalars import Budget
from ponder.verify.answers.sets import as_set, pieces
from ponder.verify.vote import Vote, plurality

__all__ = [
    "DEFAULT_FALLBACKS",
    "DEFAULT_TIMEOUT_S",
    "Vote",
    "answer_key",
    "compare",
    "extract_answer",
    "gold_answer",
    "grade",
    "is_equivalent",
    "majority_vote",
]

DEFAULT_TIMEOUT_S = 1.0
_COMMA_DECIMAL = re.compile(r"\$?\s*-?\d+,\d+\s*\$?")
_POINT_DECIMAL = re.compile(r"\$?\s*-?\d*\.\d+\s*\$?")


def extract_answer(text: str, *, strict: bool = False, fallbacks=DEFAULT_FALLBACKS) -> str | None:
    """The final answer in a response, as written; see :mod:`ponder.verify.answers.extract` for the order."""
    return _extract(text, strict=strict, fallbacks=fallbacks)


def gold_answer(gold: str) -> str:
    """The answer inside a gold string: its last box, the text after ``####``, or the string itself."""
    s = gold.strip()
    if "\\boxed" in s or "\\fbox" in s:
        boxed = last_boxed(s)
        if boxed:
            return boxed.strip()
    if "####" in s:
        found = from_hash(s)
        if found:
            return found
    if len(s) > 300 or "answer is" in s.lower():
        found = _extract(s, fallbacks=("answer", "last_math", "last_number"))
        if found:
            return found
    return s


@lru_cache(maxsize=16384)
def _parsed(answer: str):
    """The parsed answer, or None when it cannot be parsed (it is then compared as text)."""
    try:
        return parse(answer)
    except Exception:  # noqa: BLE001 - ParseError, and anything else: the answer is compared as text
        return None


def _as_text(x) -> str | None:
    """Answers are text; a number given as an int or float (a gold from JSON, say) is read as its text."""
    if isinstance(x, str):
        return x
    if isinstance(x, int | float) and not isinstance(x, bool) and x == x and abs(x) != float("inf"):
        return str(x)
    return None


def _text_form(answer: str, node) -> str | None:
    """How an answer compares as text when the other side does not parse (the same text its key uses)."""
    if node is None:
        return text_key(answer[: MAX_PARSE_CHARS * 4]) or None
    return node[1] if node[0] == "text" else None


def _symbolic(op: str, args: tuple, bud: Budget):
    left = bud.remaining()
    if left <= 0.01:
        return None
    return limits.POOL.call(op, args, left)


def compare(pred: str, gold: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> tuple[bool, str]:
    """``(equal, how)``: ``how`` names the step that decided (text, structure, numeric, symbolic, timeout)."""
    pred, gold = _as_text(pred), _as_text(gold)
    if pred is None or gold is None:
        return False, "not text"
    p, g = pred.strip(), gold.strip()
    if not p or not g:
        return False, "empty"
    if p == g:
        return True, "text"
    for x, y in ((p, g), (g, p)) if len(p) < 64 and len(g) < 64 else ():
        # A decimal comma ("1,22") against a decimal point ("1.22") on the other side.
        if _COMMA_DECIMAL.fullmatch(x) and _POINT_DECIMAL.fullmatch(y):
            return compare(x.replace(",", "."), y, timeout_s=timeout_s)
    if len(p) <= MAX_PARSE_CHARS and len(g) <= MAX_PARSE_CHARS and clean(p) == clean(g):
        return True, "text"
    for x, y in ((p, g), (g, p)):
        letter = choice.gold_letter(x) if len(x) < 40 else None
        if letter is not None and len(y) < 200:
            other = choice.letter_of(y)
            if other is not None:
                return letter == other, "choice"
    a, b = _parsed(p), _parsed(g)
    if a is None or b is None:
        ka, kb = _text_form(p, a), _text_form(g, b)
        return ka is not None and ka == kb, "text"
    limits.POOL.prestart()
    bud = Budget(time.monotonic() + timeout_s, _symbolic)
    try:
        ok = equivalent(a, b, bud)
    except Timeout:
        return False, "timeout"
    except Exception:  # noqa: BLE001 - never raise on model output
        return False, "error"
    return ok, bud.how


def is_equivalent(pred: str, gold: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> bool:
    """True when ``pred`` and ``gold`` are the same answer. Symmetric; returns within about ``timeout_s``."""
    return compare(pred, gold, timeout_s=timeout_s)[0]


def answer_key(answer: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> str:
    """A cheap canonical key: equal for equivalent answers in the common forms (``1/2``, ``0.5``,
    ``\\frac12``; ``(1,2)`` and ``\\left(1,2\\right)``; ``\\{2, 1\\}`` and ``1, 2``; ``x+1`` and ``1+x``;
    ``x \\ge 2`` and ``[2, \\infty)``).

    Equal keys mean equivalent answers (``majority_vote`` merges clusters by key without checking);
    equivalent answers in rarer forms may get different keys, which ``majority_vote`` merges with
    ``is_equivalent``. Returns within about ``timeout_s``: an answer whose value takes longer to compute
    gets the key of its written form (and is not cached, so a later call with more time may do better).
    """
    if not isinstance(answer, str) or not answer.strip():
        return ""
    cached = _KEYS.get(answer)
    if cached is not None:
        return cached
    node = _parsed(answer.strip())
    if node is None:
        text = text_key(answer[: MAX_PARSE_CHARS * 4])
        return _KEYS.put(answer, "t:" + text if text else "raw:" + answer.strip())
    deadline = time.monotonic() + max(0.0, timeout_s)
    try:
        key = _key(node, 0, deadline)
    except Timeout:
        return _written_key(answer, node)
    except Exception:  # noqa: BLE001 - never raise on model output
        key = _written_key(answer, node)
    return _KEYS.put(answer, key)


def _written_key(answer: str, node: tuple) -> str:
    """The key of an answer's written form (canonical structure), for answers without a value key."""
    try:
        return "c:" + canon(node)
    except Exception:  # noqa: BLE001
        return "t:" + text_key(answer[: MAX_PARSE_CHARS * 4])


class _KeyCache:
    """The keys of recent answers (least recently used dropped first); safe to share between threads."""

    def __init__(self, size: int):
        self.size = size
        self._lock = threading.Lock()
        self._data: OrderedDict[str, str] = OrderedDict()

    def get(self, answer: str) -> str | None:
        with self._lock:
            key = self._data.get(answer)
            if key is not None:
                self._data.move_to_end(answer)
            return key

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def put(self, answer: str, key: str) -> str:
        with self._lock:
            self._data[answer] = key
            if len(self._data) > self.size:
                self._data.popitem(last=False)
        return key


_KEYS = _KeyCache(65536)


def _key(n: tuple, depth: int, deadline: float) -> str:
    n = unwrap(n)
    k = n[0]
    if depth > 20:
        return "c:" + canon(n)
    if k == "text":
        return "t:" + n[1]
    if k == "rel":
        value, name = assignment(n)
        if value is not None:
            # Names are part of the key: x = 3 and k = 3 are different answers to is_equivalent.
            return ("=" + canon(name) + ":" if name is not None else "") + _key(value, depth + 1, deadline)
        as_a_set = as_set(n, Budget(deadline))
        if as_a_set is not None and as_a_set != n:
            return _key(as_a_set, depth + 1, deadline)
        return "r:" + canon(n)
    if k in ("list", "set", "pm"):
        return "{" + ",".join(sorted(_key(x, depth + 1, deadline) for x in items_of(n))) + "}"
    if k == "seq":
        return n[1] + ",".join(_key(x, depth + 1, deadline) for x in n[3]) + n[2]
    if k == "vec":
        return "(" + ",".join(_key(x, depth + 1, deadline) for x in n[1]) + ")"
    if k == "ratio":
        return ":".join(_key(x, depth + 1, deadline) for x in n[1])
    if k in ("union", "reals", "empty"):
        ps = pieces(n, Budget(deadline))
        if ps is None:
            return "c:" + canon(n)
        return "s:" + ";".join(
            f"{p[3]:d}{value_key(p[5], 15)},{value_key(p[6], 15)}{p[4]:d}"
            if p[0] == "iv"
            else value_key(p[2], 15)
            for p in ps
        )
    if k in ("pct", "deg"):
        return ("%" if k == "pct" else "deg") + _key(n[1], depth + 1, deadline)
    if k == "base":
        return f"b:{n[1]}_{n[2]}"
    if k == "matrix":
        return "[" + ";".join(",".join(_key(x, depth + 1, deadline) for x in r) for r in n[1]) + "]"
    names = free(n)
    if not names:
        try:
            return "n:" + value_key(Evaluator(deadline=deadline)(n))
        except Unevaluable:
            return "c:" + canon(n)
    values = []
    for pt in (0, 1, 3):  # two positive points and a negative one
        env = {nm: symbol_value(nm, pt) for nm in names}
        try:
            values.append(value_key(Evaluator(env, deadline)(n)))
        except Unevaluable:
            return "c:" + canon(n)
    return "f:" + ",".join(sorted(names)) + ":" + ",".join(values)


def majority_vote(answers, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> Vote:
    """The most common answer among ``answers`` (None for unextractable ones), with every cluster.

    The one vote of :mod:`ponder.verify.vote`: answers are clustered by ``answer_key``; then the clusters'
    representatives (the first answer of each) are merged with ``is_equivalent``, so the work grows with the
    number of distinct answers, not with the number of answers squared. ``share`` is ``count / len(answers)``,
    unextractable answers included (PFPO's definition). Ties go to the answer seen first.

    Each key and each comparison has ``timeout_s``; the whole vote has ``10 * timeout_s``: after that,
    answers not yet keyed are keyed by their exact text and the remaining clusters stay apart, so a vote
    returns in bounded time whatever the answers.
    """
    answers = list(answers)
    deadline = time.monotonic() + 10 * timeout_s
    keys: dict[str, str] = {}  # text -> key: an answer repeated verbatim is keyed once

    def key(a) -> str | None:
        if not isinstance(a, str) or not a.strip():
            return None
        k = keys.get(a)
        if k is None:
            left = deadline - time.monotonic()
            k = answer_key(a, timeout_s=min(timeout_s, left)) if left > 0 else "raw:" + a.strip()
            keys[a] = k
        return k

    def same(a: str, b: str, left: float) -> bool:
        return is_equivalent(a, b, timeout_s=min(timeout_s, left))

    return plurality(answers, key, same=same, deadline=deadline)


def grade(response: str, gold: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> Verdict:
    """Is the final answer of ``response`` equal to ``gold``? Never raises, whatever the response is.

    ``reason`` says what happened: "no answer found", "equivalent (numeric)", "not equivalent (structure)",
    "same letter" for a choice gold, ... ``pred`` is the extracted answer as written.
    """
    try:
        if not isinstance(response, str):
            return Verdict(correct=False, pred=None, reason="response is not text")
        gold = _as_text(gold)
        if gold is None or not gold.strip():
            return Verdict(correct=False, pred=None, reason="no gold answer")
        target = gold_answer(gold)
        if choice.gold_letter(target) is not None:
            return choice.grade_choice(response, target)
        pred = _extract(response)
        if pred is None:
            return Verdict(correct=False, pred=None, reason="no answer found")
        ok, how = compare(pred, target, timeout_s=timeout_s)
        return Verdict(correct=ok, pred=pred, reason=("equivalent" if ok else "not equivalent") + f" ({how})")
    except Exception as e:  # noqa: BLE001 - a grader must answer for any model output
        return Verdict(correct=False, pred=None, reason=f"grader error: {type(e).__name__}")
