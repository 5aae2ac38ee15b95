"""Programs from responses: extraction forms and completion with the problem's own code (HumanEval style)."""

from ponder.verify.code import run_tests
from ponder.verify.code_extract import extract_code
from ponder.verify.code_program import assemble_program, defines, problem_program

PROMPT_CODE = 'from typing import List\n\n\ndef total(xs: List[int]) -> int:\n    """Sum of xs."""\n'
CHECK = "def check(candidate):\n    assert candidate([1, 2, 3]) == 6\n    assert candidate([]) == 0\n"


def test_extraction_forms():
    assert extract_code("Plan.\n<BEGIN>\nprint(1)\n<END>\nthen ```python\nprint(2)\n```") == "print(1)\n"
    assert extract_code("```py\nx = 1\n```\ntext\n```python3\nx = 2\n```") == "x = 2\n"
    assert extract_code("```\nprint(3)\n```") == "print(3)\n"
    assert (
        extract_code("Plan: loop.\n```python\nfor i in range(3):\n    print(i)")
        == "for i in range(3):\n    print(i)\n"
    )
    assert extract_code("x = 1\nprint(x)") == "x = 1\nprint(x)\n"
    assert extract_code("I think the answer is to loop.") is None
    assert extract_code("```python\n\n```") is None


def test_whole_function_gets_the_imports():
    resp = "```python\ndef total(xs: List[int]) -> int:\n    return sum(xs)\n```"
    prog = assemble_program(resp, entry_point="total", prompt_code=PROMPT_CODE)
    assert prog.startswith("from typing import List\n") and "return sum(xs)" in prog
    assert run_tests(prog, [CHECK], mode="assert", entry_point="total")[0].passed


def test_whole_function_keeps_the_prompts_helpers():
    """HumanEval/10 style: the prompt defines a helper the answer may call; the answer redefines the entry point."""
    prompt_code = (
        "def is_even(n: int) -> bool:\n    return n % 2 == 0\n\n\n"
        'def evens(xs):\n    """The even numbers of xs."""\n'
    )
    resp = "```python\ndef evens(xs):\n    return [x for x in xs if is_even(x)]\n```"
    prog = assemble_program(resp, entry_point="evens", prompt_code=prompt_code)
    assert prog.startswith(prompt_code)
    check = "def check(candidate):\n    assert candidate([1, 2, 3, 4]) == [2, 4]\n"
    assert run_tests(prog, [check], mode="assert", entry_point="evens")[0].passed
    # Prompt code that does not compile alone (a bare signature) contributes its imports only.
    bare = "import math\ndef evens(xs):\n"
    prog = assemble_program(resp, entry_point="evens", prompt_code=bare)
    assert prog == "import math\n" + "def evens(xs):\n    return [x for x in xs if is_even(x)]\n"


def test_body_only_goes_after_the_signature():
    for resp in ["```python\n    return sum(xs)\n```", "    return sum(xs)\n"]:
        prog = assemble_program(resp, entry_point="total", prompt_code=PROMPT_CODE)
        assert prog.startswith(PROMPT_CODE)
        assert run_tests(prog, [CHECK], mode="assert", entry_point="total")[0].passed
    wrong = assemble_program("```python\n    return 0\n```", entry_point="total", prompt_code=PROMPT_CODE)
    assert not run_tests(wrong, [CHECK], mode="assert", entry_point="total")[0].passed


def test_plain_problems_and_no_code():
    assert problem_program({}, "```python\nprint(1)\n```") == "print(1)\n"
    assert problem_program({"entry_point": "f", "prompt_code": "def f():\n"}, "no code, sorry") is None
    assert defines("class Solution:\n    def total(self, xs):\n        pass\n", "total")
    assert not defines("totals = 3\n", "total")
