"""Inputs beyond record files: dataset folders (``save_to_disk``, Parquet or JSONL shards), ``hf:NAME`` through
``datasets.load_dataset`` (offline: local folders), splits, and the column mapping."""

import json

import datasets
import pytest

from ponder import sources
from ponder.errors import InputError, PonderError
from ponder.records import Problem, iter_json_objects, load_records

TRAIN = [{"question": f"What is {i} + {i}?", "solution": str(2 * i)} for i in range(3)]
TEST = [{"question": "What is 9 + 9?", "solution": "18"}]
MAPPING = {"prompt": "question", "answer": "solution"}


def _dict():
    return datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(TRAIN), "test": datasets.Dataset.from_list(TEST)}
    )


def _problems(source) -> list[tuple[str, str]]:
    with sources.columns(MAPPING):
        return [(p.prompt, p.answer) for p in load_records(source, Problem)]


def _expected(rows):
    return [(r["question"], r["solution"]) for r in rows]


@pytest.fixture
def shards(tmp_path):
    """HF's repository layout: data/SPLIT-0000N-of-0000M.parquet."""
    (tmp_path / "shards" / "data").mkdir(parents=True)
    ds = _dict()
    ds["train"].select([0, 1]).to_parquet(tmp_path / "shards/data/train-00000-of-00002.parquet")
    ds["train"].select([2]).to_parquet(tmp_path / "shards/data/train-00001-of-00002.parquet")
    ds["test"].to_parquet(tmp_path / "shards/data/test-00000-of-00001.parquet")
    return tmp_path / "shards"


def test_a_saved_dataset_folder_reads_like_a_file(tmp_path):
    datasets.Dataset.from_list(TRAIN).save_to_disk(tmp_path / "one")
    assert _problems(tmp_path / "one") == _expected(TRAIN)
    _dict().save_to_disk(tmp_path / "two")
    assert _problems(f"{tmp_path / 'two'}@test") == _expected(TEST)
    with pytest.raises(InputError) as e:
        _problems(tmp_path / "two")
    assert (
        str(e.value) == f"{tmp_path / 'two'}: holds splits train, test; name one as {tmp_path / 'two'}@train"
    )


def test_a_folder_of_shards_reads_in_path_order_and_by_split(shards):
    assert _problems(f"{shards}@train") == _expected(TRAIN)
    assert _problems(f"{shards}@test") == _expected(TEST)
    assert _problems(shards) == _expected(TEST + TRAIN)  # every shard, in path order
    jsonl = shards.parent / "jsonl"
    jsonl.mkdir()
    (jsonl / "b.jsonl").write_text(json.dumps(TRAIN[2]) + "\n")
    (jsonl / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in TRAIN[:2]))
    assert _problems(jsonl) == _expected(TRAIN)


def test_a_dataset_name_is_loaded_by_datasets(shards, tmp_path):
    assert _problems(f"hf:{shards}@train") == _expected(TRAIN)
    with pytest.raises(InputError) as e:
        _problems(f"hf:{shards}")
    assert str(e.value) == f"hf:{shards}: holds splits train, test; name one as hf:{shards}@train"
    with pytest.raises(InputError) as e:
        _problems(f"hf:{tmp_path / 'nothing'}")
    assert str(e.value).startswith(f"hf:{tmp_path / 'nothing'}: cannot load the data set (")


def test_columns_rename_only_where_the_field_is_absent(tmp_path):
    path = tmp_path / "p.jsonl"
    rows = [{"question": "Q1", "solution": "1"}, {"id": "b", "prompt": "P2", "question": "Q2", "answer": "2"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with sources.columns(MAPPING):
        got = [obj for _, obj in iter_json_objects(path)]
    assert got == [{"prompt": "Q1", "answer": "1"}, rows[1]]
    assert [obj for _, obj in iter_json_objects(path)] == rows  # the mapping ends with its block


def test_errors_of_folders_and_mappings(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError) as e:
        list(iter_json_objects(tmp_path / "empty"))
    assert str(e.value) == f"{tmp_path / 'empty'}: folder holds no .jsonl or .parquet files"
    with pytest.raises(InputError) as e:
        list(iter_json_objects(f"{tmp_path / 'missing'}@train"))
    assert str(e.value) == f"{tmp_path / 'missing'}@train: no such file or folder"
    # A bad row of a shard names the shard and its line.
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.jsonl").write_text('{"id": "a", "prompt": "x"}\n{"id": \n')
    with pytest.raises(InputError) as e:
        list(iter_json_objects(tmp_path / "bad"))
    assert str(e.value).startswith(f"{tmp_path / 'bad' / 'a.jsonl'}:2: broken JSON")
    assert sources.parse_columns(" prompt = question ,answer=solution,") == MAPPING
    for bad, message in [("prompt", "expected FIELD=COLUMN"), ("a=b,a=c", "field 'a' is mapped twice")]:
        with pytest.raises(PonderError, match=message):
            sources.parse_columns(bad)


def test_dates_become_text_and_binary_values_are_refused_naming_the_column(tmp_path):
    import datetime

    import pyarrow as pa
    import pyarrow.parquet as pq

    when = datetime.datetime(2024, 5, 6, 7, 8, 9)
    datasets.Dataset.from_dict({"prompt": ["x"], "when": [when]}).save_to_disk(tmp_path / "dated")
    assert [obj for _, obj in iter_json_objects(tmp_path / "dated")] == [
        {"prompt": "x", "when": "2024-05-06T07:08:09"}
    ]
    (tmp_path / "images").mkdir()
    pq.write_table(
        pa.table({"prompt": ["x", "y"], "image": [None, b"\x89PNG"]}), tmp_path / "images/a.parquet"
    )
    with pytest.raises(InputError) as e:
        list(iter_json_objects(tmp_path / "images"))
    assert str(e.value) == (
        f"{tmp_path / 'images' / 'a.parquet'}:2: field 'image': a bytes value; records hold text, numbers, "
        "lists and objects"
    )


def test_trainers_read_dataset_sources_too(shards):
    from ponder.train.data import PromptCompletion, read_sft_records

    with sources.columns({"prompt": "question", "completion": "solution"}):
        got = [(rec.prompt, rec.completion) for _, rec in read_sft_records(f"hf:{shards}@train")]
        assert all(isinstance(rec, PromptCompletion) for _, rec in read_sft_records(f"{shards}@test"))
    assert got == _expected(TRAIN)
