"""The batched episode runner: every live dialogue of a batch advances together, one stage per round.

All dialogues start at the same stage and a transition either ends a dialogue or moves it to the next
stage, so at any round the live dialogues are all at the same stage. Each round is ONE call to the
generator (``Generator.generate``) with one ``SamplingParams`` per prompt: the stage's token budget, and a
seed per dialogue (a hash of the run seed and the episode id), so two dialogues of one problem (a GRPO
group) sample differently while each stays reproducible whatever batch it runs in (exactly on the hf backend).

Prefix caching: a stage's prompt is the previous stage's prompt and answer plus one user turn. The vllm
backend runs with automatic prefix caching, so the shared dialogue prefix is not recomputed; the hf backend
prefills each prompt again (cheap for the small models it is meant for).

The environments compute the rewards (``env.step``). The Summarization reward may need the summary's mean
log-prob under the fast prompt: ``scorer`` computes those for a whole round at once.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ponder.env.thinker import Scorer
from ponder.generation.base import Generator, SamplingParams
from ponder.progress import progress
from ponder.records import Episode, Problem


@dataclass
class StageStats:
    """Per stage: dialogues that reached it, generated tokens, answers cut by the budget, seconds spent
    generating, and seconds spent grading and rewarding (``env.step`` and the summary scorer)."""

    dialogues: int = 0
    tokens: int = 0
    truncated: int = 0
    seconds: float = 0.0
    reward_seconds: float = 0.0


@dataclass
class Rollout:
    """The result of :func:`run_episodes`: environments (finished), their episode records, per-stage stats."""

    envs: list[Any]
    episodes: list[Episode]
    stages: dict[str, StageStats] = field(default_factory=dict)

    @property
    def generated_tokens(self) -> int:
        return sum(s.tokens for s in self.stages.values())


def run_episodes(
    generator: Generator,
    envs: Sequence[Any],
    problems: Sequence[Problem],
    *,
    temperature: float = 1.0,
    top_p: float = 1.0,
    seed: int | None = 0,
    scorer: Scorer | None = None,
    ids: Sequence[str] | None = None,
    desc: str = "",
    max_stages: int | None = None,
    on_round: Callable[[str, int], None] | None = None,
) -> Rollout:
    """Run one dialogue per ``(env, problem)`` pair to its end; return the environments and episodes.

    ``envs`` are fresh environments (``ThinkerEnv`` / ``QAEnv``, any mode), ``problems`` the problem of each.
    ``ids`` name the episodes (default ``problem.id``). ``seed=None`` samples without a seed.
    ``max_stages`` stops every dialogue after that many stages (1: Thinker-Fast, the fast answer alone).
    """
    if len(envs) != len(problems):
        raise ValueError(f"got {len(envs)} environments for {len(problems)} problems")
    prompts: list[Any] = [env.reset(p) for env, p in zip(envs, problems, strict=True)]
    names = list(ids) if ids is not None else [p.id for p in problems]
    seeds = [None if seed is None else dialogue_seed(seed, name) for name in names]
    stats: dict[str, StageStats] = {}
    live = list(range(len(envs)))
    rounds = 0
    bar = progress(total=len(envs), desc=desc, unit="dialogue") if desc else None
    while live:
        stage = envs[live[0]].stage
        params = [
            SamplingParams(
                n=1,
                temperature=temperature,
                top_p=top_p,
                max_new_tokens=envs[i].budget,
                stop=envs[i].stop,
                include_stop=True,
                seed=seeds[i],
            )
            for i in live
        ]
        t0 = time.perf_counter()
        outs = generator.generate([prompts[i] for i in live], params)
        comps = [o[0] for o in outs]
        t1 = time.perf_counter()
        logps = _summary_logprobs(envs, live, comps, scorer) if stage == "summary" else {}
        st = stats.setdefault(stage, StageStats())
        still = []
        for i, c in zip(live, comps, strict=True):
            tr = envs[i].step(
                c.text, finish_reason=c.finish_reason, num_tokens=c.num_tokens, summary_logprob=logps.get(i)
            )
            st.dialogues += 1
            st.tokens += c.num_tokens
            st.truncated += c.finish_reason == "length"
            prompts[i] = tr.prompt
            if tr.prompt is None:
                if bar is not None:
                    bar.update(1)
            else:
                still.append(i)
        st.seconds += t1 - t0
        st.reward_seconds += time.perf_counter() - t1
        if on_round is not None:
            on_round(stage, len(live))
        rounds += 1
        live = still if max_stages is None or rounds < max_stages else []
    if bar is not None:
        bar.close()
    episodes = [env.episode(name) for env, name in zip(envs, names, strict=True)]
    return Rollout(list(envs), episodes, stats)


def dialogue_seed(seed: int, name: str) -> int:
    """The sampling seed of dialogue ``name`` under run seed ``seed`` (31 bits; independent of the batch)."""
    h = hashlib.blake2b(f"{seed}\x00{name}".encode("utf-8", "surrogatepass"), digest_size=4)
    return int.from_bytes(h.digest(), "little") >> 1


def _summary_logprobs(envs, live, comps, scorer: Scorer | None) -> dict[int, float]:
    """Mean log-prob of each summary under its dialogue's fast prompt, for one round, when needed."""
    if scorer is None:
        return {}
    todo = [
        (i, c)
        for i, c in zip(live, comps, strict=True)
        if getattr(envs[i].config, "summary_logprob_coef", 0.0) != 0.0 and c.finish_reason != "length"
    ]
    if not todo:
        return {}
    values = scorer([envs[i].fast_prompt for i, _ in todo], [c.text for _, c in todo])
    return {i: float(v) for (i, _), v in zip(todo, values, strict=True)}


def stage_tokens(episodes: Sequence[Episode]) -> dict[str, float]:
    """Mean generated tokens per stage over the episodes that reached it, and the mean total per episode."""
    sums: dict[str, list[int]] = {}
    for ep in episodes:
        for t in ep.turns:
            if t.get("num_tokens") is not None:
                sums.setdefault(t["stage"], []).append(int(t["num_tokens"]))
    out = {s: sum(v) / len(v) for s, v in sums.items()}
    if episodes:
        out["total"] = sum(int(ep.meta.get("total_tokens") or 0) for ep in episodes) / len(episodes)
    return out
