"""Per-step metrics of an RL run, from its dialogues: per stage and for the Verification judgements.

Keys (``STAGE`` is ``fast``, ``verify``, ``slow``, ``summary`` or, for the QA task, ``answer``):

- ``STAGE/dialogues``: dialogues that reached the stage; ``STAGE/reward``: its mean reward;
  ``STAGE/accuracy``: share of right answers within the budget (stages that answer the question);
  ``STAGE/tokens``: mean generated tokens; ``STAGE/truncated``: share cut by the budget;
- ``verify/right_yes`` ... ``verify/wrong_none``: the confusion matrix of the judgements (right / wrong fast
  answer x Yes / No / no judgement), ``verify/accuracy`` (right-Yes plus wrong-No over all), ``verify/p``;
- ``episode/final_accuracy``: share of dialogues whose final answer is right; ``episode/tokens``: mean
  generated tokens per dialogue.
"""

from __future__ import annotations

from collections.abc import Sequence

from ponder.env.thinker import verification_counts
from ponder.records import Episode


def _mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def rollout_metrics(episodes: Sequence[Episode]) -> dict[str, float]:
    out: dict[str, float] = {}
    by_stage: dict[str, list[dict]] = {}
    for ep in episodes:
        for t in ep.turns:
            by_stage.setdefault(t["stage"], []).append(t)
    for stage, turns in by_stage.items():
        out[f"{stage}/dialogues"] = len(turns)
        out[f"{stage}/reward"] = _mean([float(t["reward"]) for t in turns])
        if "correct" in turns[0]:
            out[f"{stage}/accuracy"] = _mean(
                [float(bool(t["correct"]) and not t["truncated"]) for t in turns]
            )
        tokens = [int(t["num_tokens"]) for t in turns if t.get("num_tokens") is not None]
        if tokens:
            out[f"{stage}/tokens"] = _mean(tokens)
        out[f"{stage}/truncated"] = _mean([float(bool(t["truncated"])) for t in turns])
    if "verify" in by_stage:
        counts = verification_counts(list(episodes))
        for k, v in counts.items():
            out[f"verify/{k}"] = v
        judged = sum(counts.values())
        out["verify/accuracy"] = (counts["right_yes"] + counts["wrong_no"]) / judged if judged else None
        out["verify/p"] = _mean([float(t["p"]) for t in by_stage["verify"] if t.get("p") is not None])
    if episodes:
        out["episode/final_accuracy"] = _mean([float(bool(ep.meta.get("final_correct"))) for ep in episodes])
        out["episode/tokens"] = _mean([float(ep.meta.get("total_tokens") or 0) for ep in episodes])
    return {k: v for k, v in out.items() if v is not None}
