"""What every environment's dialogue shares: the transition a step returns, the question of a problem's prompt,
the current stage's budget and the grading of an answer."""

from __future__ import annotations

from typing import Any, NamedTuple

from ponder.config import option
from ponder.records import Episode, Message, Problem
from ponder.verify.rules import extract_with, grade_with


class Transition(NamedTuple):
    """What ``step`` returns: the next prompt (None when the dialogue is over), the stage's reward, details."""

    prompt: list[Message] | None
    reward: float
    info: dict[str, Any]


def stop_option() -> Any:
    """The ``stop`` setting of an environment's config (declared here once for both)."""
    return option(
        (),
        "Strings that end a turn and stay in its text, e.g. '}' where every answer ends with a \\boxed{}: "
        "the turn ends at its answer, whatever the model would write after it.",
    )


def split_question(prompt: str | list[Message]) -> tuple[list[Message], str]:
    """(messages before the question, question text) of a Problem prompt: a string, or chat messages whose last
    one is the user's question (earlier ones, e.g. a system message, are kept in front of every stage)."""
    if isinstance(prompt, str):
        return [], prompt
    if not prompt or prompt[-1].get("role") != "user":
        raise ValueError("a chat prompt must end with the user's question")
    return [dict(m) for m in prompt[:-1]], prompt[-1]["content"]


class Dialogue:
    """The state both environments keep: ``config`` (with ``budget(stage)`` and ``grading_rule``), the problem,
    the current ``stage`` (None once the dialogue is over) and the turns so far."""

    config: Any
    mode: str
    problem: Problem | None
    stage: str | None
    turns: list[dict[str, Any]]

    def final_turn(self) -> dict[str, Any] | None:
        """The turn whose answer is the dialogue's final answer (None before any)."""
        raise NotImplementedError

    @property
    def done(self) -> bool:
        return self.problem is not None and self.stage is None

    @property
    def budget(self) -> int:
        """Token budget of the current stage."""
        if self.stage is None:
            raise RuntimeError("the dialogue is over (or not started): there is no current stage")
        return self.config.budget(self.stage)

    @property
    def stop(self) -> tuple[str, ...]:
        """Strings that end a turn (kept in its text)."""
        return tuple(self.config.stop)

    def _grade(self, response: str) -> tuple[bool, str | None]:
        """Whether ``response`` answers the problem right, and the answer read from it (without a gold answer
        it is still read, and counts as wrong)."""
        if not self.problem or not self.problem.answer:
            return False, extract_with(self.config.grading_rule, response)
        v = grade_with(self.config.grading_rule, response, self.problem.answer)
        return bool(v.correct), v.pred

    def episode(self, episode_id: str | None = None) -> Episode:
        """The dialogue as an Episode record: turns with stage, user text, response, reward and grading;
        ``meta`` holds the mode, the final answer and its correctness, and tokens per stage."""
        if self.problem is None:
            raise RuntimeError("no dialogue: call reset() first")
        final = self.final_turn()
        tokens = {t["stage"]: t.get("num_tokens") for t in self.turns}
        meta = {
            "mode": self.mode,
            "final_stage": final["stage"] if final else None,
            "final_pred": final.get("pred") if final else None,
            "final_correct": bool(final.get("correct")) if final else False,
            "tokens": tokens,
            "total_tokens": sum(v for v in tokens.values() if v is not None),
        }
        return Episode(
            id=episode_id or self.problem.id,
            prompt=self.problem.prompt,
            turns=[dict(t) for t in self.turns],
            answer=self.problem.answer,
            meta=meta,
        )
