"""Labels: gold, and self-consistency votes with PFPO's strict share threshold."""

import json

import pytest

from ponder.errors import InputError
from ponder.feedback.labels import LabelSettings, label_file, label_sample, read_labelled, vote_label
from ponder.records import Sample
from tests.helpers import approx

# Expected floats are float64 results of a few operations: 4 roundings of their size (tests/helpers.py).


def _sample(responses, answer=None, sid="p1", prompt="Compute 2 + 3."):
    return Sample(
        id=sid,
        prompt=[{"role": "user", "content": prompt}],
        responses=list(responses),
        finish_reasons=["stop"] * len(responses),
        num_tokens=[10] * len(responses),
        answer=answer,
    )


def test_share_threshold_is_strict():
    """preds 4, 4, (none), 5: the plurality answer 4 has 2 votes of 4 responses, share 2/4 = 0.5.
    Kept when the threshold is below 0.5; dropped at exactly 0.5 (the share must be strictly above)."""
    preds = ["4", "4", None, "5"]
    label, share, reason = vote_label(preds, 0.49)
    assert (label, share, reason) == ("4", 0.5, None)
    label, share, reason = vote_label(preds, 0.5)
    assert label is None and share == 0.5 and reason == "vote share 0.5 <= 0.5"


def test_empty_answers_count_in_the_denominator():
    """preds 7, (none), (blank): 7 has 1 vote of 3 responses, share 1/3 ~ 0.333 -- not 1/1.
    So it passes a 0.3 threshold and fails a 0.34 one (it would pass both if empty answers were ignored)."""
    assert vote_label(["7", None, "  "], 0.3)[:2] == ("7", approx(1 / 3, factor=4))
    label, share, _ = vote_label(["7", None, "  "], 0.34)
    assert label is None and share == approx(1 / 3, factor=4)


def test_no_answer_at_all_is_dropped_even_at_threshold_zero():
    assert vote_label([None, ""], 0.0) == (None, 0.0, "no answer")


def test_equivalent_answers_vote_together_and_are_all_positive():
    """1/2, 0.5 and \\frac{1}{2} are one answer: 3 votes of 4, share 0.75; the fourth response (3) is the
    only negative."""
    s = _sample(["so \\boxed{1/2}", "so \\boxed{0.5}", "so \\boxed{\\frac{1}{2}}", "so \\boxed{3}"])
    out = label_sample(s, "vote", min_vote_share=0.5, rule="boxed")
    assert out.extra["label"] == "1/2"
    assert out.vote_share == 0.75
    assert out.extra["positive"] == [True, True, True, False]
    assert "label_correct" not in out.extra  # no gold answer to compare with


def test_vote_label_accuracy_against_gold_and_gold_labels():
    """Gold 5; responses answer 5, 6, 6, (none). The vote picks 6 (2 of 4, share 0.5), which is wrong:
    label_correct is False, and the positives are the two responses saying 6. Labelled by gold instead,
    the label is 5 and the single response saying 5 is the only positive."""
    s = _sample(["\\boxed{5}", "\\boxed{6}", "\\boxed{6}", "no idea"], answer="5")
    vote = label_sample(s, "vote", min_vote_share=0.0, rule="boxed")
    assert vote.extra["label"] == "6" and vote.extra["label_correct"] is False
    assert vote.extra["positive"] == [False, True, True, False]
    assert vote.correct == [True, False, False, False]  # gold grades kept for measurement
    gold = label_sample(_sample(s.responses, answer="5"), "gold", rule="boxed")
    assert gold.extra["label"] == "5" and gold.extra["positive"] == [True, False, False, False]
    assert gold.extra["label_by"] == "gold"


def test_gold_labels_need_a_gold_answer():
    out = label_sample(_sample(["\\boxed{1}"]), "gold", rule="boxed")
    assert out.extra["label"] is None and out.extra["drop_reason"] == "no gold answer"


def _write(path, samples):
    path.write_text("".join(json.dumps(s.to_dict()) + "\n" for s in samples))


def test_label_file_keeps_every_problem_and_summarises(tmp_path):
    """Three problems at threshold 0.5: p1 all agree (share 1.0, kept, label right), p2 split 2:2 (share 0.5,
    dropped), p3 three of four say 9 but gold is 8 (share 0.75, kept, label wrong). Label accuracy 1/2."""
    src = tmp_path / "samples.jsonl"
    _write(
        src,
        [
            _sample(["\\boxed{3}"] * 4, answer="3", sid="p1"),
            _sample(["\\boxed{1}", "\\boxed{1}", "\\boxed{2}", "\\boxed{2}"], answer="1", sid="p2"),
            _sample(["\\boxed{9}"] * 3 + ["\\boxed{8}"], answer="8", sid="p3"),
        ],
    )
    out = tmp_path / "labelled.jsonl"
    summary = label_file(src, out, LabelSettings(by="vote", min_vote_share=0.5, rule="boxed", workers=1))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["p1", "p2", "p3"]
    assert [r["label"] for r in rows] == ["3", None, "9"]
    assert rows[1]["drop_reason"] == "vote share 0.5 <= 0.5"
    assert summary.kept == 2 and summary.dropped == {"vote share too low": 1}
    assert summary.label_accuracy == 0.5
    saved = json.loads((tmp_path / "labelled.summary.json").read_text())
    assert saved["kept"] == 2 and saved["label_accuracy"] == 0.5
    assert saved["vote_share_histogram"]["0.5-0.6"] == 1 and saved["vote_share_histogram"]["0.9-1.0"] == 1
    assert [item.id for item in read_labelled(out)] == ["p1", "p3"]  # only kept problems reach the pairs


def test_label_file_resumes_without_duplicates(tmp_path):
    """A run killed after writing p1 (left as OUT.partial) is continued: p1 is not labelled again."""
    src = tmp_path / "samples.jsonl"
    _write(src, [_sample(["\\boxed{3}"] * 2, sid="p1"), _sample(["\\boxed{4}"] * 2, sid="p2")])
    out = tmp_path / "labelled.jsonl"
    # What the killed run wrote for p1 (with its fingerprint), marked so that a recomputed p1 would show.
    first = tmp_path / "first.jsonl"
    _write(first, [_sample(["\\boxed{3}"] * 2, sid="p1")])
    label_file(first, tmp_path / "first-out.jsonl", LabelSettings(by="vote", rule="boxed", workers=1))
    marker = json.loads((tmp_path / "first-out.jsonl").read_text())
    marker["resumed"] = True
    (tmp_path / "labelled.jsonl.partial").write_text(json.dumps(marker) + "\n" + '{"id": "p2", "tor')
    label_file(src, out, LabelSettings(by="vote", rule="boxed", workers=1))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["p1", "p2"]
    assert rows[0].get("resumed") is True and "resumed" not in rows[1]


def test_bad_input_names_file_line_and_field(tmp_path):
    src = tmp_path / "samples.jsonl"
    src.write_text(
        json.dumps(_sample(["a"]).to_dict()) + "\n" + '{"id": "x", "prompt": "q", "responses": "a"}\n'
    )
    with pytest.raises(InputError, match=r"samples.jsonl:2: field 'responses'"):
        label_file(src, tmp_path / "out.jsonl", LabelSettings(by="vote"))
    assert not (tmp_path / "out.jsonl").exists()
    with pytest.raises(ValueError, match="unknown label source 'judge'"):
        label_sample(_sample(["a"]), "judge")
    unlabelled = tmp_path / "unlabelled.jsonl"
    _write(unlabelled, [_sample(["a"])])
    with pytest.raises(InputError, match=r"unlabelled.jsonl:1: field 'label'"):
        list(read_labelled(unlabelled))
