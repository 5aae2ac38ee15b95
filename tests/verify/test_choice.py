"""Multiple-choice letters: where the chosen letter is found, and grading against a gold letter."""

import pytest

from ponder.verify.choice import extract_choice, gold_letter, grade_choice, letter_of


@pytest.mark.parametrize(
    "text,letter",
    [
        (r"So the answer is $\boxed{B}$.", "B"),
        (r"\boxed{\text{(C)}}", "C"),
        (r"\boxed{(D)}", "D"),
        (r"\boxed{\textbf{(E)}\ 12}", "E"),
        ("The answer is C.", "C"),
        ("The correct option is (A) since it is the smallest.", "A"),
        ("Answer: (B) 42", "B"),
        ("**Answer: D**", "D"),
        ("After checking every option,\n(C)\n", "C"),
        ("Comparing (A) and (B), only (B) works.", "B"),
        ("<think>Maybe (A).</think>The answer is (D).", "D"),
        ("B", "B"),
        ("(b)", "B"),
        ("A. Because B is not valid", "A"),
        ("Because B is valid", "B"),
    ],
)
def test_extract_choice(text, letter):
    assert extract_choice(text) == letter


@pytest.mark.parametrize(
    "text",
    ["", "No letter here at all, only 42.", "<think>(A) is tempting", None, "I think B or C could work."],
)
def test_no_choice(text):
    assert extract_choice(text) is None


def test_letters_can_be_limited():
    assert extract_choice("The answer is (E).", letters="ABCD") is None
    assert extract_choice("The answer is (E).", letters="ABCDE") == "E"


@pytest.mark.parametrize(
    "answer,letter",
    [
        ("(B)", "B"),
        (r"\text{(C)}", "C"),
        (r"\textbf{(A)}", "A"),
        ("D", "D"),
        ("B) 42", "B"),
        ("42", None),
        ("Bob", None),
    ],
)
def test_letter_of(answer, letter):
    assert letter_of(answer) == letter


def test_gold_letter_accepts_only_a_bare_capital_letter():
    assert gold_letter("C") == "C"
    assert gold_letter(r"\text{(B)}") == "B"
    assert gold_letter("(A)") == "A"
    assert gold_letter("c") is None
    assert gold_letter("C(5,2)") is None


def test_grade_choice():
    ok = grade_choice("I pick \\boxed{C}.", "(C)")
    assert (ok.correct, ok.pred) == (True, "C")
    wrong = grade_choice("The answer is (A).", "C")
    assert (wrong.correct, wrong.pred) == (False, "A")
    none = grade_choice("I do not know.", "C")
    assert (none.correct, none.pred, none.reason) == (False, None, "no choice letter found")
    assert grade_choice("(A)", "42").reason.startswith("gold")
