"""Comparison rules: stdout line by line with number tolerance, call values, canonical JSON."""

import math

import pytest

from ponder.verify import outputs


@pytest.mark.parametrize(
    "got,expected",
    [
        ("3\n", "3"),  # trailing newline
        ("  1 2  \r\n3\n\n", "1 2\n3"),  # spaces, CRLF, blank trailing lines
        ("1   2\n", "1 2\n"),  # whitespace between tokens
        ("0.3333333\n", "0.33333333\n"),  # |a-b| = 3.3e-9 <= 1e-6
        ("+3\n", "3\n"),  # integers compare as integers
        ("3.0\n", "3\n"),  # 3.0 == 3 as numbers
        ("1e3\n", "1000\n"),
        ("YES 1.0000001\n", "YES 1\n"),
    ],
)
def test_stdout_equal_accepts(got, expected):
    assert outputs.stdout_equal(got, expected)


@pytest.mark.parametrize(
    "got,expected",
    [
        ("3\n", "4\n"),
        ("12345678901234567891\n", "12345678901234567890\n"),  # big integers exactly, not via float
        ("0.33\n", "0.3333\n"),  # 3.3e-3 > tolerance
        ("yes\n", "YES\n"),  # case matters
        ("1 2\n", "1\n"),  # token count
        ("1\n2\n", "1\n"),  # line count
        ("1_000\n", "1000\n"),  # only plain decimal numbers count as numbers
        ("nan\n", "1\n"),
    ],
)
def test_stdout_equal_rejects(got, expected):
    assert not outputs.stdout_equal(got, expected)


def test_first_difference_names_the_line():
    assert outputs.first_stdout_difference("1\n2\n", "1\n3\n") == "line 2: expected '3', got '2'"
    assert outputs.first_stdout_difference("1\n", "1\n2\n") == "expected 2 lines, got 1"


def test_canonical_json_is_one_text_for_equal_values():
    assert outputs.canonical_json((1, 2.0, [3, (4,)])) == "[1,2,[3,[4]]]"
    assert outputs.canonical_json(0.1 + 0.2) == outputs.canonical_json(0.3) == "0.3"
    assert outputs.canonical_json({"b": 1, "a": {2, 1}}) == '{"a":[1,2],"b":1}'
    assert outputs.canonical_json({1: "x"}) == '{"1":"x"}'
    assert outputs.canonical_json(True) == "true" and outputs.canonical_json(None) == "null"
    assert outputs.canonical_json(float("inf")) == "Infinity"


def test_canonical_reads_subclasses_through_their_base_type():
    class Liar(int):
        def __eq__(self, other):
            return True

        def __repr__(self):
            return "999"

        __str__ = __repr__

    class Sly(str):
        def __str__(self):
            return "other"

    assert outputs.canonical_json(Liar(5)) == "5"
    assert outputs.canonical_json(Sly("abc")) == '"abc"'


def test_canonical_rejects_objects():
    with pytest.raises(TypeError, match="object"):
        outputs.canonical_json(object())


@pytest.mark.parametrize(
    "got,expected,same",
    [
        ("[1,2]", [1, 2], True),
        ("[1,2]", (1, 2), True),  # tuples as lists
        ("[1,2]", "[1, 2]", True),  # expected given as JSON text
        ('"abc"', "abc", True),  # expected given as a plain string
        ('"3"', "3", True),  # the string "3" equals the plain expected string "3"
        ("3", "3", True),  # the number 3 equals the JSON text "3"
        ("0.333333333333", 1 / 3, True),
        ("0.34", 1 / 3, False),
        ("true", 1, False),  # booleans only equal booleans
        ("1", True, False),
        ('{"a":[1,2]}', {"a": [1, 2]}, True),
        ('{"a":[2,1]}', {"a": [1, 2]}, False),
        ("NaN", math.nan, True),
        ("[1,2]", [1, 2, 3], False),
    ],
)
def test_call_output_equal(got, expected, same):
    assert outputs.call_output_equal(got, expected) is same


def test_stdout_key_groups_equal_outputs():
    assert outputs.stdout_key(" 3 \n+4\n\n") == outputs.stdout_key("3\n4") == "3\n4"
    assert outputs.stdout_key("2.0 x") == "2 x"
    assert outputs.stdout_key("1") != outputs.stdout_key("2")
