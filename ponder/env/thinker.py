"""The Thinker environment (Thinker: Learning to Think Fast and Slow, NeurIPS 2025): one question becomes a
dialogue of up to four stages, each a user turn and the model's answer, each with its own reward.

======================  ============================  ===============================================================
stage                   budget (config field)         reward (``ponder.env.rewards``; 0 when cut by the budget)
======================  ============================  ===============================================================
``fast`` Fast Thinking  ``fast_budget_tokens`` 1000    ``1[correct]``
``verify`` Verification ``verify_budget_tokens`` 6000  ``(1-p)·1[Yes]`` if the fast answer is right, ``p·1[No]`` if not
``slow`` Slow Thinking  ``slow_budget_tokens`` 6000    ``1[correct]``
``summary``             ``summary_budget_tokens`` 1000 ``1[correct] + c · mean log π(summary | fast prompt)``
======================  ============================  ===============================================================

Transitions. After ``fast`` the dialogue always goes on to ``verify``. After ``verify``:

- mode ``train``: it ends when the fast answer was correct (within its budget) and goes on to ``slow`` when it
  was not -- the ground truth decides, so Slow Thinking trains on wrong fast answers only;
- mode ``infer``: it ends on Yes and goes on to ``slow`` on No (an unreadable judgement counts as
  ``missing_verdict``).

After ``slow`` it goes on to ``summary`` -- in ``train`` mode only when the slow answer was correct (a summary
of a wrong solution has nothing right to condense; ``summarize_wrong_slow=true`` changes that). The paper's
text available to us does not settle this point; it is a config field. ``summary`` always ends the dialogue.

Each stage is one RL sample: prompt = the dialogue so far (chat messages), response = that stage's answer,
reward on its last token; nothing links the samples of one dialogue (γ = 0 between stages).

The final answer of an inference dialogue is the fast answer when it ends after ``verify``, else the
summary's answer (the slow answer when the summary gives none).

Usage::

    env = ThinkerEnv(ThinkerEnvConfig(), mode="infer")
    prompt = env.reset(problem)              # chat messages
    while prompt is not None:
        text = generate(prompt, max_new_tokens=env.budget)
        prompt, reward, info = env.step(text, finish_reason="stop")
    env.episode()                            # an Episode record with every turn
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ponder.config import at_least, option
from ponder.env import rewards
from ponder.env.dialogue import Dialogue, Transition, split_question, stop_option
from ponder.env.prompts import StagePrompts, fill
from ponder.records import Episode, Message, Problem
from ponder.verify.rules import RULES

STAGES = ("fast", "verify", "slow", "summary")
MODES = ("train", "infer")

# (fast prompt messages, summary text) -> mean per-token log-prob of the summary as the answer to them
Scorer = Callable[[list[list[Message]], list[str]], list[float]]


@dataclass(frozen=True)
class ThinkerEnvConfig:
    """Every number of the Thinker task (published values as defaults)."""

    fast_budget_tokens: int = option(1000, "Token budget of Fast Thinking (published: 1,000).")
    verify_budget_tokens: int = option(6000, "Token budget of Verification (published: 6,000).")
    slow_budget_tokens: int = option(6000, "Token budget of Slow Thinking (published: 6,000).")
    summary_budget_tokens: int = option(1000, "Token budget of Summarization (published: about 1,000).")
    summary_logprob_coef: float = option(
        0.0,
        "c: weight of the summary's mean log-prob under the fast prompt in its reward (0 switches it off).",
    )
    trailing_window: int = option(
        1000,
        "p, the trailing Fast Thinking accuracy of the Verification reward, averages this many latest fast answers.",
    )
    trailing_initial: float = option(0.5, "p before any fast answer has been graded.")
    grading_rule: str = option("boxed", f"How answers are graded: one of {', '.join(RULES)}.")
    summarize_wrong_slow: bool = option(
        False,
        "Training mode: go on to Summarization after a wrong slow answer too (default: only after a right one).",
    )
    missing_verdict: Literal["yes", "no"] = option(
        "no", "Inference mode: how a Verification without a readable \\boxed{Yes}/\\boxed{No} is taken."
    )
    prompts: StagePrompts = option(StagePrompts(), "The user turn of each stage (ponder/env/prompts.py).")
    stop: tuple[str, ...] = stop_option()

    def __post_init__(self) -> None:
        at_least(self, 1, *(f"{stage}_budget_tokens" for stage in STAGES))
        if self.grading_rule not in RULES:
            raise ValueError(f"grading_rule must be one of {', '.join(RULES)}, got {self.grading_rule!r}")
        if self.trailing_window < 1:
            raise ValueError(f"trailing_window must be >= 1, got {self.trailing_window}")

    def budget(self, stage: str) -> int:
        return getattr(self, f"{stage}_budget_tokens")


class ThinkerEnv(Dialogue):
    """One Thinker dialogue. Not thread-safe; make one per dialogue and share the ``tracker``."""

    def __init__(
        self,
        config: ThinkerEnvConfig | None = None,
        *,
        mode: str = "train",
        tracker: rewards.TrailingAccuracy | None = None,
        scorer: Scorer | None = None,
    ):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.config = config or ThinkerEnvConfig()
        self.mode = mode
        # ``is None``, not ``or``: a shared tracker with no answers yet has length 0 and would test false.
        self.tracker = (
            tracker
            if tracker is not None
            else rewards.TrailingAccuracy(self.config.trailing_window, self.config.trailing_initial)
        )
        self.scorer = scorer
        self.problem: Problem | None = None
        self.turns: list[dict[str, Any]] = []
        self.messages: list[Message] = []
        self.stage: str | None = None

    # ------------------------------------------------------------------ state
    @property
    def fast_prompt(self) -> list[Message]:
        """The first stage's prompt (the summary's log-prob is scored as an answer to it)."""
        return self._prompts[0]

    @property
    def stage_prompts(self) -> list[list[Message]]:
        """The prompt (chat messages) each stage so far was answered from; ``turns[i]`` answers ``[i]``."""
        return list(self._prompts)

    def _open(self, stage: str) -> list[Message]:
        tpl = getattr(self.config.prompts, stage)
        answer = self.turns[0].get("pred") if self.turns else None  # the fast answer's
        text = fill(tpl, question=self._question, budget=self.config.budget(stage), answer=answer)
        self.messages.append({"role": "user", "content": text})
        self.stage = stage
        prompt = [dict(m) for m in self.messages]
        self._prompts.append(prompt)
        return prompt

    def reset(self, problem: Problem) -> list[Message]:
        """Start a dialogue for ``problem``; return the Fast Thinking prompt (chat messages)."""
        if self.mode == "train" and not problem.answer:
            raise ValueError(f"problem {problem.id!r}: training needs a gold answer")
        self.problem = problem
        prefix, self._question = split_question(problem.prompt)
        self.messages = prefix
        self.turns = []
        self._prompts: list[list[Message]] = []
        return self._open("fast")

    # ------------------------------------------------------------------ transitions
    def step(
        self,
        response: str,
        *,
        finish_reason: str = "stop",
        num_tokens: int | None = None,
        summary_logprob: float | None = None,
    ) -> Transition:
        """Take the model's answer to the current stage; return (next prompt or None, reward, info).

        ``finish_reason == "length"`` means the budget cut the answer (reward 0). ``summary_logprob`` is the
        summary's mean log-prob under the fast prompt (only with ``summary_logprob_coef != 0``; without it the
        ``scorer`` given to the constructor is asked).
        """
        if self.stage is None:
            raise RuntimeError("step() after the dialogue ended; call reset() first")
        if finish_reason not in ("stop", "length"):
            raise ValueError(f"finish_reason must be 'stop' or 'length', got {finish_reason!r}")
        stage, truncated = self.stage, finish_reason == "length"
        turn: dict[str, Any] = {
            "stage": stage,
            "user": self.messages[-1]["content"],
            "response": response,
            "finish_reason": finish_reason,
            "num_tokens": num_tokens,
            "truncated": truncated,
        }
        self.messages.append({"role": "assistant", "content": response})
        nxt = getattr(self, f"_after_{stage}")(turn, response, truncated, summary_logprob)
        self.turns.append(turn)
        if nxt is None:
            self.stage = None
            return Transition(None, turn["reward"], turn)
        return Transition(self._open(nxt), turn["reward"], turn)

    def _after_fast(self, turn, response, truncated, _lp) -> str:
        correct, pred = self._grade(response)
        # A fast answer cut by its budget counts as wrong everywhere: reward, p and the training transition.
        turn.update(correct=correct, pred=pred, reward=rewards.fast_reward(correct, truncated))
        self._fast_ok = correct and not truncated
        if self.mode == "train":
            self.tracker.update(self._fast_ok)
        return "verify"

    def _after_verify(self, turn, response, truncated, _lp) -> str | None:
        verdict = None if truncated else rewards.parse_verdict(response)
        p = self.tracker.value
        has_gold = bool(self.problem and self.problem.answer)
        reward = rewards.verify_reward(self._fast_ok, verdict, p, truncated) if has_gold else 0.0
        turn.update(verdict=verdict, fast_correct=self._fast_ok if has_gold else None, p=p, reward=reward)
        if self.mode == "train":
            return None if self._fast_ok else "slow"
        taken = verdict or self.config.missing_verdict
        return None if taken == rewards.YES else "slow"

    def _after_slow(self, turn, response, truncated, _lp) -> str | None:
        correct, pred = self._grade(response)
        turn.update(correct=correct, pred=pred, reward=rewards.slow_reward(correct, truncated))
        if self.mode == "train" and not (correct and not truncated) and not self.config.summarize_wrong_slow:
            return None
        return "summary"

    def _after_summary(self, turn, response, truncated, summary_logprob) -> None:
        correct, pred = self._grade(response)
        coef = self.config.summary_logprob_coef
        if coef != 0.0 and summary_logprob is None and not truncated:
            if self.scorer is not None:
                summary_logprob = self.scorer([self.fast_prompt], [response])[0]
            elif self.mode == "train":
                raise ValueError(
                    "summary_logprob_coef != 0: pass summary_logprob to step() or a scorer to the env"
                )
            else:
                coef = 0.0  # inference without a scorer: the reward is informative only; leave the term out
        turn.update(correct=correct, pred=pred, summary_logprob=summary_logprob)
        turn["reward"] = rewards.summary_reward(correct, truncated, summary_logprob, coef)
        return None

    # ------------------------------------------------------------------ results
    def final_turn(self) -> dict[str, Any] | None:
        """The turn whose answer is the dialogue's answer (see the module docstring)."""
        by_stage = {t["stage"]: t for t in self.turns}
        if "summary" in by_stage:
            s = by_stage["summary"]
            return s if s.get("pred") is not None or "slow" not in by_stage else by_stage["slow"]
        if "slow" in by_stage:
            return by_stage["slow"]
        return by_stage.get("fast")


def verification_counts(episodes: list[Episode]) -> dict[str, int]:
    """The Verification confusion matrix over episodes: ``{right,wrong}_{yes,no,none}`` counts, where right /
    wrong is the fast answer's correctness and yes / no / none the judgement read from the verification."""
    out = {f"{a}_{b}": 0 for a in ("right", "wrong") for b in ("yes", "no", "none")}
    for ep in episodes:
        for t in ep.turns:
            if t.get("stage") == "verify" and t.get("fast_correct") is not None:
                key = f"{'right' if t['fast_correct'] else 'wrong'}_{t.get('verdict') or 'none'}"
                out[key] += 1
    return out


def load_env_config(path: str | None = None, overrides: list[str] | tuple[str, ...] = ()) -> ThinkerEnvConfig:
    """A :class:`ThinkerEnvConfig` from a YAML file holding either its fields or a recipe config with a
    ``thinker:`` section (e.g. ``ponder/recipes/configs/thinker-tiny.yaml``), then ``key=value`` overrides."""
    import yaml

    from ponder.config import load_config
    from ponder.errors import ConfigError

    if path is None:
        return load_config(ThinkerEnvConfig, None, list(overrides))
    try:
        tree = yaml.safe_load(open(path, encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: cannot read the config ({e})") from None
    if isinstance(tree, dict) and isinstance(tree.get("thinker"), dict):
        try:
            return load_config(ThinkerEnvConfig, None, list(overrides), **tree["thinker"])
        except ConfigError as e:
            raise ConfigError(f"{path} (section thinker): {e}") from None
    return load_config(ThinkerEnvConfig, path, list(overrides))
