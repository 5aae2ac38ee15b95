"""The ordinary single-turn question-answering task, behind the same interface as :class:`ThinkerEnv`.

``reset(problem)`` gives one user turn (``prompts.qa`` with the question); ``step(answer)`` ends the dialogue
with reward ``1[correct]`` (0 when the budget cut the answer). It is the baseline Thinker is compared with:
same model, same RL, one stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ponder.config import option
from ponder.env import rewards
from ponder.env.dialogue import Dialogue, Transition, split_question, stop_option
from ponder.env.prompts import StagePrompts, fill
from ponder.records import Message, Problem
from ponder.verify.rules import RULES

QA_STAGES = ("answer",)


@dataclass(frozen=True)
class QAEnvConfig:
    """The single-turn task: one budget, one grading rule, one prompt."""

    budget_tokens: int = option(6000, "Token budget of the answer.")
    grading_rule: str = option("boxed", f"How answers are graded: one of {', '.join(RULES)}.")
    prompts: StagePrompts = option(
        StagePrompts(), "Prompts (only ``qa`` is used here; ponder/env/prompts.py)."
    )
    stop: tuple[str, ...] = stop_option()

    def budget(self, stage: str = "answer") -> int:
        return self.budget_tokens

    def __post_init__(self) -> None:
        if self.budget_tokens < 1:
            raise ValueError(f"budget_tokens must be >= 1, got {self.budget_tokens}")
        if self.grading_rule not in RULES:
            raise ValueError(f"grading_rule must be one of {', '.join(RULES)}, got {self.grading_rule!r}")


class QAEnv(Dialogue):
    """One single-turn dialogue (mode only matters for the gold-answer check: training needs one)."""

    def __init__(self, config: QAEnvConfig | None = None, *, mode: str = "train", **_: Any):
        if mode not in ("train", "infer"):
            raise ValueError(f"mode must be 'train' or 'infer', got {mode!r}")
        self.config = config or QAEnvConfig()
        self.mode = mode
        self.problem: Problem | None = None
        self.turns: list[dict[str, Any]] = []
        self.stage: str | None = None
        self._prompt: list[Message] = []

    @property
    def stage_prompts(self) -> list[list[Message]]:
        return [self._prompt] if self._prompt else []

    def reset(self, problem: Problem) -> list[Message]:
        if self.mode == "train" and not problem.answer:
            raise ValueError(f"problem {problem.id!r}: training needs a gold answer")
        self.problem = problem
        prefix, question = split_question(problem.prompt)
        text = fill(self.config.prompts.qa, question=question, budget=self.config.budget_tokens)
        self._prompt = prefix + [{"role": "user", "content": text}]
        self.turns = []
        self.stage = "answer"
        return [dict(m) for m in self._prompt]

    def step(
        self, response: str, *, finish_reason: str = "stop", num_tokens: int | None = None, **_: Any
    ) -> Transition:
        if self.stage is None:
            raise RuntimeError("step() after the dialogue ended; call reset() first")
        if finish_reason not in ("stop", "length"):
            raise ValueError(f"finish_reason must be 'stop' or 'length', got {finish_reason!r}")
        truncated = finish_reason == "length"
        correct, pred = self._grade(response)
        turn = {
            "stage": "answer",
            "user": self._prompt[-1]["content"],
            "response": response,
            "finish_reason": finish_reason,
            "num_tokens": num_tokens,
            "truncated": truncated,
            "correct": correct,
            "pred": pred,
            "reward": rewards.answer_reward(correct, truncated),
        }
        self.turns.append(turn)
        self.stage = None
        return Transition(None, turn["reward"], turn)

    def final_turn(self) -> dict[str, Any] | None:
        return self.turns[-1] if self.turns else None
