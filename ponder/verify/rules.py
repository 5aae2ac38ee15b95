"""The grading rules, by name: evaluation, PFPO labelling and Thinker rewards all grade through here.

| rule     | the prediction is                                              | compared with the gold by        |
|----------|----------------------------------------------------------------|----------------------------------|
| math     | the last box, else "answer is" / ``####`` / last math / number | full equivalence (``compare``)   |
| boxed    | the last box only (no box: no answer)                          | full equivalence                 |
| number   | the number after ``####``, else the last number (GSM8K)        | full equivalence of the numbers  |
| choice   | the chosen letter (``(B)``, ``\\boxed{C}``, "answer is D")      | same letter                      |

``grade_with(rule, response, gold)`` returns a :class:`~ponder.records.Verdict` and never raises on a
response; an unknown rule name raises ``ValueError`` listing ``RULES``. ``vote_with(rule, preds)`` is the
majority vote over a rule's predictions (letters compare as letters, everything else as math answers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ponder.records import Verdict
from ponder.verify import choice
from ponder.verify import math as vmath
from ponder.verify.answers.extract import from_hash, last_number, strip_thinking
from ponder.verify.vote import Vote, plurality

RULES = ("math", "boxed", "number", "choice")


@dataclass(frozen=True)
class Rule:
    """How one benchmark is graded: extract a prediction from a response, then match it to the gold."""

    name: str
    extract: Callable[[str], str | None]
    gold: Callable[[str], str | None]
    grade: Callable[[str, str], Verdict]


def _number_of(text: str) -> str | None:
    body = strip_thinking(text) if isinstance(text, str) else None
    if not body:
        return None
    found = from_hash(body)
    if found is not None:
        num = last_number(found)
        if num is not None:
            return num
    return last_number(body)


def _match(extract: Callable[[str], str | None], gold_of: Callable[[str], str | None]):
    def grade(response: str, gold: str) -> Verdict:
        try:
            target = gold_of(gold) if isinstance(gold, str) else None
            if not target:
                return Verdict(correct=False, pred=None, reason="no gold answer")
            pred = extract(response) if isinstance(response, str) else None
            if pred is None:
                return Verdict(correct=False, pred=None, reason="no answer found")
            ok, how = vmath.compare(pred, target)
            return Verdict(
                correct=ok, pred=pred, reason=("equivalent" if ok else "not equivalent") + f" ({how})"
            )
        except Exception as e:  # noqa: BLE001 - a grader must answer for any model output
            return Verdict(correct=False, pred=None, reason=f"grader error: {type(e).__name__}")

    return grade


def _boxed(text: str) -> str | None:
    return vmath.extract_answer(text, strict=True)


def _gold_number(gold: str) -> str | None:
    return _number_of(gold) or gold.strip() or None


_RULES = {
    "math": Rule("math", vmath.extract_answer, vmath.gold_answer, vmath.grade),
    "boxed": Rule("boxed", _boxed, vmath.gold_answer, _match(_boxed, vmath.gold_answer)),
    "number": Rule("number", _number_of, _gold_number, _match(_number_of, _gold_number)),
    "choice": Rule("choice", choice.extract_choice, choice.letter_of, choice.grade_choice),
}


def get_rule(name: str) -> Rule:
    try:
        return _RULES[name]
    except KeyError:
        raise ValueError(f"unknown grading rule {name!r}; choose one of {', '.join(RULES)}") from None


def extract_with(rule: str, response: str) -> str | None:
    """The prediction ``rule`` reads from ``response`` (None when there is none)."""
    try:
        return get_rule(rule).extract(response)
    except ValueError:
        raise
    except Exception:  # noqa: BLE001 - model output never crashes a verifier
        return None


def grade_with(rule: str, response: str, gold: str) -> Verdict:
    """Grade one response against a gold answer with the named rule."""
    return get_rule(rule).grade(response, gold)


def vote_with(rule: str, preds: list[str | None]) -> Vote:
    """The majority vote over predictions read by ``rule`` (:mod:`ponder.verify.vote`; share over all)."""
    if rule == "choice":
        return plurality(preds, lambda p: p.upper() if isinstance(p, str) and p else None)
    return vmath.majority_vote(preds)
