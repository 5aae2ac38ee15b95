"""The hand-written case set: every answer pair in both directions, and every whole response."""

import pytest

from ponder.verify.math import compare, grade, is_equivalent
from tests.verify.cases import PAIRS, RESPONSES

PAIR_CASES = [
    pytest.param(p, g, eq, id=f"{cls}-{i}")
    for cls, cases in PAIRS.items()
    for i, (p, g, eq) in enumerate(cases)
]


def test_case_set_is_large_and_balanced():
    """The set covers every answer class with equal and unequal pairs, as the grader's spec asks."""
    total = sum(len(c) for c in PAIRS.values()) + len(RESPONSES)
    assert total >= 300
    for cls, cases in PAIRS.items():
        assert any(eq for _, _, eq in cases), f"{cls} has no equal pair"
        assert any(not eq for _, _, eq in cases), f"{cls} has no unequal pair"
    assert any(c for *_, c in RESPONSES) and any(not c for *_, c in RESPONSES)


@pytest.mark.parametrize("pred,gold,equal", PAIR_CASES)
def test_pair(pred, gold, equal):
    # A generous time limit: these tests are about the answers, not about speed on a busy machine.
    assert is_equivalent(pred, gold, timeout_s=10) is equal, compare(pred, gold, timeout_s=10)
    assert is_equivalent(gold, pred, timeout_s=10) is equal, compare(gold, pred, timeout_s=10)


@pytest.mark.parametrize(
    "response,gold,pred,correct", [pytest.param(*c, id=f"response-{i}") for i, c in enumerate(RESPONSES)]
)
def test_response(response, gold, pred, correct):
    verdict = grade(response, gold)
    assert verdict.pred == pred
    assert verdict.correct is correct, verdict.reason
