"""Hostile model outputs: every public call returns (and never raises), in the main thread and in workers.

Each call runs in a thread joined with a generous timeout: the timeout detects a hang, it is not a
speed requirement (bench/math_grading.py measures speed).
"""

import threading

import pytest

from ponder.verify.math import answer_key, extract_answer, grade, is_equivalent, majority_vote
from ponder.verify.rules import RULES, grade_with

HANG_S = 30
MB = 10_000_000

ADVERSARIAL = {
    "10MB of digits": "1" * MB,
    "10MB of letters": "a" * MB,
    "10MB of open boxes": "\\boxed{" * (MB // 7),
    "10MB of closed boxes": "\\boxed{1}" * (MB // 9),
    "10MB of dollars": "$" * MB,
    "10MB of backslashes": "\\" * MB,
    "10MB of display openers": "\\[" * (MB // 2),
    "10MB of answer phrases": "the answer is " * (MB // 14),
    "10MB of thinking": "<think>" + "x" * MB,
    "5000 nested braces": "{" * 5000 + "1" + "}" * 5000,
    "5000 nested braces in a box": "\\boxed{" + "{" * 5000 + "1" + "}" * 5000 + "}",
    "5000 nested parentheses": "(" * 5000 + "1" + ")" * 5000,
    "5000 nested fractions": "\\frac{" * 5000 + "1" + "}{2}" * 5000,
    "power tower": "10^{10^{10^{10}}}",
    "boxed power tower": "The answer is \\boxed{10^{10^{10^{10}}}}.",
    "unbalanced frac": "\\frac{",
    "unbalanced boxed frac": "so \\boxed{\\frac{1}{",
    "many unbalanced fracs": "\\frac{" * 1000,
    "huge factorial": "(10^{100})!",
    "factorial chain": "10" + "!" * 1000,
    "huge binomial": "\\binom{10^{50}}{10^{25}}",
    "huge sum": "\\sum_{k=1}^{10^{12}} k",
    "power chain": "x^" * 3000 + "x",
    "bars": "|" * 5001,
    "unary minus chain": "-" * 5000 + "1",
    "nul and control characters": "\x00\x01\x02\\boxed{\x00}",
}
GOLDS = ["1", "10^{10^{10^{10}}}", "\\frac{1}{2}", "x + 1", "(1, 2)"]


def _returns(fn):
    box = {}

    def run():
        box["value"] = fn()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(HANG_S)
    assert not t.is_alive(), "did not return"
    assert "value" in box, "raised"
    return box["value"]


@pytest.mark.parametrize("name", list(ADVERSARIAL))
def test_every_call_returns_from_a_worker_thread(name):
    text = ADVERSARIAL[name]

    def everything():
        extract_answer(text)
        extract_answer(text, strict=True)
        eq = [is_equivalent(text, g) for g in GOLDS] + [is_equivalent(g, text) for g in GOLDS]
        verdicts = [grade_with(rule, text, "1") for rule in RULES]
        return eq, verdicts, grade(text, "1"), answer_key(text), majority_vote([text, text, "1", None])

    eq, verdicts, verdict, key, vote = _returns(everything)
    assert all(isinstance(x, bool) for x in eq)
    assert isinstance(key, str)
    assert vote.count >= 1


def test_the_main_thread_too():
    for text in ADVERSARIAL.values():
        assert isinstance(is_equivalent(text, "2"), bool)
        assert grade(text, "2").correct in (True, False)


def test_towers_compare_by_their_written_form():
    assert is_equivalent("10^{10^{10^{10}}}", "10^{10^{10^{10}}}")
    assert not is_equivalent("10^{10^{10^{10}}}", "10^{10^{10^{9}}}")
    assert not is_equivalent("10^{10^{10^{10}}}", "1")
