"""Pseudo test cases for code: the policy's own programs vote on the output of every test input.

PFPO for code (Jiao et al., ICLR 2025, Sec. 3.2): with test inputs but no expected outputs, run the n sampled
programs of a problem on every input; the most common output among the programs that ran successfully becomes
the input's pseudo expected output -- self-consistency, applied per test case instead of per answer.

- Outputs are compared by their normal form (:attr:`ponder.verify.code.RunResult.key`: stripped lines, numbers
  written one way for stdout; canonical JSON for return values), so ``3`` and ``3.0`` vote together.
- The vote is :mod:`ponder.verify.vote`'s, over the runs that succeeded (so a share is votes / successes);
  ties go to the output seen first, in program order (the authors' ``Counter.most_common``).
- An input on which fewer than ``min_success`` programs ran successfully is dropped (the authors used 5 in later
  runs): a vote among too few programs says little.
- A program passes a pseudo test when it ran successfully and its output agrees with the voted one under the
  judge's own comparison (:mod:`ponder.verify.outputs`: line by line, numbers with a tolerance) -- exactly
  what running it on the pseudo test would report, computed from the recorded outputs without a second run.

Arrays: ``runs[i][j]`` is program ``i`` on input ``j`` (a row is ``None`` when no program could be extracted
from the response); :func:`vote_outputs` gives one :class:`VotedOutput` per input, :func:`pass_matrix` the
``[programs][kept inputs]`` booleans, :func:`pass_counts` their row sums.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ponder.verify.code import Job, Limits, RunResult, SandboxPool
from ponder.verify.outputs import call_output_equal, stdout_equal
from ponder.verify.vote import plurality

Runs = Sequence[Sequence[RunResult] | None]


@dataclass(frozen=True)
class VotedOutput:
    """The vote on one input: the winning output (raw stdout, or canonical JSON in call mode) and its key, how
    many programs gave it, and how many ran successfully. ``output`` is None when the input is dropped."""

    output: str | None
    key: str | None
    votes: int
    successes: int

    @property
    def kept(self) -> bool:
        return self.output is not None

    @property
    def share(self) -> float:
        return self.votes / self.successes if self.successes else 0.0


def vote_outputs(runs: Runs, n_inputs: int, *, min_success: int = 1) -> list[VotedOutput]:
    """One :class:`VotedOutput` per input: the one plurality vote (:func:`ponder.verify.vote.plurality`) over
    the output keys of the runs that succeeded on it (ties: first seen in program order), or a dropped vote
    when fewer than ``min_success`` programs ran successfully."""
    if min_success < 1:
        raise ValueError(f"min_success must be >= 1, got {min_success}")
    votes = []
    for j in range(n_inputs):
        ok = [row[j] for row in runs if row is not None and row[j].key is not None]
        vote = plurality(ok, lambda r: r.key)
        if len(ok) < min_success or vote.answer is None:
            votes.append(VotedOutput(None, None, 0, len(ok)))
        else:
            votes.append(VotedOutput(vote.answer.output, vote.answer.key, vote.count, len(ok)))
    return votes


def agrees(run: RunResult, vote: VotedOutput, mode: str) -> bool:
    """Whether ``run`` passes the pseudo test of ``vote`` (the judge's comparison)."""
    if not run.ok or vote.output is None:
        return False
    if mode == "call":
        return call_output_equal(run.output, json.loads(vote.output))
    return stdout_equal(run.output, vote.output)


def pass_matrix(runs: Runs, votes: Sequence[VotedOutput], mode: str) -> list[list[bool]]:
    """``[program][kept input]``: whether each program passes each pseudo test (a missing program passes none)."""
    kept = [j for j, v in enumerate(votes) if v.kept]
    return [
        [False] * len(kept) if row is None else [agrees(row[j], votes[j], mode) for j in kept] for row in runs
    ]


def pass_counts(runs: Runs, votes: Sequence[VotedOutput], mode: str) -> list[int]:
    return [sum(row) for row in pass_matrix(runs, votes, mode)]


def pseudo_tests(inputs: Sequence[Any], votes: Sequence[VotedOutput], mode: str) -> list[dict]:
    """Test records ``{input, output, votes, successes}`` for the kept inputs; ``output`` is the expected
    stdout, or the expected return value (a JSON value) in call mode, ready for ``run_tests``."""
    out = []
    for x, v in zip(inputs, votes, strict=True):
        if v.kept:
            expected = json.loads(v.output) if mode == "call" else v.output
            out.append({"input": x, "output": expected, "votes": v.votes, "successes": v.successes})
    return out


def input_jobs(
    programs: Sequence[str | None], inputs: Sequence[Any], mode: str, entry_point: str | None, limits: Limits
) -> list[tuple[int, Job]]:
    """``(program index, Job)`` for every extracted program (``None`` programs are skipped)."""
    tests = [{"input": x} for x in inputs]
    return [
        (i, Job(src, tests, mode, entry_point, limits)) for i, src in enumerate(programs) if src is not None
    ]


def run_on_inputs(
    pool: SandboxPool,
    programs: Sequence[str | None],
    inputs: Sequence[Any],
    *,
    mode: str = "stdio",
    entry_point: str | None = None,
    limits: Limits = Limits(),
) -> list[list[RunResult] | None]:
    """``runs[i][j]``: program ``i`` on input ``j`` in the sandbox (``None`` rows for missing programs)."""
    jobs = input_jobs(programs, inputs, mode, entry_point, limits)
    results = pool.run_inputs_many([j for _, j in jobs]) if jobs and inputs else []
    runs: list[list[RunResult] | None] = [None] * len(programs)
    for (i, _), res in zip(jobs, results, strict=False):
        runs[i] = res
    for i, src in enumerate(programs):
        if src is not None and runs[i] is None:  # no inputs at all
            runs[i] = []
    return runs
