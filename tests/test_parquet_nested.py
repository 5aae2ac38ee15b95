"""Parquet with native nested columns: lists of strings and numbers, conversations as lists of
``{role, content}`` structs; read back exactly by ponder, as conversations by ``datasets`` and TRL; files with
JSON-text columns (written before) still read."""

import json

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
from trl.data_utils import extract_prompt, is_conversational, maybe_apply_chat_template

from ponder.io import write_records
from ponder.parquet import JSON_COLUMNS_KEY
from ponder.records import Pair, Sample, iter_json_objects, read_pairs

SYSTEM = {"role": "system", "content": "Be brief."}
PAIRS = [
    Pair(
        id=f"p{i}",
        prompt=[SYSTEM, {"role": "user", "content": f"What is {i} + 1?"}],
        chosen=[{"role": "assistant", "content": str(i + 1)}],
        rejected=[{"role": "assistant", "content": str(i + 2)}],
        meta={"source": "test", "i": i},
    )
    for i in range(3)
]
MSG = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))


def _schema(path):
    schema = pq.read_schema(path)
    return {f.name: f.type for f in schema}, json.loads(schema.metadata[JSON_COLUMNS_KEY])


def test_conversations_and_lists_are_native_columns_and_read_back_exactly(tmp_path):
    samples = [
        Sample(
            id="s1", prompt=[{"role": "user", "content": "Hi"}], responses=["a", "b"],
            finish_reasons=["stop", "length"], num_tokens=[3, 9], preds=["1", None], correct=[True, False],
        ),
        Sample(id="s2", prompt=[{"role": "user", "content": "Yo"}], responses=[], finish_reasons=[], num_tokens=[]),
    ]  # fmt: skip
    path = tmp_path / "samples.parquet"
    write_records(path, samples)
    types, json_cols = _schema(path)
    assert types["prompt"] == MSG and types["responses"] == pa.list_(pa.string())
    assert types["num_tokens"] == pa.list_(pa.int64()) and types["correct"] == pa.list_(pa.bool_())
    assert types["preds"] == pa.list_(pa.string()) and json_cols == []
    assert [obj for _, obj in iter_json_objects(path)] == [s.to_dict() for s in samples]

    path = tmp_path / "pairs.parquet"
    write_records(path, PAIRS)
    types, json_cols = _schema(path)
    assert types["prompt"] == types["chosen"] == types["rejected"] == MSG and json_cols == ["meta"]
    assert [p.to_dict() for p in read_pairs(path)] == [p.to_dict() for p in PAIRS]


def test_columns_that_are_not_uniform_stay_json_text_and_round_trip(tmp_path):
    rows = [
        {"id": "a", "prompt": "plain text", "tests": [{"input": "1", "output": "1"}], "x": [1, 2]},
        {"id": "b", "prompt": [{"role": "user", "content": "hi", "name": "u"}], "tests": [], "x": [1.5]},
        {"id": "c", "prompt": [{"role": "user", "content": "hi"}], "tests": [{"input": "2"}], "x": []},
    ]
    path = tmp_path / "mixed.parquet"
    write_records(path, rows)
    types, json_cols = _schema(path)
    assert set(json_cols) == {"prompt", "tests", "x"}  # text and messages; other keys; ints and floats
    assert [obj for _, obj in iter_json_objects(path)] == rows
    # Messages with the same keys beyond role and content, and an empty list first, are native.
    rows = [{"id": "a", "m": []}, {"id": "b", "m": [{"content": "x", "role": "user", "name": "n"}]}]
    write_records(path, rows)
    types, json_cols = _schema(path)
    assert json_cols == [] and types["m"] == pa.list_(
        pa.struct([("role", pa.string()), ("content", pa.string()), ("name", pa.string())])
    )
    assert [obj for _, obj in iter_json_objects(path)] == rows


def test_files_with_json_text_columns_still_read(tmp_path):
    path = tmp_path / "old.parquet"
    table = pa.table(
        {"id": ["a"], "prompt": [json.dumps(PAIRS[0].prompt)], "chosen": ["A"], "rejected": ["B"]},
        schema=pa.schema(
            [pa.field(k, pa.string()) for k in ("id", "prompt", "chosen", "rejected")],
            metadata={JSON_COLUMNS_KEY: json.dumps(["prompt"]).encode()},
        ),
    )
    pq.write_table(table, path)
    assert [p.to_dict() for p in read_pairs(path)] == [
        {"id": "a", "prompt": PAIRS[0].prompt, "chosen": "A", "rejected": "B"}
    ]


def test_datasets_and_trl_read_ponder_pairs_as_conversations(tmp_path, tokenizer):
    path = tmp_path / "pairs.parquet"
    write_records(path, PAIRS)
    ds = datasets.load_dataset("parquet", data_files=str(path), split="train")
    assert ds.features["prompt"] == datasets.List(
        {"role": datasets.Value("string"), "content": datasets.Value("string")}
    )
    assert [{k: row[k] for k in ("id", "prompt", "chosen", "rejected")} for row in ds] == [
        {k: v for k, v in p.to_dict().items() if k != "meta"} for p in PAIRS
    ]
    row = ds[0]
    assert is_conversational(row)
    text = maybe_apply_chat_template(row, tokenizer)
    assert text["prompt"] == tokenizer.apply_chat_template(
        PAIRS[0].prompt, tokenize=False, add_generation_prompt=True
    )
    whole = tokenizer.apply_chat_template(PAIRS[0].prompt + PAIRS[0].chosen, tokenize=False)
    assert text["prompt"] + text["chosen"] == whole


def test_implicit_prompt_conversations_split_as_trl_splits_them():
    for p in PAIRS:
        whole = {"chosen": p.prompt + p.chosen, "rejected": p.prompt + p.rejected}
        ours = Pair.from_dict(whole)
        assert {"prompt": ours.prompt, "chosen": ours.chosen, "rejected": ours.rejected} == extract_prompt(
            whole
        )
