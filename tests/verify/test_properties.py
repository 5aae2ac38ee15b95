"""Properties over generated inputs (hypothesis): no exceptions, symmetry, keys agree with equivalence."""

import threading
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ponder.verify.math import answer_key, extract_answer, grade, is_equivalent
from ponder.verify.rules import RULES, grade_with

SETTINGS = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
HANG_S = 30

FRAGMENTS = [
    "\\frac{",
    "\\sqrt{",
    "\\boxed{",
    "}",
    "{",
    "(",
    ")",
    "[",
    "]",
    "\\{",
    "\\}",
    "^",
    "_",
    "1",
    "2",
    "0",
    "-",
    "+",
    ".",
    ",",
    "x",
    "y",
    "\\pi",
    "e",
    "i",
    "\\infty",
    "\\cup",
    "=",
    "<",
    "\\le",
    "\\pm",
    "\\%",
    "$",
    "\\text{",
    "cm",
    "\\left(",
    "\\right)",
    "\\begin{pmatrix}",
    "\\end{pmatrix}",
    "&",
    "\\\\",
    "!",
    "|",
    "\\sin",
    "\\log_",
    " ",
    "and",
    "\\cdot",
    "/",
    "\\dfrac",
    "<think>",
    "</think>",
    "The answer is",
    "####",
    "\\overline{",
    ":",
]
latexish = st.lists(st.sampled_from(FRAGMENTS), max_size=25).map("".join)
anything = st.one_of(st.text(max_size=200), latexish)


def _returns(fn):
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("v", fn()), daemon=True)
    t.start()
    t.join(HANG_S)
    assert not t.is_alive(), "did not return"
    assert "v" in box, "raised"
    return box["v"]


@SETTINGS
@given(anything, anything)
def test_never_raises_and_always_returns(text, gold):
    def calls():
        extract_answer(text)
        assert isinstance(is_equivalent(text, gold, timeout_s=0.2), bool)
        v = grade(text, gold)
        assert isinstance(v.correct, bool) and isinstance(v.reason, str)
        for rule in RULES:
            assert isinstance(grade_with(rule, text, gold).correct, bool)
        return answer_key(text)

    assert isinstance(_returns(calls), str)


@SETTINGS
@given(latexish, latexish)
def test_equivalence_is_symmetric(a, b):
    assert is_equivalent(a, b) == is_equivalent(b, a)


small = st.integers(min_value=-50, max_value=50)
positive = st.integers(min_value=1, max_value=40)


def _forms(q: Fraction) -> list[str]:
    forms = [f"\\frac{{{q.numerator}}}{{{q.denominator}}}", f"{q.numerator}/{q.denominator}"]
    if q.denominator in (1, 2, 4, 5, 8, 10, 16, 20, 25):
        forms.append(str(float(q)))
    if q.denominator == 1:
        forms.append(str(q.numerator))
    return forms


@SETTINGS
@given(small, positive, small, positive)
def test_numbers_equal_exactly_when_their_values_are(n1, d1, n2, d2):
    p, q = Fraction(n1, d1), Fraction(n2, d2)
    for a in _forms(p):
        for b in _forms(q):
            assert is_equivalent(a, b) == (p == q), (a, b)
            assert is_equivalent(b, a) == (p == q), (b, a)
            assert (answer_key(a) == answer_key(b)) == (p == q), (a, b)


@SETTINGS
@given(small, small, small)
def test_expressions_in_a_variable(a, b, c):
    """(x + a)(x + b) expands to x^2 + (a+b)x + ab, and differs from it when c is added (c != 0)."""
    factored = f"(x + {a})(x + {b})".replace("+ -", "- ")
    expanded = f"x^2 + {a + b}x + {a * b}".replace("+ -", "- ")
    assert is_equivalent(factored, expanded)
    assert answer_key(factored) == answer_key(expanded)
    shifted = f"{expanded} + {c}".replace("+ -", "- ")
    assert is_equivalent(factored, shifted) == (c == 0)
