"""The PFPO commands as a user runs them: ponder label, ponder pairs outcome / process, ponder run."""

import json
import re
import subprocess

import pytest

from tests.helpers import ponder_cmd, subprocess_env

ENV = {"OMP_NUM_THREADS": "1", "PONDER_NO_PROGRESS": "1"}


def _run(*args, check=True):
    proc = subprocess.run(
        ponder_cmd(*args), capture_output=True, text=True, env=subprocess_env(**ENV), timeout=300
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def _samples(path, with_lines=False):
    rows = []
    for q, answers in enumerate([["4", "4", "4", "5"], ["1", "2", "3", None], ["7", "7", "8", "8"]]):
        body = "\n".join(f"step {i}: {i} + {q} = {i + q}" for i in range(1, 8)) + "\n" if with_lines else ""
        rows.append(
            {
                "id": f"q{q}",
                "prompt": [{"role": "user", "content": f"question {q}"}],
                "responses": [body + (f"so \\boxed{{{a}}}" if a else "no answer") for a in answers],
                "finish_reasons": ["stop"] * 4,
                "num_tokens": [9] * 4,
                "answer": "4" if q == 0 else "8",
            }
        )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_label_then_outcome_pairs(tmp_path):
    """q0: 4 has 3 of 4 votes (0.75 > 0.5, kept, equals gold); q1: four different answers, one missing
    (share 0.25, dropped); q2: 7 and 8 tie at 0.5 (not > 0.5, dropped)."""
    src = _samples(tmp_path / "samples.jsonl")
    proc = _run(
        "label",
        "--input",
        str(src),
        "--output",
        str(tmp_path / "labelled.jsonl"),
        "--by",
        "vote",
        "--min-vote-share",
        "0.5",
    )
    assert "labelled 3 problems by vote: kept 1" in proc.stdout
    assert "dropped (vote share too low): 2" in proc.stdout
    assert "label accuracy against gold: 1.0000 over 1 labels" in proc.stdout
    proc = _run(
        "pairs",
        "outcome",
        "--input",
        str(tmp_path / "labelled.jsonl"),
        "--output",
        str(tmp_path / "pairs.jsonl"),
        "--draws",
        "2",
    )
    pairs = [json.loads(line) for line in (tmp_path / "pairs.jsonl").read_text().splitlines()]
    assert len(pairs) == 6  # 3 positives x 2 drawings, all against the one response saying 5
    assert {p["rejected"][0]["content"] for p in pairs} == {"so \\boxed{5}"}
    assert re.search(r"^\s+pairs\s+6$", proc.stdout, flags=re.M)
    assert _run("check", str(tmp_path / "pairs.jsonl"), "--kind", "pair").returncode == 0


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"id": "a", "prompt": "q", "responses": ["x"], "finish_reasons": ["stop"], "num_tokens": "9"}\n'
    )
    proc = _run(
        "label", "--input", str(bad), "--output", str(tmp_path / "o.jsonl"), "--by", "vote", check=False
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "bad.jsonl:1: field 'num_tokens'" in proc.stderr
    src = _samples(tmp_path / "samples.jsonl")
    proc = _run("pairs", "outcome", "--input", str(src), "--output", str(tmp_path / "p.jsonl"), check=False)
    assert proc.returncode == 2 and "field 'label'" in proc.stderr and "ponder label" in proc.stderr
    proc = _run("run", str(tmp_path / "mystery.yaml"), check=False)
    assert proc.returncode == 2 and "--recipe" in proc.stderr


@pytest.mark.parametrize(
    "cmd", [("label",), ("pairs", "outcome"), ("pairs", "process"), ("run",), ("demo", "pfpo")]
)
def test_help_has_an_example(cmd):
    from typer.testing import CliRunner

    from ponder.cli import app

    result = CliRunner().invoke(app, [*cmd, "--help"])  # in-process: --help needs no subprocess
    assert result.exit_code == 0 and "Example: ponder " in result.output


def test_pairs_process_command(tmp_path, tiny_model_dir):
    from ponder.feedback.labels import LabelSettings, label_file

    src = _samples(tmp_path / "samples.jsonl", with_lines=True)
    label_file(src, tmp_path / "labelled.jsonl", LabelSettings(by="vote", min_vote_share=0.0, rule="boxed"))
    out = tmp_path / "process.jsonl"
    proc = _run(
        "pairs",
        "process",
        "--input",
        str(tmp_path / "labelled.jsonl"),
        "--output",
        str(out),
        "--model",
        str(tiny_model_dir),
        "--completions-per-prefix",
        "2",
        "--max-new-tokens",
        "4",
        "--max-prefixes-per-problem",
        "2",
        "--batch-size",
        "8",
    )
    assert "process pairs:" in proc.stdout and "value_histogram" in proc.stdout
    summary = json.loads((tmp_path / "process.summary.json").read_text())
    # q0 and q1 labelled (q2 ties 7/8: share 0.5 > 0.0, kept too); every labelled problem has differing answers
    assert summary["stages"]["problems with prefixes"] == 3 and summary["stages"]["prefixes"] == 6
    assert summary["stages"]["completions"] == 12
    assert (tmp_path / "process.completions.jsonl").exists() and out.exists()
