"""Step-matched controls: two pair files cut to the same count, spread over problems."""

import random

from ponder.io import write_records
from ponder.pairs.match import match_counts, spread_sample
from ponder.records import Pair, load_records


def test_spread_sample_keeps_every_problem_before_doubling():
    ids = ["a"] * 6 + ["b"] + ["c"] * 2
    picked = spread_sample(ids, 3, random.Random(0))
    assert sorted(ids[i] for i in picked) == ["a", "b", "c"]
    assert spread_sample(ids, 20, random.Random(0)) == list(range(9))


def test_match_counts_cuts_the_larger_file(tmp_path):
    def pairs(tag, n, problems):
        return [
            Pair(
                id=f"{tag}{i}",
                prompt="p",
                chosen=f"c{i}",
                rejected="r",
                meta={"problem_id": f"q{i % problems}"},
            )
            for i in range(n)
        ]

    write_records(tmp_path / "a.jsonl", pairs("a", 10, 3))
    write_records(tmp_path / "b.jsonl", pairs("b", 4, 2))
    n = match_counts(tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "a2.jsonl", tmp_path / "b2.jsonl")
    a2, b2 = load_records(tmp_path / "a2.jsonl", Pair), load_records(tmp_path / "b2.jsonl", Pair)
    assert n == len(a2) == len(b2) == 4
    assert {p.meta["problem_id"] for p in a2} == {"q0", "q1", "q2"}
    assert [p.id for p in b2] == [f"b{i}" for i in range(4)]


def test_an_empty_file_cuts_both_to_zero(tmp_path):
    (tmp_path / "a.jsonl").write_text("")
    write_records(tmp_path / "b.jsonl", [Pair(id="b", prompt="p", chosen="c", rejected="r", meta={})])
    assert match_counts(tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "a2", tmp_path / "b2") == 0
    assert (tmp_path / "b2").read_text() == ""
