import json
import subprocess

from ponder.records import read_samples
from tests.helpers import THREADS_ENV, ponder_cmd, subprocess_env


def test_demo_sample_runs_end_to_end(tmp_path):
    r = subprocess.run(
        ponder_cmd("demo", "sample", "--out", str(tmp_path / "demo"), "--seed", "1"),
        capture_output=True,
        text=True,
        env=subprocess_env(**THREADS_ENV),
    )
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "demo" / "report.json").read_text())
    families = [row["family"] for row in report["families"]]
    assert families == ["arithmetic", "linear", "code", "pipeline", "neighbour-sum"]
    lines = r.stdout.splitlines()
    header = lines.index(next(line for line in lines if line.startswith("family")))
    for row, line in zip(report["families"], lines[header + 2 : header + 7], strict=True):
        assert line.split() == [
            str(row[c]) for c in ("family", "problems", "samples", "mean_tokens", "eos_share", "tokens_per_s")
        ]
        samples = list(read_samples(tmp_path / "demo" / f"samples-{row['family']}.jsonl"))
        tokens = [t for s in samples for t in s.num_tokens]
        reasons = [f for s in samples for f in s.finish_reasons]
        assert row["problems"] == len(samples) == 8 and row["samples"] == len(tokens) == 32
        assert row["mean_tokens"] == round(sum(tokens) / len(tokens), 1)
        assert row["eos_share"] == round(reasons.count("stop") / len(reasons), 3)
        assert row["tokens_per_s"] > 0
    assert report["generated_tokens"] == sum(
        t
        for f in families
        for s in read_samples(tmp_path / "demo" / f"samples-{f}.jsonl")
        for t in s.num_tokens
    )
