"""Neighbour sums: a task family where checking an answer is one line of look-ups and producing it is a search.

A problem names ``size`` one-digit numbers with letters and gives a target; exactly one number and the next
one add up to it, and the answer is the letter of the first of the two::

    Sum of one and the next is 14:
    a3,b8,d5,f9,g2,j7                    ->  \\boxed{d}

The ways of answering differ in cost -- the premise of Thinker (fast and slow thinking):

- **fast**: the first ``lines`` lines of the search, then the letter -- found by them, or a guess (with
  ``lines=0`` the letter at once: the model must find the pair in one forward pass, which a 0.6M-parameter
  model does not learn: it stays at chance, measured);
- **check** (Verification of a candidate letter): the candidate's line of the search -- two look-ups of a
  letter's number, two one-digit subtractions from the target; the verdict is whether the rest is zero::

      d5,14-5=9;f9,9-9=0. \\boxed{Yes}

- **search** (Slow Thinking and the single-turn answer): the same line for every letter in order until the
  rest is zero -- up to ``size - 1`` lines::

      a3,14-3=11;b8,11-8=3.
      b8,14-8=6;d5,6-5=1.
      d5,14-5=9;f9,9-9=0. \\boxed{d}

The summary of a search is its last line. A *hasty* search (:func:`hasty_text`, the ThinkPO miniature's
long solutions of varying thoroughness) stops trying letters at some point and states the answer -- which the
writer of the data knows, and a model imitating it can only guess.

Every step of a search is a look-up of a letter's number (the number written right after the letter,
copied from the question: the plain induction copy -- ``b=8`` was learnt far worse), the letter after a
letter, a subtraction fact, or a test for zero. No step asks whether a number occurs in the list (a
membership test, which a 0.6M-parameter model did not learn reliably in our SFT budget: measured). The
letters are single tokens that the question and every answer spell alike (commas, not spaces, separate
them: the tokenizer joins a space and a letter into another token), they avoid the letters the stage prompts
spell one token at a time, and ``e`` and ``i`` (constants to the math grader); answers are graded by the
``boxed`` rule.
"""

from __future__ import annotations

import random
import re

from ponder.records import Problem
from ponder.verify.math import extract_answer

FAMILY = "neighbour-sum"
LETTERS = "abdfgjlmqvwz"


def neighbour_sum(n: int, seed: int = 0, *, size: int = 6, max_number: int = 9) -> list[Problem]:
    """``n`` distinct problems of ``size`` one-digit numbers (1..``max_number``, repeats allowed), deterministic
    per ``seed``. The target is a neighbour sum that occurs once. ``meta``: ``values`` (in letter order),
    ``target``, ``index`` (position of the answer's letter), ``long`` (the search) and ``short`` (the letter)."""
    if not 3 <= size <= len(LETTERS):
        raise ValueError(f"size must be in 3..{len(LETTERS)}, got {size}")
    if max_number < 2:
        raise ValueError(f"max_number must be >= 2, got {max_number}")
    rng = random.Random(f"{FAMILY}:{seed}:{size}:{max_number}")
    out: list[Problem] = []
    seen: set[tuple] = set()
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > 50 * n + 1000:
            raise ValueError(f"cannot draw {n} distinct problems of size {size} from 1..{max_number}")
        values = [rng.randint(1, max_number) for _ in range(size)]
        sums = [a + b for a, b in zip(values, values[1:], strict=False)]
        unique = sorted({s for s in sums if sums.count(s) == 1})
        if not unique:
            continue
        target = rng.choice(unique)
        if (tuple(values), target) in seen:
            continue
        seen.add((tuple(values), target))
        k = sums.index(target)
        named = ",".join(f"{LETTERS[i]}{v}" for i, v in enumerate(values))
        meta = {"family": FAMILY, "values": values, "target": target, "index": k}
        problem = Problem(
            id=f"{FAMILY}-{seed}-{len(out)}",
            prompt=f"Sum of one and the next is {target}:\n{named}",
            answer=LETTERS[k],
            source=f"synthetic/{FAMILY}",
            meta=meta,
        )
        meta["long"], meta["short"] = search_text(problem), boxed(LETTERS[k])
        out.append(problem)
    return out


# --------------------------------------------------------------------------- the texts of each way of answering


def boxed(value: str) -> str:
    return f"\\boxed{{{value}}}"


def line(problem: Problem, k: int) -> tuple[str, bool]:
    """The search line of letter ``k`` (without its end), and whether its rest is zero."""
    values, target = problem.meta["values"], problem.meta["target"]
    v, w = values[k], values[k + 1]
    r = target - v
    text = f"{LETTERS[k]}{v},{target}-{v}={r};{LETTERS[k + 1]}{w},{r}-{w}={r - w}"
    return text, r - w == 0


def fast_text(problem: Problem, lines: int = 0) -> str:
    """The fast answer: the first ``lines`` lines of the search, then the boxed letter -- found by those
    lines, or (when they did not reach it) the answer the model has to guess. ``lines=0``: the letter at once."""
    k = problem.meta["index"]
    if k < lines:
        return search_text(problem)
    tried = [line(problem, j)[0] + "." for j in range(lines)]
    return "\n".join([*tried, boxed(problem.answer)])


def search_text(problem: Problem, whole: bool = False) -> str:
    """The line of every letter in order until the rest is zero, then the boxed letter. ``whole``: the line of
    every letter, the letter boxed where its line ends in zero (the search goes on after the hit, so every
    letter's number is looked up with a non-zero rest too: stopped at the hit, the last letter's number is
    only ever written where it equals the rest, and a model learns to copy the rest instead of looking it up)."""
    lines, found = [], False
    for k in range(len(problem.meta["values"]) - 1):
        text, hit = line(problem, k)
        found = found or hit
        if hit:
            lines.append(f"{text}. {boxed(LETTERS[k])}")
            if not whole:
                return "\n".join(lines)
        else:
            lines.append(text + ".")
    if not found:
        raise ValueError(f"problem {problem.id!r} has no neighbours adding up to {problem.meta['target']}")
    return "\n".join(lines)


def hasty_text(problem: Problem, thoroughness: float, rng: random.Random) -> str:
    """The search, stopped before each line with probability ``1 - thoroughness`` and then answered: the lines
    written so far, then the boxed letter on a line of its own (the fast answer's form). Thoroughness 1 is the
    whole search, 0 the letter at once."""
    if not 0.0 <= thoroughness <= 1.0:
        raise ValueError(f"thoroughness must be in [0, 1], got {thoroughness}")
    k = problem.meta["index"]
    for j in range(k + 1):
        if rng.random() >= thoroughness:
            return fast_text(problem, j)
    return search_text(problem)


_HIT = re.compile(r"^[a-z]-?\d+,-?\d+--?\d+=-?\d+;[a-z]-?\d+,-?\d+--?\d+=0\. \\boxed\{[a-z]\}$")


def searched(response: str) -> bool:
    """Whether a response ends its search on a hit line (``...=0. \\boxed{x}``) rather than stating a letter
    without one (a hasty answer); junk counts as not searched."""
    if not isinstance(response, str):
        return False
    last = response.strip().rsplit("\n", 1)[-1]
    return bool(_HIT.match(last))


def summary_text(problem: Problem) -> str:
    """The search condensed to the line that found the pair."""
    k = problem.meta["index"]
    return f"{line(problem, k)[0]}. {boxed(LETTERS[k])}"


_LETTER = re.compile(r"^\s*([a-z])\s*$")


def shown_letter(response: str) -> str | None:
    """The single letter a fast answer puts in its last box (None when there is none)."""
    pred = extract_answer(response, strict=True) if isinstance(response, str) else None
    m = _LETTER.match(pred) if pred is not None else None
    return m.group(1) if m else None


def check(problem: Problem, response: str) -> tuple[str, bool]:
    """The local check of a fast answer: (verification text ending in the verdict, verdict).

    Yes exactly when the answer is the problem's letter (tested against the grader)."""
    letter = shown_letter(response)
    names = LETTERS[: len(problem.meta["values"]) - 1]  # the last letter has no next one
    if letter is None:
        return f"No letter. {boxed('No')}", False
    if letter not in names:
        return f"No {letter}. {boxed('No')}", False
    text, hit = line(problem, names.index(letter))
    return f"{text}. {boxed('Yes' if hit else 'No')}", hit


def distractor(problem: Problem, rng: random.Random, lines: int = 0) -> str:
    """A wrong fast answer of the kind a quick guess gives, in the fast answer's form: the search lines it
    tried without a hit (at most ``lines``), then a wrong letter -- a neighbour of the answer half of the time.
    (Verification learns to check a guess in the context it will see; a bare letter where the fast answers
    write lines taught it to tell the two apart by their form instead.)"""
    k, size = problem.meta["index"], len(problem.meta["values"])
    wrong = [j for j in range(size - 1) if j != k]
    near = [j for j in wrong if abs(j - k) == 1]
    letter = boxed(LETTERS[rng.choice(near if near and rng.random() < 0.5 else wrong)])
    tried = [line(problem, j)[0] + "." for j in range(min(lines, k))]
    return "\n".join([*tried, letter])


class NeighbourSumTask:
    """The neighbour-sum texts as a :class:`ponder.demos.thinker_data.CheckableTask`; ``fast_lines``: search
    lines the fast answer may write before it must answer (see :func:`fast_text`); ``whole_search``: Slow
    Thinking and the single-turn answer search every letter (see :func:`search_text`)."""

    def __init__(self, fast_lines: int = 0, whole_search: bool = False):
        self.fast_lines = fast_lines
        self.whole_search = whole_search

    def fast(self, problem: Problem) -> str:
        return fast_text(problem, self.fast_lines)

    def search(self, problem: Problem) -> str:
        return search_text(problem, whole=self.whole_search)

    def summary(self, problem: Problem) -> str:
        return summary_text(problem)

    def distractor(self, problem: Problem, rng: random.Random) -> str:
        return distractor(problem, rng, self.fast_lines)

    def check(self, problem: Problem, fast_response: str) -> tuple[str, bool]:
        return check(problem, fast_response)
