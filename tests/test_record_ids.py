"""Records without ``id`` (TRL and Hub files) are named by their content; TRL's implicit-prompt pairs are split
at the prompt chosen and rejected share."""

import json

import pytest

from ponder.errors import InputError
from ponder.jsonl import content_hash
from ponder.records import Pair, Problem, load_records

USER = {"role": "user", "content": "What colour is the sky?"}


def test_an_id_is_the_hash_of_the_record_and_the_same_in_every_read(tmp_path):
    rows = [{"prompt": "2 + 2?", "answer": 4}, {"prompt": "3 + 3?", "answer": "6", "meta": {"k": 1}}]
    path = tmp_path / "problems.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    first = load_records(path, Problem)
    assert [p.id for p in first] == [content_hash(r) for r in rows]
    assert [p.id for p in load_records(path, Problem)] == [p.id for p in first]
    # The key order of a line does not change the id; a changed value does.
    assert Problem.from_dict({"answer": 4, "prompt": "2 + 2?"}).id == first[0].id
    assert Problem.from_dict({"prompt": "2 + 2?", "answer": 5}).id != first[0].id
    # A given id is kept as it is.
    assert Problem.from_dict({"id": 7, "prompt": "x"}).id == "7"


def test_two_records_without_ids_and_with_the_same_content_are_refused(tmp_path):
    path = tmp_path / "pairs.jsonl"
    row = {"prompt": "Q", "chosen": "A", "rejected": "B"}
    path.write_text(
        json.dumps(row) + "\n" + json.dumps({**row, "chosen": "C"}) + "\n" + json.dumps(row) + "\n"
    )
    with pytest.raises(InputError) as e:
        load_records(path, Pair)
    assert str(e.value) == (
        f"{path}:3: field 'id': same content as line 1 (records without an id are named by their content, "
        "so they must differ)"
    )


def test_implicit_prompt_conversations_split_before_the_first_differing_message():
    system = {"role": "system", "content": "Be brief."}
    chosen = [system, USER, {"role": "assistant", "content": "Blue."}]
    rejected = [system, USER, {"role": "assistant", "content": "Green."}, {"role": "user", "content": "?"}]
    p = Pair.from_dict({"chosen": chosen, "rejected": rejected})
    assert p.prompt == [system, USER]
    assert p.chosen == [chosen[2]] and p.rejected == rejected[2:]
    assert p.id == content_hash({"chosen": chosen, "rejected": rejected})


@pytest.mark.parametrize(
    "chosen, rejected, prompt, chosen_rest, rejected_rest",
    [
        ("The sky is blue.", "The sky is green.", "The sky is", " blue.", " green."),
        ("The sky is blue.", "The sky is black.", "The sky is", " blue.", " black."),  # no cut inside a word
        ("Q:\nyes", "Q:\nno", "Q:", "\nyes", "\nno"),
        ("abc", "abd", "ab", "c", "d"),  # no whitespace: cut at the first differing character
    ],
)
def test_implicit_prompt_texts_split_at_the_last_whitespace_before_they_differ(
    chosen, rejected, prompt, chosen_rest, rejected_rest
):
    p = Pair.from_dict({"chosen": chosen, "rejected": rejected})
    assert (p.prompt, p.chosen, p.rejected) == (prompt, chosen_rest, rejected_rest)
    assert p.prompt + p.chosen == chosen and p.prompt + p.rejected == rejected


@pytest.mark.parametrize(
    "row, message",
    [
        (
            {"chosen": "Yes", "rejected": "No"},
            "field 'prompt': no 'prompt', and 'chosen' and 'rejected' share no",
        ),
        ({"chosen": "A b", "rejected": "A b"}, "field 'prompt': no 'prompt', and 'chosen' or 'rejected' has"),
        (
            {"chosen": [USER], "rejected": "x"},
            "field 'rejected': implicit prompt: 'chosen' and 'rejected' must",
        ),
        (
            {"chosen": [USER], "rejected": [{"role": "user"}]},
            "field 'rejected': message 0: 'content' must be",
        ),
    ],
)
def test_implicit_prompt_pairs_that_cannot_be_split_name_the_line_and_field(tmp_path, row, message):
    path = tmp_path / "pairs.jsonl"
    path.write_text(
        json.dumps({"prompt": "Q", "chosen": "A", "rejected": "B"}) + "\n" + json.dumps(row) + "\n"
    )
    with pytest.raises(InputError) as e:
        load_records(path, Pair)
    assert str(e.value).startswith(f"{path}:2: {message}"), str(e.value)
