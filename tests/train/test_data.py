"""SFT record readers, data mixtures and the per-step order of examples."""

import json

import pytest

from ponder.errors import ConfigError, InputError
from ponder.records import Pair, Sample
from ponder.train.data import (
    Conversation,
    DataSource,
    PromptCompletion,
    StepSchedule,
    epoch_order,
    parse_sources,
    read_sft_records,
)


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("row", "kind"),
    [
        ({"prompt": "Q", "completion": "A"}, PromptCompletion),
        (
            {"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]},
            Conversation,
        ),
        (
            {"id": "s", "prompt": "Q", "responses": ["A"], "finish_reasons": ["stop"], "num_tokens": [1]},
            Sample,
        ),
        ({"id": "p", "prompt": "Q", "chosen": "A", "rejected": "B"}, Pair),
    ],
)
def test_sft_formats_are_detected(tmp_path, row, kind):
    ((line, rec),) = list(read_sft_records(_write(tmp_path / "d.jsonl", [row])))
    assert line == 1 and isinstance(rec, kind)


def test_sft_errors_name_file_line_and_field(tmp_path):
    bad = _write(tmp_path / "d.jsonl", [{"prompt": "Q", "completion": "A"}, {"prompt": "Q", "completion": 3}])
    with pytest.raises(
        InputError, match=r"d.jsonl:2: field 'completion': expected a string or a list of messages"
    ):
        list(read_sft_records(bad))
    msgs = _write(tmp_path / "m.jsonl", [{"messages": [{"role": "user", "content": 1}]}])
    with pytest.raises(
        InputError, match=r"m.jsonl:1: field 'messages': message 0: 'content' must be a string"
    ):
        list(read_sft_records(msgs))
    unknown = _write(tmp_path / "u.jsonl", [{"text": "hello"}])
    with pytest.raises(InputError, match=r"u.jsonl:1: cannot tell the SFT format"):
        list(read_sft_records(unknown))


def test_parse_sources():
    assert parse_sources(["a.jsonl:1.0,b.jsonl:0.5", "c.jsonl"]) == [
        DataSource("a.jsonl", 1.0),
        DataSource("b.jsonl", 0.5),
        DataSource("c.jsonl", 1.0),
    ]
    assert parse_sources(["run:3/pairs.jsonl"]) == [DataSource("run:3/pairs.jsonl", 1.0)]  # not a ratio
    with pytest.raises(ConfigError, match="positive"):
        parse_sources(["a.jsonl:0"])
    with pytest.raises(ConfigError, match="at least one"):
        parse_sources([""])


def test_mixture_ratios():
    """Sizes [4, 6], ratios [1.0, 0.5]: every record of file 0 once, 3 distinct of file 1; 7 per epoch.

    Ratio 2.5 on 2 records: each twice plus one more (5).
    """
    order = epoch_order([4, 6], [1.0, 0.5], seed=0, epoch=0)
    assert len(order) == 7
    assert sorted(i for f, i in order if f == 0) == [0, 1, 2, 3]
    second = [i for f, i in order if f == 1]
    assert len(second) == len(set(second)) == 3
    subsets = {
        tuple(sorted(i for f, i in epoch_order([4, 6], [1.0, 0.5], seed=0, epoch=e) if f == 1))
        for e in range(6)
    }
    assert len(subsets) > 1  # the replayed subset is redrawn each epoch
    counts = [i for _, i in epoch_order([2], [2.5], seed=0, epoch=0)]
    assert len(counts) == 5 and sorted(set(counts)) == [0, 1] and min(counts.count(0), counts.count(1)) == 2


def test_order_is_seeded_and_unshuffled_keeps_file_order():
    a = epoch_order([5, 3], [1.0, 1.0], seed=1, epoch=0)
    assert a == epoch_order([5, 3], [1.0, 1.0], seed=1, epoch=0)
    assert a != epoch_order([5, 3], [1.0, 1.0], seed=2, epoch=0)
    assert epoch_order([2, 2], [1.0, 1.0], seed=1, epoch=0, shuffle=False) == [(0, 0), (0, 1), (1, 0), (1, 1)]


def test_step_schedule():
    """7 records per epoch, 3 per step: steps of 3, 3, 1 per epoch; 2 epochs = 6 steps; max_steps overrides."""
    s = StepSchedule([4, 6], [1.0, 0.5], per_step=3, seed=0, epochs=2)
    assert (s.epoch_size, s.steps_per_epoch, s.total_steps) == (7, 3, 6)
    assert [len(s.items(k)) for k in range(6)] == [3, 3, 1, 3, 3, 1]
    assert sorted(s.items(0) + s.items(1) + s.items(2)) == sorted(
        epoch_order([4, 6], [1.0, 0.5], seed=0, epoch=0)
    )
    assert s.epoch_of(4) == 1
    assert StepSchedule([4], [1.0], per_step=2, seed=0, epochs=1, max_steps=5).total_steps == 5


def test_sft_examples_from_samples_and_pairs(tmp_path, tokenizer):
    """Samples give one example per response; a budget-cut response ("length") is a prefix (no end-of-turn);
    sample_filter=correct keeps graded-correct responses and needs grades; pair files train on chosen."""
    from ponder.recipes.sft.train import encode_sft_file
    from ponder.train.encode import Encoder

    enc = Encoder(tokenizer)
    sample = {
        "id": "s",
        "prompt": "Q",
        "responses": ["A 1", "A 2 and"],
        "finish_reasons": ["stop", "length"],
        "num_tokens": [3, 3],
        "correct": [True, False],
    }
    path = _write(tmp_path / "s.jsonl", [sample])
    groups = encode_sft_file(str(path), enc)
    assert [tokenizer.decode(list(g.responses[0])) for g in groups] == ["A 1<|im_end|>", "A 2 and"]
    assert len(encode_sft_file(str(path), enc, "correct")) == 1
    ungraded = _write(tmp_path / "u.jsonl", [{k: v for k, v in sample.items() if k != "correct"}])
    with pytest.raises(InputError, match=r"u.jsonl:1: field 'correct': sample_filter=correct needs graded"):
        encode_sft_file(str(ungraded), enc, "correct")
    pairs = _write(tmp_path / "p.jsonl", [{"id": "p", "prompt": "Q", "chosen": "good", "rejected": "bad"}])
    (g,) = encode_sft_file(str(pairs), enc)
    assert tokenizer.decode(list(g.responses[0])) == "good<|im_end|>"
