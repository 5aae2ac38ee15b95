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


# --------------------------------------------------------------------------- any output gets a verdict

BIG = 5 * (10**5000 - 1) // 9  # 5,000 fives: past int()'s 4,300-digit limit for decimal text


def test_stdout_integers_past_the_digit_limit_compare_exactly():
    five = "5" * 5000
    assert outputs.stdout_equal(f"+000{five}\n", five)  # same integer, written another way
    assert not outputs.stdout_equal(five[:-1] + "6", five)
    assert outputs.first_stdout_difference("7" * 5000, five).startswith("line 1: expected '5555")
    assert outputs.stdout_key(f"+{five}") == outputs.stdout_key(five) == five
    assert outputs.stdout_key("-000") == "0"


def test_stdout_numbers_past_float_range_compare_exactly():
    assert not outputs.stdout_equal("1e400\n", "2e400\n")  # both are inf as floats
    assert outputs.stdout_equal("1e400\n", "1.0000001e400\n")  # within the relative tolerance
    assert not outputs.stdout_equal("1e-400\n", "1e400\n")
    assert outputs.stdout_key("1e400") == outputs.stdout_key("10e399") != outputs.stdout_key("2e400")


@pytest.mark.parametrize(
    "got,expected,same",
    [
        ("1" + "0" * 400, 1.5, False),  # 10**400 against a float: OverflowError in math.isclose
        ("1" + "0" * 400, 1e300, False),
        ("1.5", 10**400, False),
        ("1" + "0" * 400, 10**400, True),
        ("5" * 5000, BIG, True),  # read past int()'s limit, compared exactly
        ("5" * 4999 + "6", BIG, False),
        ("5" * 5000, 1.5, False),
        ("5" * 5000, math.inf, False),
        ("Infinity", math.inf, True),
        ("Infinity", 1e308, False),
        ("-Infinity", math.inf, False),
        ("NaN", 1.0, False),
        ("1.0", math.nan, False),
        ("[" * 100_000 + "]" * 100_000, [1], False),  # RecursionError while parsing
        ("[1,", [1], False),  # not JSON at all
        ("\udcff", "x", False),
    ],
    ids=lambda v: repr(v)[:20] if not isinstance(v, int) or v.bit_length() < 1000 else "big",
)
def test_call_output_equal_gives_a_verdict_for_any_text(got, expected, same):
    assert outputs.call_output_equal(got, expected) is same


def test_call_output_equal_expected_values_json_cannot_hold_compare_unequal():
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    assert outputs.call_output_equal("[]", deep) is False
    assert outputs.call_output_equal("1", object()) is False
    assert outputs.call_output_equal("1", "1" * 5000) is False  # expected JSON text past the digit limit


def test_canonical_json_writes_integers_of_any_length():
    text = outputs.canonical_json({"n": [BIG, -BIG], 7: {BIG}})
    assert text == f'{{"7":[{"5" * 5000}],"n":[{"5" * 5000},-{"5" * 5000}]}}'
    assert outputs.call_output_equal(text, {"n": [BIG, -BIG], "7": [BIG]})
    assert outputs.short_json(BIG).startswith("5555") and len(outputs.short_json(BIG)) < 300
    assert outputs.short_json(object()) == "<a object that JSON cannot hold>"


def test_numbers_close_never_raises():
    assert outputs.numbers_close(10**400, 10**400 + 1)  # relative tolerance
    assert not outputs.numbers_close(10**400, 1.5)
    assert not outputs.numbers_close(math.nan, math.nan) and not outputs.numbers_close(math.inf, 10**400)
