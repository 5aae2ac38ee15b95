"""``ponder generate`` on a real pretrained model: greedy output equals transformers' own generate."""

import pytest

from ponder.io import write_records
from ponder.records import Problem, read_samples
from tests.real_model import QUESTIONS, ponder, transformers_greedy

pytestmark = pytest.mark.real


def test_generate_greedy_equals_transformers_generate(real_model_dir, real_generator, tmp_path):
    write_records(tmp_path / "q.jsonl", [Problem(id=f"q{i}", prompt=q) for i, q in enumerate(QUESTIONS)])
    ponder(
        *(
            "generate",
            "--model",
            str(real_model_dir),
            "-i",
            str(tmp_path / "q.jsonl"),
            "-o",
            str(tmp_path / "s.jsonl"),
        ),
        *("--n", "1", "--temperature", "0", "--max-new-tokens", "48", "--threads", "1"),
    )
    samples = {s.id: s for s in read_samples(tmp_path / "s.jsonl")}
    assert sorted(samples) == ["q0", "q1"]
    for i, q in enumerate(QUESTIONS):
        s = samples[f"q{i}"]
        text, n = transformers_greedy(real_generator, [{"role": "user", "content": q}], 48)
        assert s.responses == [text] and s.num_tokens == [n] and text.strip()
