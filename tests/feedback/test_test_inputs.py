"""Parsing and repair of model-written test inputs, and the prompt that asks for them."""

import pytest

from ponder.feedback.test_inputs import (
    build_prompt,
    function_arity,
    input_mode,
    parse_test_inputs,
)
from ponder.records import Problem


def parse(text, mode="stdio", **kw):
    return parse_test_inputs(text, mode, **kw)


def test_clean_json_object_stdin():
    r = parse('{"inputs": ["3\\n1 2 3\\n", "0"]}')
    assert r.inputs == ["3\n1 2 3\n", "0\n"]  # a missing final newline is added
    assert r.error is None and r.repairs == []


def test_bare_list_and_alternative_keys():
    assert parse('["1", "2"]').inputs == ["1\n", "2\n"]
    assert parse('{"test_cases": ["5"]}').inputs == ["5\n"]
    assert parse('{"whatever": ["7"]}').inputs == ["7\n"]  # the object's only list


def test_single_value_is_wrapped():
    r = parse('"42"')
    assert r.inputs == ["42\n"] and "wrapped a single value" in r.repairs
    r = parse("17", mode="call")
    assert r.inputs == [[17]]


def test_fenced_block_and_surrounding_prose():
    text = 'Sure! Here are the inputs:\n```json\n{"inputs": ["1 2\\n", "3 4\\n"]}\n```\nGood luck.'
    r = parse(text)
    assert r.inputs == ["1 2\n", "3 4\n"]
    assert "took the JSON of a fenced block" in r.repairs
    r = parse('The inputs are {"inputs": ["9"]} as requested.')
    assert r.inputs == ["9\n"] and "took the JSON inside surrounding text" in r.repairs


def test_trailing_commas_and_python_literals():
    r = parse('{"inputs": ["1", "2",],}')
    assert r.inputs == ["1\n", "2\n"] and "removed trailing commas" in r.repairs
    r = parse("{'inputs': [(1, 'a'), [True, None]]}", mode="call")
    assert r.inputs == [[1, "a"], [True, None]] and "read as a Python literal" in r.repairs


def test_truncated_list_keeps_complete_items():
    r = parse('{"inputs": ["1\\n", "22\\n", "33')
    assert r.inputs == ["1\n", "22\n"]
    assert any("cut-off list" in x for x in r.repairs)
    r = parse('{"inputs": [[1, 2], [3, [4', mode="call")
    assert r.inputs == [[1, 2]]


def test_stdin_items_of_other_types():
    r = parse('{"inputs": [5, [3, "1 2 3"], {"input": "x\\n"}, {"bad": 1}, [[1]]]}')
    assert r.inputs == ["5\n", "3\n1 2 3\n", "x\n"]
    assert "joined a list as lines" in r.repairs and "wrote a number as text" in r.repairs
    assert sum(x.startswith("dropped item") for x in r.repairs) == 2


def test_call_items_json_strings_wrapping_and_arity():
    # The authors' form: each input a JSON text of the argument list; non-lists wrapped.
    r = parse('{"inputs": ["[1, 2]", "3", "[[4, 5]]", "not json"]}', mode="call")
    assert r.inputs == [[1, 2], [3], [[4, 5]], ["not json"]]
    # A one-parameter function: a list that is not of length one can only be that one argument.
    r = parse('{"inputs": [[1, 2, 3], [[7]], []]}', mode="call", arity=1)
    assert r.inputs == [[[1, 2, 3]], [[7]], [[]]]


def test_duplicates_cap_and_garbage():
    r = parse('{"inputs": ["1", "1\\n", "2", "3"]}', n_max=2)
    assert r.inputs == ["1\n", "2\n"]
    assert "dropped item 1: duplicate" in r.repairs and "kept the first 2 of 3 inputs" in r.repairs
    for junk in ["", "   ", None, 12, "no json here at all", "[[[[", "{" * 5000, "[" * 100_000]:
        r = parse(junk)
        assert r.inputs == [] and r.error
    assert parse('{"inputs": []}').error == "no usable input in the answer"


def test_input_mode_and_arity():
    stdin = Problem(id="a", prompt="Read n.")
    assert input_mode(stdin) == "stdio" and function_arity(stdin) is None
    he = Problem(
        id="b",
        prompt="Complete it.",
        meta={
            "mode": "assert",
            "entry_point": "f",
            "prompt_code": "def f(xs: list, k=1) -> int:\n    pass\n",
        },
    )
    assert input_mode(he) == "call" and function_arity(he) == 2
    method = Problem(
        id="c", prompt="class Solution:\n    def g(self, nums):\n", meta={"mode": "call", "entry_point": "g"}
    )
    assert function_arity(method) == 1
    assert input_mode(Problem(id="d", prompt="x", meta={"mode": "call", "input_mode": "stdio"})) == "stdio"


def test_prompt_has_problem_count_and_format():
    p = Problem(id="a", prompt="Read n and print n squared.")
    text = build_prompt(p, 7)[0]["content"]
    assert "Read n and print n squared." in text and "Write 7 different test inputs" in text
    assert "standard input" in text and '{"inputs":' in text
    f = Problem(id="b", prompt="Write add.", meta={"mode": "call", "entry_point": "add"})
    text = build_prompt(f, 3)[0]["content"]
    assert "add(*arguments)" in text
    custom = build_prompt(p, 2, template="P={problem} N={n}")[0]["content"]
    assert custom == "P=Read n and print n squared. N=2"


def test_bad_mode_is_a_caller_error():
    with pytest.raises(ValueError, match="mode must be one of"):
        parse_test_inputs("[]", "assert")
