"""Malformed input lines: one line ``FILE:LINE: field 'NAME': what`` and exit code 2, never a traceback.

The cases are those that used to end in a traceback: a line nesting 100,000 lists (RecursionError), a
5,000-digit integer (ValueError from int()), a lone surrogate (UnicodeEncodeError when written back), and
values of the wrong type.
"""

import json
import subprocess

import pytest

from ponder.errors import InputError
from ponder.io import write_records
from ponder.records import Sample, validate_file
from tests.helpers import ponder_cmd, subprocess_env

GOOD = {"id": "a", "prompt": "p", "responses": ["1"], "finish_reasons": ["stop"], "num_tokens": [1]}
DEPTH = 100_000

# name -> (the text of line 2, the field named, words of the message)
BAD_LINES = {
    "100,000 nested lists": (
        '{"id": "b", "prompt": "p", "responses": ' + "[" * DEPTH + "]" * DEPTH + "}",
        "responses",
        "nested deeper than 100 levels",
    ),
    "150 nested lists": (
        '{"id": "b", "prompt": "p", "meta": {"x": ' + "[" * 150 + "]" * 150 + "}}",
        "meta",
        "nested deeper than 100 levels",
    ),
    "5,000-digit integer": (
        '{"id": "b", "prompt": "p", "responses": ["1"], "finish_reasons": ["stop"], "num_tokens": ['
        + "9" * 5000
        + "]}",
        "num_tokens",
        "integer with 5000 digits",
    ),
    "lone surrogate": (
        '{"id": "b", "prompt": "p", "responses": ["\\ud800"], "finish_reasons": ["stop"], "num_tokens": [1]}',
        "responses",
        "lone surrogate U+D800",
    ),
    "lone surrogate in a key": (
        '{"id": "b", "prompt": "p", "meta": {"\\udfff": 1}, "responses": [], "finish_reasons": [], "num_tokens": []}',
        "meta",
        "lone surrogate U+DFFF in a key",
    ),
    "responses not a list": (
        '{"id": "b", "prompt": "p", "responses": "1", "finish_reasons": ["stop"], "num_tokens": [1]}',
        "responses",
        "expected a list, got string",
    ),
    "a number of tokens as text": (
        '{"id": "b", "prompt": "p", "responses": ["1"], "finish_reasons": ["stop"], "num_tokens": ["1"]}',
        "num_tokens",
        "item 0: expected an integer, got string",
    ),
}


def _file(tmp_path, name):
    path = tmp_path / "samples.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + BAD_LINES[name][0] + "\n")
    return path


@pytest.mark.parametrize("name", list(BAD_LINES))
def test_reading_names_file_line_and_field(tmp_path, name):
    path = _file(tmp_path, name)
    _, field, words = BAD_LINES[name]
    with pytest.raises(InputError) as e:
        validate_file(path, Sample)
    assert (e.value.line, e.value.field) == (2, field)
    assert str(e.value).startswith(f"{path}:2: field '{field}': ") and words in str(e.value)


@pytest.mark.parametrize("name", list(BAD_LINES))
def test_ponder_grade_exits_2_with_one_line(tmp_path, name):
    path = _file(tmp_path, name)
    out = tmp_path / "graded.jsonl"
    r = subprocess.run(
        ponder_cmd("grade", "--input", str(path), "--output", str(out)),
        capture_output=True,
        text=True,
        env=subprocess_env(),
    )
    _, field, words = BAD_LINES[name]
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith(f"ponder: error: {path}:2: field '{field}': ") and words in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["samples.jsonl"]  # no output, no lock left


def test_ponder_generate_refuses_a_depth_bomb_before_loading_a_model(tmp_path):
    path = tmp_path / "problems.jsonl"
    path.write_text('{"id": "a", "prompt": "p"}\n{"id": "b", "prompt": ' + "[" * DEPTH + "]" * DEPTH + "}\n")
    r = subprocess.run(
        ponder_cmd(
            "generate", "--model", "no-such-model", "--input", str(path), "--output", str(tmp_path / "o")
        ),
        capture_output=True,
        text=True,
        env=subprocess_env(),
    )
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert r.stderr.startswith(f"ponder: error: {path}:2: field 'prompt': nested deeper than 100 levels")


def test_parquet_json_columns_are_checked_like_lines(tmp_path):
    """A Parquet file stores nested values as JSON text: the same checks apply, naming the row and column."""
    path = tmp_path / "p.parquet"
    write_records(
        path, [{"id": "a", "prompt": "p", "meta": {"x": 1}}, {"id": "b", "prompt": "p", "meta": {}}]
    )
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    meta = table.column("meta").to_pylist()
    meta[1] = "[" * DEPTH + "]" * DEPTH
    pq.write_table(
        table.set_column(table.schema.get_field_index("meta"), "meta", [meta]).replace_schema_metadata(
            table.schema.metadata
        ),
        path,
    )
    from ponder.records import Problem

    with pytest.raises(InputError) as e:
        validate_file(path, Problem)
    assert (e.value.line, e.value.field) == (2, "meta") and "nested deeper than 100 levels" in str(e.value)
