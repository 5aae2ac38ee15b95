"""The batching worker of ``ponder serve``: prompts of concurrent requests go through one generator together.

HTTP threads put requests on a queue; one worker thread takes everything waiting (up to ``max_prompts``
prompts), runs it as one batch and answers each request as soon as its prompts are done. When a batch
fails, each of its requests is run again alone, so only a request that fails by itself gets the error.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field

from ponder.generation.base import Completion, Generator, Prompt, SamplingParams


@dataclass
class _Job:
    prompts: list[Prompt]
    params: SamplingParams
    done: threading.Event = field(default_factory=threading.Event)
    results: list[list[Completion] | None] = field(default_factory=list)
    prompt_tokens: int = 0
    error: BaseException | None = None


class Batcher:
    """Runs the prompts of concurrent requests through one generator together (one worker thread)."""

    def __init__(self, generator: Generator, max_prompts: int = 256):
        self.generator = generator
        # Tokenizers are used from this one thread only (fast tokenizers are not safe to share across threads).
        self.count_tokens = getattr(generator, "count_prompt_tokens", None)
        self.max_prompts = max_prompts
        self._queue: queue.Queue[_Job] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="ponder-batcher", daemon=True)
        self._thread.start()

    def submit(self, prompts: list[Prompt], params: SamplingParams) -> tuple[list[list[Completion]], int]:
        """Completions for each prompt, and the number of prompt tokens (0 if the generator cannot count)."""
        job = _Job(prompts, params, results=[None] * len(prompts))
        self._queue.put(job)
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.results, job.prompt_tokens  # type: ignore[return-value]

    def _loop(self) -> None:
        while True:
            jobs = [self._queue.get()]
            size = len(jobs[0].prompts)
            while size < self.max_prompts:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                jobs.append(job)
                size += len(job.prompts)
            self._run(jobs)

    def _run(self, jobs: list[_Job]) -> None:
        owners: list[tuple[_Job, int]] = []
        prompts: list[Prompt] = []
        params: list[SamplingParams] = []
        for job in jobs:
            for k, p in enumerate(job.prompts):
                owners.append((job, k))
                prompts.append(p)
                params.append(job.params)
        left = {id(job): len(job.prompts) for job in jobs}
        try:
            if self.count_tokens is not None:
                for job in jobs:
                    job.prompt_tokens = sum(self.count_tokens(p) for p in job.prompts)
            for i, comps in self.generator.generate_iter(prompts, params):
                job, k = owners[i]
                job.results[k] = comps
                left[id(job)] -= 1
                if left[id(job)] == 0:
                    job.done.set()
        except Exception as e:  # the server must answer every waiting request, whatever went wrong
            waiting = [job for job in jobs if not job.done.is_set()]
            if len(jobs) == 1:
                for job in waiting:
                    job.error = e
                    job.done.set()
                return
            # One request may be the cause: run each again alone, so only the failing one fails.
            for job in waiting:
                job.results = [None] * len(job.prompts)
                self._run([job])
