"""The answer parser and the evaluator underneath the comparisons."""

from fractions import Fraction

import pytest

from ponder.verify.answers.latex import parse
from ponder.verify.answers.numeric import Evaluator, Overflow, Unevaluable, value_key
from ponder.verify.answers.tokens import ParseError


def _value(s):
    return Evaluator()(parse(s))


@pytest.mark.parametrize(
    "text,value",
    [
        ("\\frac{1}{2^{99}}", Fraction(1, 2**99)),
        ("2\\frac{1}{2}", Fraction(5, 2)),
        ("-4 4/9", Fraction(-40, 9)),
        ("0.1\\overline{6}", Fraction(1, 6)),
        ("1.5 \\times 10^{3}", Fraction(1500)),
        ("204_5", Fraction(54)),
        ("12{,}000", Fraction(12000)),
        ("\\sqrt{\\frac{9}{4}}", Fraction(3, 2)),
        ("\\sqrt[3]{-8}", Fraction(-2)),
        ("\\binom{10}{3}", Fraction(120)),
        ("\\sum_{k=1}^{4} k^2", Fraction(30)),
        ("\\left\\lfloor \\frac{7}{2} \\right\\rfloor", Fraction(3)),
        ("|-3|", Fraction(3)),
        ("3\\%", Fraction(3, 100)),
    ],
)
def test_exact_values(text, value):
    assert _value(text) == value


def test_factorials_stay_exact():
    assert _value("\\frac{1}{2004!}") == _value("\\frac{1}{2006!}") * 2005 * 2006
    assert _value("\\frac{1}{2004!}") != _value("\\frac{1}{2006!}")


def test_irrational_values_to_many_digits():
    assert value_key(_value("\\sqrt{2}")) == "1.4142135623730950488"
    assert value_key(_value("\\tan^2(1) + 1")) == value_key(_value("\\sec^2(1)"))


@pytest.mark.parametrize("text", ["10^{10^{10^{10}}}", "(10^{100})!", "\\binom{10^{50}}{3}"])
def test_overflow_is_refused(text):
    with pytest.raises(Overflow):
        _value(text)


@pytest.mark.parametrize("text", ["\\frac{1}{0}", "\\log 0", "(1, 2)", "x + 1", "\\sum_{k=1}^{10^{9}} k"])
def test_no_value(text):
    with pytest.raises(Unevaluable):
        _value(text)


@pytest.mark.parametrize(
    "text,node",
    [
        (
            "12\\text{ and }13",
            ("list", (("num", Fraction(12), None, None), ("num", Fraction(13), None, None)), ","),
        ),
        ("5\\text{ cm}^2", ("num", Fraction(5), None, None)),
        ("x_{1}", ("sym", "x_1")),
        ("\\text{Evelyn}", ("text", "evelyn")),
        ("0.250", ("num", Fraction(1, 4), -3, 3)),
        ("(1, 2]", ("seq", "(", "]", (("num", Fraction(1), None, None), ("num", Fraction(2), None, None)))),
    ],
)
def test_nodes(text, node):
    assert parse(text) == node


@pytest.mark.parametrize(
    "text", ["", "\\frac{", "{" * 100 + "1" + "}" * 100, "x" * 5000, "(1, 2", "1 +", "\\int_0^1 x\\,dx"]
)
def test_parse_errors(text):
    with pytest.raises(ParseError):
        parse(text)
