"""Data-parallel generation over Ray: N workers, each holding its own backend, share the prompts.

A thin wrapper with the same contract. Prompts are cut into shards of ``shard_prompts`` (in input order),
handed to whichever worker is free, and each shard's results are yielded as soon as it is done. On the hf
backend a sample depends only on ``(seed, prompt, index)``, so the output equals a single-process run exactly.

Each worker is a Ray actor with ``cpus_per_worker`` CPUs (torch threads are set to match) and
``gpus_per_worker`` GPUs. Ray is started locally if it is not running; pass ``address`` to join a cluster
(:func:`ponder.cluster.connect`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from ponder.cluster import connect
from ponder.generation.base import Completion, Generator, Prompt, SamplingParams, checked


class _Worker:
    def __init__(self, backend: str, model: Any, options: dict, threads: int | None):
        if threads:
            import torch

            torch.set_num_threads(threads)
        from ponder.generation import make_generator

        self.gen = make_generator(backend, model, **options)

    def info(self) -> dict[str, Any]:
        """Where the worker runs and what it holds: its process, torch threads and the resources Ray gave it."""
        import os

        import ray
        import torch

        resources = ray.get_runtime_context().get_assigned_resources()
        return {"pid": os.getpid(), "threads": torch.get_num_threads(), "resources": resources}

    def generate(
        self, prompts: list[Prompt], params: list[SamplingParams]
    ) -> tuple[list[list[Completion]], dict]:
        out = self.gen.generate(prompts, params)
        return out, dict(self.gen.stats)


class RayGenerator(Generator):
    """``workers`` copies of ``backend`` on Ray; ``options`` go to each backend (e.g. ``batch_size``)."""

    name = "ray"

    def __init__(
        self,
        backend: str,
        model: Any,
        *,
        workers: int = 2,
        cpus_per_worker: float = 1,
        gpus_per_worker: float = 0,
        shard_prompts: int = 64,
        address: str | None = None,
        **options: Any,
    ):
        super().__init__()
        if workers < 1 or shard_prompts < 1:
            raise ValueError("workers and shard_prompts must be >= 1")
        ray = connect(address, needed_by="--workers" if address is None else "--ray-address")
        self._ray = ray
        actor = ray.remote(num_cpus=cpus_per_worker, num_gpus=gpus_per_worker)(_Worker)
        threads = max(1, int(cpus_per_worker)) if gpus_per_worker == 0 else None
        self.workers = [actor.remote(backend, str(model), options, threads) for _ in range(workers)]
        self.workers_info = ray.get([w.info.remote() for w in self.workers])  # a model that fails fails here
        self.shard_prompts = shard_prompts
        self.model = str(model)  # what the workers load (names the model in output fingerprints)
        # The backend the workers run names this generator too: samples made here or fanned out are the same
        # samples, so their records fingerprint alike and a run resumed with other workers keeps them.
        self.name = backend

    def generate_iter(
        self, prompts: Sequence[Prompt], params: SamplingParams | Sequence[SamplingParams]
    ) -> Iterator[tuple[int, list[Completion]]]:
        import time

        ray = self._ray
        prompts, per_prompt = checked(prompts, params)
        shards = [
            range(s, min(s + self.shard_prompts, len(prompts)))
            for s in range(0, len(prompts), self.shard_prompts)
        ]
        todo = iter(shards)
        running: dict[Any, tuple[Any, range]] = {}
        idle = list(self.workers)
        self.stats = {
            "prompts": len(prompts),
            "completions": sum(p.n for p in per_prompt),
            "prompt_tokens": 0,
            "generated_tokens": 0,
            "seconds": 0.0,
            "tokens_per_s": 0.0,
        }
        start = time.perf_counter()
        while True:
            while idle:
                shard = next(todo, None)
                if shard is None:
                    break
                worker = idle.pop()
                ref = worker.generate.remote([prompts[i] for i in shard], [per_prompt[i] for i in shard])
                running[ref] = (worker, shard)
            if not running:
                return
            (ref,), _ = ray.wait(list(running), num_returns=1)
            worker, shard = running.pop(ref)
            idle.append(worker)
            results, stats = ray.get(ref)
            self.stats["prompt_tokens"] += stats.get("prompt_tokens", 0)
            self.stats["generated_tokens"] += stats.get("generated_tokens", 0)
            self.stats["seconds"] = time.perf_counter() - start
            self.stats["tokens_per_s"] = self.stats["generated_tokens"] / max(self.stats["seconds"], 1e-9)
            yield from zip(shard, results, strict=True)

    def close(self) -> None:
        for w in getattr(self, "workers", []):
            self._ray.kill(w)
        self.workers = []
