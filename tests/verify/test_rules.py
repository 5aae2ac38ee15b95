"""The named grading rules that evaluation, labelling and rewards share."""

import pytest

from ponder.records import Verdict
from ponder.verify.rules import RULES, extract_with, get_rule, grade_with


def test_rule_names():
    assert RULES == ("math", "boxed", "number", "choice")
    with pytest.raises(ValueError, match="math, boxed, number, choice"):
        get_rule("nope")


@pytest.mark.parametrize(
    "rule,response,gold,pred,correct",
    [
        ("math", r"So \boxed{\frac{1}{2}}.", "0.5", r"\frac{1}{2}", True),
        ("math", "The answer is 7.", "7", "7", True),
        ("math", r"The answer is \boxed{C}.", "C", "C", True),
        ("boxed", r"So \boxed{\frac{1}{2}}.", "0.5", r"\frac{1}{2}", True),
        ("boxed", "The answer is 7.", "7", None, False),
        ("number", "She has 3 + 4 = 7 apples.\n#### 7", "Adding gives 7.\n#### 7", "7", True),
        ("number", "So 1,000 dollars.", "1000", "1,000", True),
        ("number", "First 5, then 9.", "5", "9", False),
        ("number", r"The answer is $\boxed{12}$.", "12", "12", True),
        ("choice", "Therefore, the answer is (B).", "B", "B", True),
        ("choice", "Therefore, the answer is (B).", "(C)", "B", False),
    ],
)
def test_grade_with(rule, response, gold, pred, correct):
    v = grade_with(rule, response, gold)
    assert isinstance(v, Verdict)
    assert (v.pred, v.correct) == (pred, correct), v.reason
    assert extract_with(rule, response) == pred


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("response", [None, 7, "", "\\boxed{", "<think>", "x" * 10000, "\\frac{" * 500])
def test_rules_never_raise(rule, response):
    v = grade_with(rule, response, "7")
    assert v.correct is False
    extract_with(rule, response)
