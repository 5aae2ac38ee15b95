"""Thinker's stage rewards as pure functions, the Yes/No reader, and the trailing Fast Thinking accuracy.

Rewards (Thinker, NeurIPS 2025, §3; each is 0 when the stage was cut by its token budget):

- Fast Thinking and Slow Thinking: ``1[answer correct]``.
- Verification, with ``p`` the trailing accuracy of Fast Thinking: ``(1 - p) · 1[Yes]`` when the fast answer
  was right and ``p · 1[No]`` when it was wrong. A policy that always says Yes then earns ``p (1 - p)`` in
  expectation, exactly what always-No earns (``(1 - p) p``): guessing the majority class pays nothing extra.
- Summarization: ``1[answer correct] + c · mean log π(summary | fast prompt)`` -- the mean per-token
  log-probability of the summary read as an answer to the *first* prompt, computed without gradient, which
  rewards summaries that a fast answer could have been. ``c = 0`` switches the term off.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable

YES, NO = "yes", "no"
_BOX_OPEN = re.compile(r"\\(?:boxed|fbox)\s*\{")
_WRAPPER = re.compile(r"\\(?:text|textbf|mathrm|mathbf|textit)\s*")


def _last_box(text: str) -> str | None:
    starts = [m.end() for m in _BOX_OPEN.finditer(text)]
    if not starts:
        return None
    depth, i = 1, starts[-1]
    while i < len(text):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[starts[-1] : i]
        i += 1
    return None  # the last box is not closed: no judgement


def parse_verdict(text: str) -> str | None:
    """``"yes"`` / ``"no"`` when the LAST box of ``text`` is ``\\boxed{Yes}`` / ``\\boxed{No}`` (any case,
    optionally inside ``\\text{}``, trailing punctuation ignored), else None. Never raises on model output."""
    if not isinstance(text, str):
        return None
    content = _last_box(text)
    if content is None:
        return None
    word = re.sub(r"[^a-z]", "", _WRAPPER.sub("", content).lower())
    return word if word in (YES, NO) else None


def fast_reward(correct: bool, truncated: bool) -> float:
    """Fast Thinking: 1 for a correct answer within the budget, else 0."""
    return 1.0 if correct and not truncated else 0.0


def slow_reward(correct: bool, truncated: bool) -> float:
    """Slow Thinking: 1 for a correct answer within the budget, else 0."""
    return 1.0 if correct and not truncated else 0.0


def verify_reward(fast_correct: bool, verdict: str | None, p: float, truncated: bool) -> float:
    """Verification: ``(1 - p)`` for Yes on a right fast answer, ``p`` for No on a wrong one, else 0.

    ``verdict`` is ``"yes"``, ``"no"`` or None (no readable judgement earns nothing); ``p`` in [0, 1].
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"trailing accuracy p must be in [0, 1], got {p}")
    if truncated or verdict is None:
        return 0.0
    if fast_correct:
        return 1.0 - p if verdict == YES else 0.0
    return p if verdict == NO else 0.0


def summary_reward(correct: bool, truncated: bool, mean_logprob: float | None, coef: float) -> float:
    """Summarization: ``1[correct] + coef · mean_logprob``; 0 when cut by the budget.

    ``mean_logprob`` (<= 0) is needed only when ``coef != 0``.
    """
    if truncated:
        return 0.0
    base = 1.0 if correct else 0.0
    if coef == 0.0:
        return base
    if mean_logprob is None:
        raise ValueError(
            "summary reward with coef != 0 needs the summary's mean log-prob under the fast prompt"
        )
    return base + coef * float(mean_logprob)


def answer_reward(correct: bool, truncated: bool) -> float:
    """Single-turn QA baseline: 1 for a correct answer within the budget, else 0."""
    return 1.0 if correct and not truncated else 0.0


class TrailingAccuracy:
    """Accuracy of the most recent ``window`` Fast Thinking answers; ``initial`` until the first one.

    Shared by all dialogues of a run (the Verification reward of every dialogue reads the same ``p``).
    ``state_dict`` / ``load_state_dict`` carry it across a checkpoint.
    """

    def __init__(self, window: int = 1000, initial: float = 0.5):
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        if not 0.0 <= initial <= 1.0:
            raise ValueError(f"initial must be in [0, 1], got {initial}")
        self.window = window
        self.initial = initial
        self._recent: deque[bool] = deque(maxlen=window)

    @property
    def value(self) -> float:
        return sum(self._recent) / len(self._recent) if self._recent else self.initial

    def update(self, correct: bool | Iterable[bool]) -> float:
        if isinstance(correct, bool):
            self._recent.append(correct)
        else:
            self._recent.extend(bool(c) for c in correct)
        return self.value

    def __len__(self) -> int:
        return len(self._recent)

    def state_dict(self) -> dict:
        return {"window": self.window, "initial": self.initial, "recent": [int(c) for c in self._recent]}

    def load_state_dict(self, state: dict) -> None:
        self._recent = deque((bool(c) for c in state.get("recent", [])), maxlen=self.window)
