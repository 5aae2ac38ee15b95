"""The ``ponder pairs thinkpo`` stage: formats in, TRL pairs out, summary and plot, resume, errors."""

import json
import subprocess

from ponder.io import write_records
from ponder.pairs.thinkpo import ThinkPOPairSettings
from ponder.pairs.thinkpo_stage import build_thinkpo_pairs, side_paths
from tests.helpers import ponder_cmd, subprocess_env

LONG = "Step 1: 2 + 3 = 5.\nStep 2: 5 * 2 = 10.\nCheck: 10 / 2 = 5. Correct.\nSo the answer is \\boxed{{{}}}."


def sample(id_, prompt, responses, answer=None):
    """A ponder sample: responses as (text, num_tokens) tuples, all finished."""
    return {
        "id": id_,
        "prompt": prompt,
        "responses": [r for r, _ in responses],
        "finish_reasons": ["stop"] * len(responses),
        "num_tokens": [n for _, n in responses],
        **({"answer": answer} if answer is not None else {}),
    }


def write_inputs(tmp_path, n=6):
    """n problems q0..q(n-1) with gold answer i; long solutions as prompt-completion records WITHOUT ids
    (matched to the samples by question text); short samples: right for even i, wrong for odd i."""
    longs = [{"prompt": f"Question {i}?", "completion": LONG.format(i), "answer": str(i)} for i in range(n)]
    shorts = [
        sample(f"q{i}", f"Question {i}?", [(f"\\boxed{{{i if i % 2 == 0 else i + 100}}}", 5)], answer=str(i))
        for i in range(n)
    ]
    write_records(tmp_path / "long.jsonl", longs)
    write_records(tmp_path / "short.jsonl", shorts)
    return tmp_path / "long.jsonl", tmp_path / "short.jsonl"


def count_words(texts):
    return [len(t.split()) for t in texts]


def test_builds_pairs_matched_by_question_text(tmp_path):
    long, short = write_inputs(tmp_path)
    out = tmp_path / "pairs.jsonl"
    s = build_thinkpo_pairs(long, short, out, token_counter=count_words)
    pairs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [p["prompt"] for p in pairs] == ["Question 0?", "Question 2?", "Question 4?"]
    assert all(p["chosen"].startswith("Step 1") and p["rejected"].startswith("\\boxed") for p in pairs)
    assert s["kept"] == 3 and s["dropped"]["short_wrong"] == 3
    # LONG has 7 + 7 + 7 + 5 = 26 words, the short answer 1: every gap is 25.
    assert s["gap_tokens"]["min"] == s["gap_tokens"]["max"] == 25 and pairs[0]["meta"]["gap_tokens"] == 25
    summary_path, plot_path = side_paths(out)
    assert json.loads(summary_path.read_text())["kept"] == 3
    assert plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_wrong_short_share_through_the_stage(tmp_path):
    """3 right pairs, share 0.5: floor(0.5 / 0.5 * 3) = 3 wrong-short pairs allowed, 3 available."""
    long, short = write_inputs(tmp_path)
    s = build_thinkpo_pairs(
        long,
        short,
        tmp_path / "p.jsonl",
        ThinkPOPairSettings(wrong_short_share=0.5),
        token_counter=count_words,
    )
    assert s["kept"] == 6 and s["kept_short_wrong"] == 3


def test_killed_run_resumes_without_loss_or_duplicates(tmp_path):
    long, short = write_inputs(tmp_path, n=10)
    full = tmp_path / "full.jsonl"
    build_thinkpo_pairs(long, short, full, token_counter=count_words)
    lines = full.read_text().splitlines(keepends=True)
    out = tmp_path / "resumed.jsonl"
    # What kill -9 leaves: two complete records and a torn third in OUT.partial, no OUT.
    (tmp_path / "resumed.jsonl.partial").write_text(lines[0] + lines[1] + lines[2][:17])
    s = build_thinkpo_pairs(long, short, out, token_counter=count_words)
    assert s["resumed"] == 2 and s["kept"] == 5
    assert sorted(out.read_text().splitlines()) == sorted(line.rstrip("\n") for line in lines)


def test_cli_prints_summary_and_histogram(tmp_path, tiny_model_dir):
    long, short = write_inputs(tmp_path)
    out = tmp_path / "pairs.jsonl"
    r = subprocess.run(
        ponder_cmd(
            "pairs",
            "thinkpo",
            "--long",
            str(long),
            "--short",
            str(short),
            "-o",
            str(out),
            "--tokenizer",
            str(tiny_model_dir),
            "--conversational",
        ),
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "kept 3 of 6 long solutions" in r.stdout and "dropped: short_wrong 3" in r.stdout
    assert "length gap histogram (chosen - rejected, tokenizer tokens):" in r.stdout
    first = json.loads(out.read_text().splitlines()[0])
    assert first["prompt"] == [{"role": "user", "content": "Question 0?"}]
    assert first["chosen"][0]["role"] == "assistant" and first["rejected"][0]["content"] == "\\boxed{0}"


def test_cli_bad_record_is_one_line_naming_file_line_field(tmp_path):
    long, short = write_inputs(tmp_path)
    rows = short.read_text().splitlines()
    bad = json.loads(rows[3])
    bad["num_tokens"] = ["five"]
    short.write_text("\n".join(rows[:3] + [json.dumps(bad)] + rows[4:]) + "\n")
    out = tmp_path / "pairs.jsonl"
    r = subprocess.run(
        ponder_cmd("pairs", "thinkpo", "--long", str(long), "--short", str(short), "-o", str(out)),
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=120,
    )
    assert r.returncode == 2
    assert (
        r.stderr.strip()
        == f"ponder: error: {short}:4: field 'num_tokens': item 0: expected an integer, got string"
    )
    assert not out.exists()


def test_cli_without_token_counts_asks_for_a_tokenizer(tmp_path):
    long, short = write_inputs(tmp_path)
    r = subprocess.run(
        ponder_cmd(
            "pairs", "thinkpo", "--long", str(long), "--short", str(short), "-o", str(tmp_path / "p.jsonl")
        ),
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=120,
    )
    assert r.returncode == 2
    assert r.stderr.startswith(f"ponder: error: {long}: line 1 has no token counts; give a tokenizer")
