"""Where the final answer is found in a response, in what order, and what strict mode keeps."""

import pytest

from ponder.verify.math import extract_answer, gold_answer


@pytest.mark.parametrize(
    "text,answer",
    [
        (r"so \boxed{\frac{a}{b+c}} is it", r"\frac{a}{b+c}"),
        (r"nested \boxed{\{1, \{2\}\}}", r"\{1, \{2\}\}"),
        (r"\boxed{1} then \boxed{2}, finally \boxed{3} after much more text in between the two boxes", "3"),
        (r"\boxed{1}\boxed{2}", "1, 2"),
        (r"\boxed{1},\boxed{2},\boxed{3}", "1, 2, 3"),
        (r"$\boxed{2}$ and $\boxed{3}$", "2, 3"),
        (r"\boxed{(3, 3)} \text{ for part (a) and } \boxed{(1, 1)}", "(3, 3), (1, 1)"),
        (r"\boxed{1} no no no no no \boxed{2}", "2"),
        (r"\boxed 5", "5"),
        (r"\boxed\pi", r"\pi"),
        (r"\fbox{7}", "7"),
        (r"the value is \boxed{-\dfrac{3}{4}}.", r"-\dfrac{3}{4}"),
    ],
)
def test_boxed(text, answer):
    assert extract_answer(text) == answer
    assert extract_answer(text, strict=True) == answer


def test_thinking_is_skipped_and_unclosed_thinking_has_no_answer():
    assert extract_answer(r"<think>\boxed{1}</think>So \boxed{2}.") == "2"
    assert extract_answer(r"<think>\boxed{1}</think>The answer is 3.") == "3"
    # The reasoning never ended: the response was cut off and gives no answer, not its draft box.
    assert extract_answer(r"<think>so far \boxed{1}") is None


@pytest.mark.parametrize(
    "text,answer",
    [
        ("The answer is 42.", "42"),
        ("the final answer is $x^2$.", "x^2"),
        ("Answer: 3/4", "3/4"),
        ("**Answer:** 17", "17"),
        ("Final Answer: The final answer is $\\frac{1}{2}$. I hope it is correct.", "\\frac{1}{2}"),
        ("Final Answer: The largest $n$ is 34.", "34"),
        ("...so the answer is\n\\[ 9 \\]\nDone.", "9"),
        ("Janet has 16 - 3 - 4 = 9 eggs.\n#### 18", "18"),
        ("The roots are $-1$ and $4$.", "-1, 4"),
        ("We conclude $y = 7$.", "y = 7"),
        ("So we get 5 apples and then 12 more.", "12"),
        ("There are 1 000 000 grains", "1 000 000"),
        ("It is .5 of the total", ".5"),
        ("\\frac{10}{9}", "\\frac{10}{9}"),
        ("x = 5", "x = 5"),
        ("Evelyn", "Evelyn"),
        ("**Answer:**\n42", "42"),
        ("**Final Answer**\n\n$$\\frac{1}{2}$$", "\\frac{1}{2}"),
        ("She pays $5 for apples and $3 for pears, so she spends $8 in total.", "8"),
        ("The answer is $8.", "8"),
    ],
)
def test_fallbacks(text, answer):
    assert extract_answer(text) == answer
    assert extract_answer(text, strict=True) is None


def test_the_later_of_math_and_number_wins():
    text = "We have $\\frac{\\Delta x'}{\\Delta x} \\geq 2$, so the error increases by 100%."
    assert extract_answer(text) == "100%"
    assert extract_answer("The count 3 gives $x = 7$") == "x = 7"


def test_final_answer_after_the_box_wins():
    text = "So $\\boxed{200}$ in the first half. ... Final Answer: The final answer is $10,455$. I hope it is correct."
    assert extract_answer(text) == "10,455"
    assert extract_answer(text, strict=True) == "200"
    # A box after the phrase is the answer.
    assert extract_answer("The final answer is $\\boxed{5}$.") == "5"


def test_fallbacks_can_be_chosen_and_ordered():
    text = "The answer is 3.\n#### 4"
    assert extract_answer(text) == "3"
    assert extract_answer(text, fallbacks=("hash",)) == "4"
    assert extract_answer("no numbers here", fallbacks=("last_number",)) is None
    with pytest.raises(ValueError, match="unknown fallback"):
        extract_answer(text, fallbacks=("guess",))


def test_truncated_box_runs_to_the_end():
    assert extract_answer("The answer is \\boxed{\\frac{1}{2}") == "\\frac{1}{2}"


@pytest.mark.parametrize("bad", [None, 42, "", "   ", "\\boxed{}", "<think>"])
def test_nothing_to_extract(bad):
    assert extract_answer(bad) is None


@pytest.mark.parametrize(
    "gold,answer",
    [
        ("\\frac{1}{2}", "\\frac{1}{2}"),
        ("$\\frac{1}{2}$", "$\\frac{1}{2}$"),
        ("So the total is $\\boxed{14}$ cm.", "14"),
        ("Natalia sold 24 clips in May.\n#### 72", "72"),
        ("\\boxed{1}\\boxed{2}", "1, 2"),
    ],
)
def test_gold_answer(gold, answer):
    assert gold_answer(gold) == answer


def test_no_fallbacks_and_numbers_given_as_numbers():
    from ponder.verify.math import grade, is_equivalent

    assert extract_answer("The answer is 3", fallbacks=None) is None
    assert extract_answer("The answer is 3", fallbacks=["answer"]) == "3"
    # A gold answer read from JSON as a number.
    assert grade(r"so \boxed{5}", 5).correct
    assert is_equivalent(0.5, "1/2")
    assert not is_equivalent(True, "1")
