"""RL with PPO or GRPO on the Thinker task or the single-turn QA task: config, setup, loop, checkpoint, report.

``run(RLConfig(...))``, or ``ponder train rl --env thinker|qa --algo ppo|grpo ...``. Every step runs five
named stages, each timed (``time/<stage>`` in ``OUTPUT/metrics.jsonl``):

1. ``rollout`` -- ``prompts_per_step`` problems x ``samples_per_prompt`` dialogues with the current policy,
   all advanced together one stage at a time (:func:`ponder.env.runner.run_episodes`);
2. ``reward`` -- grading and stage rewards (the environment computes them as each stage ends, since the
   training transitions depend on them; this is their time) and, with ``summary_logprob_coef != 0``, the
   summary's mean log-prob under the fast prompt;
3. ``values`` -- without gradient: the policy's log-probs of the sampled answers, the critic's ``V(s_t)``
   (PPO) and the reference log-probs (only with ``kl_coef > 0``);
4. ``advantages`` -- PPO: the reward on each answer's last token, GAE(γ, λ) within the answer, nothing
   across stages (every stage is its own sample: γ = 0 between stages), whitened over the step's tokens;
   GRPO: group-relative outcome advantages, a group being the dialogues of one problem at one stage;
5. ``update`` -- ``ppo_epochs`` x ``minibatches_per_step`` optimizer steps of the clipped policy loss and,
   for PPO, the clipped value loss of the critic (a value head on a copy of the policy).

Under ``torchrun`` (DDP, gloo on CPU) the step runs data-parallel (:mod:`ponder.recipes.rl.parallel`): each
process rolls out the dialogues of its share of the step's problems, every process then holds the whole
step's samples, the values stage and every optimizer step are split across processes, and whatever is
computed over the batch (trailing accuracy, advantage whitening, GRPO groups, loss normalisers, metrics)
sees the whole step: the run equals one process's. Only process 0 writes metrics, episodes, checkpoints and
the summary. Resumable from checkpoints: the data order, the rollout seeds and the trailing accuracy are
functions of the step.

Rollouts sample with the policy itself (``backend=hf``) or with vLLM (``backend=vllm``): one engine for the
whole run, the policy saved and reloaded into it every step (``warm_engine``; see :func:`_vllm_engine`).
"""

from __future__ import annotations

import functools
import math
import time
from contextlib import contextmanager
from pathlib import Path

import torch

from ponder.config import config_to_dict
from ponder.env.qa import QAEnv
from ponder.env.rewards import TrailingAccuracy
from ponder.env.runner import run_episodes
from ponder.env.thinker import ThinkerEnv
from ponder.errors import InputError, PonderError
from ponder.generation import make_generator
from ponder.generation.base import derived_seed
from ponder.io import write_json, write_records, write_text
from ponder.losses.variants import GRPO_VARIANTS
from ponder.recipes.rl import batch as rl_batch
from ponder.recipes.rl import parallel
from ponder.recipes.rl.config import RLConfig
from ponder.recipes.rl.metrics import rollout_metrics
from ponder.recipes.rl.update import UpdateInputs, compute_advantages, update
from ponder.records import Problem, iter_json_objects
from ponder.train import checkpoint, distributed, optim, steps
from ponder.train.encode import Encoder
from ponder.train.logprobs import logprobs
from ponder.train.metrics import MetricsLogger
from ponder.train.model import load_model, load_tokenizer, quiet_transformers
from ponder.train.rl_checkpoint import save_critic, save_rl_checkpoint
from ponder.train.trackers import check_tracker
from ponder.train.value import load_value_model

STAGE_NAMES = ("rollout", "reward", "values", "advantages", "update")


def load_training_problems(path: str | Path) -> list[Problem]:
    """Problems with gold answers (rewards need them); errors name the file, line and field."""
    out = []
    for line, obj in iter_json_objects(path):
        p = Problem.from_dict(obj, path=path, line=line)
        if not p.answer:
            raise InputError(path, "missing: RL rewards need the gold answer", line=line, field="answer")
        out.append(p)
    return out


@functools.lru_cache(maxsize=8)
def _order(n: int, seed: int, epoch: int) -> tuple[int, ...]:
    g = torch.Generator().manual_seed(derived_seed(seed, epoch))
    return tuple(torch.randperm(n, generator=g).tolist())


def step_problems(n: int, per_step: int, seed: int, step: int) -> list[int]:
    """Indices of the problems of RL step ``step``: consecutive slices of one seeded shuffle per epoch."""
    out = []
    for pos in range(step * per_step, (step + 1) * per_step):
        epoch, i = divmod(pos, n)
        out.append(_order(n, seed, epoch)[i])
    return out


@contextmanager
def timed(times: dict[str, float], name: str):
    t0 = time.perf_counter()
    yield
    times[name] = times.get(name, 0.0) + time.perf_counter() - t0


def make_env(cfg: RLConfig, tracker: TrailingAccuracy, mode: str = "train"):
    if cfg.env == "thinker":
        return ThinkerEnv(cfg.thinker, mode=mode, tracker=tracker)
    return QAEnv(cfg.qa, mode=mode)


def max_budget(cfg: RLConfig) -> int:
    if cfg.env == "qa":
        return cfg.qa.budget_tokens
    return max(cfg.thinker.budget(s) for s in ("fast", "verify", "slow", "summary"))


def summary_scorer(model, encoder: Encoder, tokens_per_microbatch: int):
    """Mean per-token log-prob of each text as the complete answer to its prompt (no gradient)."""

    def score(prompts, texts):
        samples = [
            rl_batch.RLSample(p, t, False, 0.0, "summary", (i, "summary"), i)
            for i, (p, t) in enumerate(zip(prompts, texts, strict=True))
        ]
        enc = rl_batch.encode_samples(encoder, samples)
        per = rl_batch.per_sample_no_grad(lambda b: logprobs(model, b).tokens, enc, tokens_per_microbatch)
        return [float(per[i].mean()) if i in per else 0.0 for i in range(len(texts))]

    return score


def run(cfg: RLConfig) -> dict:
    """Train; return the summary (also written to ``OUTPUT/summary.json``)."""
    # ------------------------------------------------------------------ setup
    torch.set_num_threads(cfg.threads)
    quiet_transformers()
    check_tracker(cfg.tracker)  # a missing tracker package stops the run before anything loads
    acc = distributed.make_accelerator()
    _check_launch(acc, cfg)
    out = Path(cfg.output)
    config = config_to_dict(cfg)
    if cfg.resume and (done := steps.finished_summary(out, config)) is not None:
        return done
    ckpt = steps.prepare_output(out, resume=cfg.resume, config=config)
    acc.wait_for_everyone()  # every process checked the folder before process 0 writes into it
    torch.manual_seed(cfg.seed)
    problems = load_training_problems(cfg.data)
    tokenizer = load_tokenizer(cfg.model)
    encoder = Encoder(tokenizer)
    policy = load_model(
        ckpt / "model" if ckpt else cfg.model,
        gradient_checkpointing=cfg.gradient_checkpointing,
        logits_per_chunk=cfg.logits_per_chunk,
    )
    ppo = cfg.algo == "ppo"
    critic = (
        load_value_model(
            ckpt / "critic" if ckpt else cfg.model, init_std=cfg.value_head_init_std, seed=cfg.seed
        )
        if ppo
        else None
    )
    reference = None
    opt_p = optim.build_optimizer(policy, lr=cfg.actor_lr, weight_decay=cfg.weight_decay, eps=cfg.adam_eps)
    if ppo:
        opt_c = optim.build_optimizer(
            critic, lr=cfg.critic_lr, weight_decay=cfg.weight_decay, eps=cfg.adam_eps
        )
        policy, opt_p, critic, opt_c = acc.prepare(policy, opt_p, critic, opt_c)
    else:
        opt_c = None
        policy, opt_p = acc.prepare(policy, opt_p)
    if cfg.kl_coef > 0:
        ref = load_model(cfg.model, trainable=False, logits_per_chunk=cfg.logits_per_chunk)
        reference = distributed.prepare_reference(acc, ref)
    state = checkpoint.load_checkpoint_state(acc, ckpt) if ckpt else {"step": 0}
    start = int(state["step"])
    tracker = TrailingAccuracy(cfg.thinker.trailing_window, cfg.thinker.trailing_initial)
    tracker.load_state_dict(state.get("tracker", {}))
    rollout_total = int(state.get("rollout_tokens", 0))
    total = cfg.max_steps or math.ceil(len(problems) / cfg.prompts_per_step)
    variant = GRPO_VARIANTS[cfg.grpo_variant]
    # Forwards without gradient run on the bare models: a data-parallel wrapper would sync buffers in them.
    plain, plain_critic = acc.unwrap_model(policy), acc.unwrap_model(critic) if ppo else None
    scorer = (
        summary_scorer(plain, encoder, cfg.tokens_per_microbatch)
        if cfg.env == "thinker" and cfg.thinker.summary_logprob_coef != 0
        else None
    )
    generator = (
        make_generator("hf", plain, tokenizer=tokenizer, batch_size=cfg.generation_batch_size)
        if cfg.backend == "hf"
        else None
    )
    main = acc.is_main_process
    if main:
        write_text(out / "config.yaml", steps.to_yaml(config))
    logger = MetricsLogger(
        out, enabled=main, resume_step=start if ckpt else None, tracker=cfg.tracker, config=config
    )
    lr_kw = {"total_steps": total, "warmup": cfg.warmup_steps, "schedule": cfg.lr_schedule}

    # ------------------------------------------------------------------ loop
    bar = steps.step_bar(acc, total=total, initial=start, desc=f"rl {cfg.env}/{cfg.algo}")
    record: dict = {}
    totals = {name: 0.0 for name in STAGE_NAMES}
    engine = None  # backend=vllm: the rollout engine, kept from step to step with warm_engine
    t_run = time.perf_counter()
    step = start
    for step in range(start, total):
        if cfg.max_rollout_tokens is not None and rollout_total >= cfg.max_rollout_tokens:
            break
        times: dict[str, float] = {}
        idx = step_problems(len(problems), cfg.prompts_per_step, cfg.seed, step)
        slots = [k for k in range(len(idx)) for _ in range(cfg.samples_per_prompt)]
        mine = parallel.my_dialogues(slots, acc)
        batch_problems = [problems[idx[slots[e]]] for e in mine]
        envs = [make_env(cfg, tracker) for _ in batch_problems]
        for env in envs:
            if isinstance(env, ThinkerEnv):
                env.scorer = scorer
        with timed(times, "rollout"):
            gen = generator or (engine := _vllm_engine(acc, policy, tokenizer, out, cfg, engine))
            rollout = run_episodes(
                gen,
                envs,
                batch_problems,
                temperature=cfg.temperature,
                top_p=cfg.top_p,
                seed=derived_seed(cfg.seed, 1_000_000 + step),
                scorer=scorer,
                ids=[f"{p.id}#{e}" for e, p in zip(mine, batch_problems, strict=True)],  # distinct seeds
                on_round=parallel.tracker_sync(acc, tracker, envs, mine),
            )
            if engine is not None and not cfg.warm_engine:
                engine.close()
                engine = None
        reward_s = sum(s.reward_seconds for s in rollout.stages.values())
        times["rollout"] -= reward_s
        times["reward"] = reward_s
        generated = parallel.sum_ints(acc, rollout.generated_tokens)
        rollout_total += generated
        samples, episodes = parallel.gather_rollout(acc, rollout.envs, rollout.episodes, mine, slots)
        enc = rl_batch.encode_samples(encoder, samples)

        with timed(times, "values"):
            no_grad = functools.partial(
                parallel.shared_no_grad, acc, enc=enc, tokens_per_microbatch=cfg.tokens_per_microbatch
            )
            old_logp = no_grad(lambda b: logprobs(plain, b).tokens)
            old_values = no_grad(plain_critic) if ppo else None
            ref_logp = no_grad(lambda b: logprobs(reference, b).tokens) if reference is not None else None
        with timed(times, "advantages"):
            adv, returns, adv_stats = compute_advantages(cfg, variant, samples, enc, old_values)
        with timed(times, "update"):
            lr_p = optim.lr_at(step, base_lr=cfg.actor_lr, **lr_kw)
            lr_c = optim.lr_at(step, base_lr=cfg.critic_lr, **lr_kw)
            optim.set_lr(opt_p, lr_p)
            if opt_c is not None:
                optim.set_lr(opt_c, lr_c)
            upd = update(
                cfg,
                variant,
                UpdateInputs(enc, old_logp, old_values, ref_logp, adv, returns),
                acc,
                policy,
                critic,
                opt_p,
                opt_c,
                train_policy=step >= cfg.critic_warmup_steps,
                max_len=max_budget(cfg),
                generator=torch.Generator().manual_seed(derived_seed(cfg.seed, 2_000_000 + step)),
            )
        for name, sec in times.items():
            totals[name] += sec
        record = {
            "step": step + 1,
            "problems": len(idx),
            "dialogues": len(slots),
            "samples": len(enc.kept),
            "rollout_tokens": generated,
            "rollout_tokens_total": rollout_total,
            "lr_actor": lr_p,
            "lr_critic": lr_c if ppo else None,
            **rollout_metrics(episodes),
            **adv_stats,
            **upd,
            **{f"time/{k}": v for k, v in times.items()},
        }
        logger.log({k: v for k, v in record.items() if v is not None})
        if cfg.keep_episodes and main:
            write_records(out / "episodes" / f"step-{step + 1:06d}.jsonl", episodes)
        bar.update(1)
        bar.set_postfix(reward=f"{_mean_reward(episodes):.3f}", tokens=rollout_total)
        if cfg.save_every and (step + 1) % cfg.save_every == 0 and step + 1 < total:
            save_rl_checkpoint(
                acc,
                policy,
                critic,
                tokenizer,
                out,
                step + 1,
                {
                    "step": step + 1,
                    "config": config,
                    "tracker": tracker.state_dict(),
                    "rollout_tokens": rollout_total,
                },
                keep=cfg.keep_checkpoints,
                dtype=cfg.save_dtype,
            )
    bar.close()
    if engine is not None:
        engine.close()

    # ------------------------------------------------------------------ final model and report
    elapsed = time.perf_counter() - t_run
    checkpoint.save_model(acc, policy, tokenizer, out / "model", cfg.save_dtype)
    if critic is not None:
        save_critic(acc, critic, out / "critic")
    logger.close()
    summary = {
        "recipe": "rl",
        "env": cfg.env,
        "algo": cfg.algo,
        "config": config,
        "steps": record.get("step", start),
        "resumed_from": start if ckpt else None,
        "rollout_tokens": rollout_total,
        "final": record,
        "model": str(out / "model"),
        "critic": str(out / "critic") if critic is not None else None,
        "metrics": str(out / "metrics.jsonl"),
        "seconds": elapsed,
        "stage_seconds": totals,
        "trailing_accuracy": tracker.value,
    }
    if main:
        write_json(out / "summary.json", summary)
    acc.wait_for_everyone()
    return summary


def _check_launch(acc, cfg: RLConfig) -> None:
    """Several processes run RL data-parallel (DDP); each needs a problem of every step to roll out."""
    if acc.num_processes == 1:
        return
    from accelerate.utils import DistributedType

    if acc.distributed_type not in (DistributedType.MULTI_CPU, DistributedType.MULTI_GPU):
        raise PonderError(
            f"ponder train rl runs data-parallel (DDP) under several processes, not {acc.distributed_type.value}:"
            " launch it with torchrun"
        )
    if cfg.prompts_per_step < acc.num_processes:
        raise PonderError(
            f"prompts_per_step={cfg.prompts_per_step} is less than the {acc.num_processes} processes: "
            "each process rolls out at least one problem a step"
        )


def _mean_reward(episodes) -> float:
    rewards = [float(t["reward"]) for ep in episodes for t in ep.turns]
    return sum(rewards) / len(rewards) if rewards else 0.0


def _vllm_engine(acc, policy, tokenizer, out: Path, cfg: RLConfig, engine):
    """The vLLM rollout engine on the current policy. The policy is saved to ``OUT/rollout-policy`` (the CPU
    build cannot take a trainer's tensors in place: it repacks weights) and reloaded into the running
    ``engine``, or an engine (prefix caching on) is started on it when there is none yet."""
    path = out / "rollout-policy"
    checkpoint.save_model(acc, policy, tokenizer, path)
    if engine is None:
        return make_generator("vllm", str(path), dtype="bfloat16" if cfg.bf16 else "float32")
    engine.load_weights(path)
    return engine
