"""The ``ponder grade`` stage and command: fields added, parallel equals serial, resume, bad input."""

import json
import subprocess

import pytest

from ponder.errors import InputError, PonderError
from ponder.records import Sample, load_records
from ponder.verify.grade_stage import grade_file, grade_sample
from tests.helpers import ponder_cmd, subprocess_env


def _sample(i, responses, answer=None):
    d = {
        "id": f"s{i}",
        "prompt": f"question {i}",
        "responses": responses,
        "finish_reasons": ["stop"] * len(responses),
        "num_tokens": [10] * len(responses),
    }
    if answer is not None:
        d["answer"] = answer
    return d


SAMPLES = [
    _sample(0, ["so \\boxed{2}", "The answer is 3", "\\boxed{\\frac{4}{2}}", "I give up"], "2"),
    _sample(1, ["x = \\boxed{\\frac12}", "0.5", "#### 1/2", "\\boxed{7}"]),
    _sample(2, ["\\boxed{(1,2)}", "\\boxed{[1,2]}"], "[1,2]"),
] + [_sample(i, [f"\\boxed{{{i}}}", f"The answer is {i + 1}."], str(i)) for i in range(3, 12)]


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_grade_sample_fields():
    """Sample 0: preds 2, 3, 4/2, None; correct T, F, T, F; vote 2 with 2 of 4 votes -> share 0.5."""
    s, vote_ok = grade_sample(Sample.from_dict(SAMPLES[0]))
    assert s.preds == ["2", "3", "\\frac{4}{2}", None]
    assert s.correct == [True, False, True, False]
    assert (s.vote_answer, s.vote_share, vote_ok) == ("2", 0.5, True)
    # No gold: no correct[], the vote still counts all four responses: 3 of 4 -> 0.75.
    s, vote_ok = grade_sample(Sample.from_dict(SAMPLES[1]))
    assert s.correct is None and vote_ok is None
    assert (s.vote_answer, s.vote_share) == ("\\frac12", 0.75)


def test_parallel_equals_serial(tmp_path):
    src = _write(tmp_path / "samples.jsonl", SAMPLES)
    serial = grade_file(src, tmp_path / "serial.jsonl", workers=1)
    parallel = grade_file(src, tmp_path / "parallel.jsonl", workers=2)
    assert (tmp_path / "serial.jsonl").read_text() == (tmp_path / "parallel.jsonl").read_text()
    assert serial.samples == parallel.samples == len(SAMPLES)
    # Responses with gold: 4 + 2 + 9 * 2 = 24; correct: 2 + 1 + 9 = 12.
    assert (serial.responses_with_gold, serial.correct) == (24, 12)
    out = [r.to_dict() for r in load_records(tmp_path / "serial.jsonl", Sample)]
    assert [r["id"] for r in out] == [s["id"] for s in SAMPLES]
    assert out[2]["correct"] == [False, True]


def test_a_killed_run_resumes_without_losing_or_repeating(tmp_path):
    src = _write(tmp_path / "samples.jsonl", SAMPLES)
    out = tmp_path / "graded.jsonl"
    # A run killed after two records: they sit in graded.jsonl.partial, the second one torn. The first is
    # what grading it gives (with its fingerprint), marked to tell whether it was graded again.
    grade_file(_write(tmp_path / "first.jsonl", SAMPLES[:1]), tmp_path / "first-graded.jsonl", workers=1)
    marker = json.loads((tmp_path / "first-graded.jsonl").read_text()) | {"vote_share": 0.123}
    partial = out.with_name(out.name + ".partial")
    partial.write_text(json.dumps(marker) + "\n" + '{"id": "s1", "prompt": "torn')
    summary = grade_file(src, out, workers=2)
    assert summary.resumed == 1 and summary.samples == len(SAMPLES) - 1
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [s["id"] for s in SAMPLES]
    assert rows[0]["vote_share"] == 0.123
    assert not partial.exists()


def test_bad_input_gives_one_line_and_no_output(tmp_path):
    src = _write(tmp_path / "samples.jsonl", SAMPLES[:2])
    with open(src, "a") as fh:
        fh.write('{"id": "s9", "prompt": "p", "responses": ["a"], "finish_reasons": ["stop"]}\n')
    out = tmp_path / "graded.jsonl"
    with pytest.raises(InputError, match="samples.jsonl:3: field 'num_tokens': missing"):
        grade_file(src, out)
    assert not out.exists() and not out.with_name(out.name + ".partial").exists()
    with pytest.raises(PonderError, match="unknown grading rule"):
        grade_file(src, out, rule="exact")

    proc = subprocess.run(
        ponder_cmd("grade", "--input", str(src), "--output", str(out)),
        capture_output=True,
        text=True,
        env=subprocess_env(),
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"ponder: error: {src}:3: field 'num_tokens': missing"]
    assert not out.exists()


def test_command_grades_a_file_with_a_progress_bar(tmp_path):
    src = _write(tmp_path / "samples.jsonl", SAMPLES)
    out = tmp_path / "graded.jsonl"
    proc = subprocess.run(
        ponder_cmd("grade", "-i", str(src), "-o", str(out), "--rule", "math", "--workers", "2"),
        capture_output=True,
        text=True,
        env=subprocess_env(PONDER_NO_PROGRESS="0"),
    )
    assert proc.returncode == 0, proc.stderr
    assert "graded 12 samples" in proc.stdout and "accuracy 0.5000 over 24 responses" in proc.stdout
    assert "sample" in proc.stderr  # the progress bar's unit
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[1]["preds"] == ["\\frac12", "0.5", "1/2", "7"] and "correct" not in rows[1]


def test_command_grades_one_prediction(tmp_path):
    def run(*args):
        return subprocess.run(
            ponder_cmd("grade", *args), capture_output=True, text=True, env=subprocess_env()
        )

    proc = run("--pred", "so the answer is \\boxed{(1,2)}", "--gold", "[1,2]")
    assert proc.returncode == 0
    verdict = json.loads(proc.stdout)
    assert verdict["correct"] is False and verdict["pred"] == "(1,2)"
    proc = run("--pred", "The answer is (C).", "--gold", "C", "--rule", "choice")
    assert json.loads(proc.stdout)["correct"] is True
    proc = run("--pred", "1")
    assert proc.returncode == 2 and "--pred and --gold go together" in proc.stderr
    proc = run("--pred", "1", "--gold", "1", "--rule", "fuzzy")
    assert (
        proc.returncode == 2
        and "--rule: 'fuzzy' is not one of 'math', 'boxed', 'number', 'choice'" in proc.stderr
    )
