import json
import subprocess
import sys

import pytest

from ponder.errors import InputError
from ponder.io import StageWriter, write_records
from ponder.records import (
    Pair,
    Problem,
    Sample,
    load_dataset,
    load_records,
    read_pairs,
    read_problems,
    read_samples,
)
from tests.helpers import ponder_cmd, subprocess_env

PROBLEMS = [
    Problem(id="a", prompt="Compute 1 + 1.", answer="2", source="s", meta={"family": "arithmetic"}),
    Problem(id="b", prompt=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]),
    Problem(id="c", prompt="Sum", tests=[{"input": "1 2\n", "output": "3\n"}]),
]


def _roundtrip(tmp_path, suffix, records, reader):
    path = tmp_path / f"data{suffix}"
    assert write_records(path, records) == len(records)
    back = list(reader(path))
    assert [r.to_dict() for r in back] == [r.to_dict() for r in records]
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_problem_roundtrip(tmp_path, suffix):
    _roundtrip(tmp_path, suffix, PROBLEMS, read_problems)


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_sample_and_pair_roundtrip_keep_extra_keys(tmp_path, suffix):
    s = Sample.from_dict(
        {
            "id": 7,
            "prompt": "p",
            "responses": ["x", "y"],
            "finish_reasons": ["stop", "length"],
            "num_tokens": [3, 9],
            "preds": ["1", None],
            "correct": [True, False],
            "vote_answer": "1",
            "vote_share": 0.5,
            "custom": {"k": [1]},
        }
    )
    assert s.id == "7" and s.extra == {"custom": {"k": [1]}}
    _roundtrip(tmp_path, suffix, [s], read_samples)
    conv = Pair(
        id="p1",
        prompt=[{"role": "user", "content": "q"}],
        chosen=[{"role": "assistant", "content": "long"}],
        rejected=[{"role": "assistant", "content": "short"}],
        meta={"gap": 3},
    )
    plain = Pair(id="p2", prompt="q", chosen="long", rejected="short")
    _roundtrip(tmp_path, suffix, [conv, plain], read_pairs)


def test_parquet_stores_scalar_columns_natively(tmp_path):
    import pyarrow.parquet as pq

    path = tmp_path / "p.parquet"
    write_records(path, PROBLEMS)
    schema = pq.read_schema(path)
    assert str(schema.field("id").type) == "string"
    assert str(schema.field("answer").type) == "string"  # absent in some rows: null, not lost


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_load_through_hf_datasets(tmp_path, suffix):
    path = tmp_path / f"p{suffix}"
    write_records(path, [PROBLEMS[0], PROBLEMS[2]])
    ds = load_dataset(path)
    assert ds.num_rows == 2
    assert ds[0]["id"] == "a" and ds[0]["answer"] == "2"
    assert ds[1]["tests"] == [{"input": "1 2\n", "output": "3\n"}]


BAD = {
    "broken_json": (b'{"id": "a", "prompt": "x"}\n{"id": "b", "prompt": \n', 2, None, "broken JSON"),
    "missing_field": (b'{"id": "a", "prompt": "x"}\n{"id": "b"}\n', 2, "prompt", "missing"),
    "mistyped_field": (
        b'{"id": "a", "prompt": 5}\n',
        1,
        "prompt",
        "expected a string or a list of messages, got int",
    ),
    "non_object": (b'{"id": "a", "prompt": "x"}\n\n[1, 2]\n', 3, None, "expected a JSON object, got list"),
    "invalid_utf8": (
        b'{"id": "a", "prompt": "x"}\n{"id": "b", "prompt": "\xff\xfe"}\n',
        2,
        None,
        "invalid UTF-8",
    ),
    "empty_file": (b"", None, None, "file is empty"),
    "bad_message": (
        b'{"id": "a", "prompt": [{"role": "user"}]}\n',
        1,
        "prompt",
        "'content' must be a string",
    ),
    "bad_weight": (
        b'{"id": "a", "prompt": [{"role": "assistant", "content": "x", "weight": 0.5}]}\n',
        1,
        "prompt",
        "message 0: 'weight' must be 0 or 1, got 0.5",
    ),
    "duplicate_id": (
        b'{"id": "a", "prompt": "x"}\n{"id": "a", "prompt": "y"}\n',
        2,
        "id",
        "duplicate id 'a'",
    ),
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_input_names_file_line_and_field(tmp_path, kind):
    data, line, field, message = BAD[kind]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(data)
    with pytest.raises(InputError) as err:
        load_records(path, Problem)
    e = err.value
    assert e.line == line and e.field == field and message in e.message
    text = str(e)
    assert text.startswith(f"{path}:{line}:" if line else f"{path}:")
    assert "\n" not in text


@pytest.mark.parametrize("kind", sorted(BAD))
def test_cli_bad_input_is_one_line_without_traceback(tmp_path, kind):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(BAD[kind][0])
    r = subprocess.run(ponder_cmd("check", str(path)), capture_output=True, text=True, env=subprocess_env())
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"ponder: error: {path}"), r.stderr
    assert "Traceback" not in r.stderr


def test_sample_lists_must_match_responses(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text(
        json.dumps(
            {
                "id": "a",
                "prompt": "p",
                "responses": ["x"],
                "finish_reasons": ["stop", "stop"],
                "num_tokens": [1],
            }
        )
        + "\n"
    )
    with pytest.raises(InputError, match="field 'finish_reasons': has 2 items but 'responses' has 1"):
        list(read_samples(path))


MEASURE = """
import resource, sys
from ponder.records import Problem, read_records
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
n = sum(1 for _ in read_records(sys.argv[1], Problem))
print(n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def test_reading_streams_with_flat_memory(tmp_path):
    path = tmp_path / "big.jsonl"
    line = json.dumps({"id": "x", "prompt": "Compute 12 + 7 * 3 - 4 and give the answer.", "answer": "29"})
    with open(path, "w") as fh:
        fh.writelines(line.replace('"x"', f'"{i}"', 1) + "\n" for i in range(1_000_000))
    size_mb = path.stat().st_size / 2**20
    r = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path)],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        check=True,
    )
    n, grown_kb = map(int, r.stdout.split())
    assert n == 1_000_000
    # Holding the records would take several times the file size; streaming grows by a few MiB at most.
    assert size_mb > 80 and grown_kb < 16 * 1024, (
        f"max RSS grew {grown_kb / 1024:.0f} MiB for a {size_mb:.0f} MiB file"
    )


def test_write_records_is_atomic_on_failure(tmp_path):
    path = tmp_path / "out.jsonl"

    def gen():
        yield PROBLEMS[0]
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_records(path, gen())
    assert list(tmp_path.iterdir()) == []


def test_stage_writer_resumes_after_torn_line(tmp_path):
    out = tmp_path / "out.jsonl"
    w = StageWriter(out)
    for i in range(3):
        w.write({"id": str(i), "v": i})
    w.close()  # simulated crash: no commit
    with open(w.partial, "ab") as fh:
        fh.write(b'{"id": "3", "v"')  # torn last line
    assert not out.exists()
    w2 = StageWriter(out)
    assert w2.done == {"0", "1", "2"} and w2.resumed == 3
    for i in range(5):
        if str(i) not in w2.done:
            w2.write({"id": str(i), "v": i})
    w2.commit()
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert ids == ["0", "1", "2", "3", "4"]
    assert not w2.partial.exists()


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_stage_writer_extends_a_finished_output(tmp_path, suffix):
    out = tmp_path / f"out{suffix}"
    with StageWriter(out) as w:
        w.write({"id": "a", "prompt": "x"})
    with StageWriter(out) as w:
        assert w.done == {"a"}
        w.write({"id": "b", "prompt": "y"})
    assert [p.id for p in read_problems(out)] == ["a", "b"]


def test_stage_writer_leaves_partial_on_exception(tmp_path):
    out = tmp_path / "out.jsonl"
    with pytest.raises(ValueError), StageWriter(out) as w:
        w.write({"id": "a"})
        raise ValueError
    assert not out.exists() and w.partial.exists()
