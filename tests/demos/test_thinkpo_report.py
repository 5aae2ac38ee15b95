"""The ThinkPO demo's paired comparison: differences by problem and their standard error, worked by hand."""

import math

import pytest

from ponder.demos.thinkpo_report import verdict
from ponder.eval.paired import paired_accuracy
from tests.helpers import write_samples


def test_paired_accuracy_by_hand(tmp_path):
    # per-problem accuracies a: 1, 0.5, 0; b: 0.5, 0.5, 0 (problem "z" only in a: left out)
    a = write_samples(
        tmp_path / "a.jsonl", {"x": [True, True], "y": [True, False], "w": [False, False], "z": [True]}
    )
    b = write_samples(tmp_path / "b.jsonl", {"x": [True, False], "y": [False, True], "w": [False, False]})
    diff, se = paired_accuracy(a, b)
    # differences by problem (sorted ids w, x, y): 0, 0.5, 0 -> mean 1/6, sample sd sqrt(1/12), se sd/sqrt(3)
    assert diff == pytest.approx(1 / 6, rel=4 * 2**-52)
    assert se == pytest.approx(math.sqrt(1 / 12) / math.sqrt(3), rel=8 * 2**-52)


def test_verdict_adds_the_paired_errors(tmp_path):
    files = {
        "sft": write_samples(tmp_path / "s.jsonl", {"x": [False], "y": [False]}),
        "sft-continued": write_samples(tmp_path / "c.jsonl", {"x": [True], "y": [False]}),
        "thinkpo": write_samples(tmp_path / "t.jsonl", {"x": [True], "y": [True]}),
    }
    rows = [
        {"name": "sft", "accuracy": 0.0, "mean_tokens": 5.0},
        {"name": "sft-continued", "accuracy": 0.5, "mean_tokens": 5.0},
        {"name": "thinkpo", "accuracy": 1.0, "mean_tokens": 9.0},
    ]
    v = verdict(rows, files)
    assert v["thinkpo_above_control"] and v["accuracy_vs_control"] == 0.5
    # thinkpo - control by problem: 0, 1 -> sd sqrt(0.5), se 0.5; control - sft: 1, 0 -> the same
    assert v["accuracy_vs_control_se"] == pytest.approx(0.5, rel=4 * 2**-52)
    assert (v["control_vs_sft"], v["control_vs_sft_se"]) == (0.5, pytest.approx(0.5, rel=4 * 2**-52))
    assert "accuracy_vs_control_se" not in verdict(rows)
