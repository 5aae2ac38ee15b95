"""The process pair stage end to end with a real tiny model: raw prompts = rendered chat + prefix, values
from the completions, resume after a crash in the middle of the completions."""

import json

import pytest

from ponder.generation.base import render_prompt
from ponder.generation.hf import HFGenerator
from ponder.pairs.prefixes import prefix_value
from ponder.pairs.process import (
    ProcessSettings,
    build_process_pairs,
    completion_scores,
    completions_path,
    process_pairs,
)
from ponder.verify.rules import extract_with


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    import torch

    before = torch.get_num_threads()
    # tiny models: per-op overhead dominates, one thread is fastest on a shared machine
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class Recording(HFGenerator):
    """The real hf backend, recording the prompts it is sent; ``fail_after`` prompts raise (a crash)."""

    def __init__(self, *args, fail_after=None, **kw):
        super().__init__(*args, **kw)
        self.prompts = []
        self.fail_after = fail_after

    def generate_iter(self, prompts, params):
        for i, comps in super().generate_iter(prompts, params):
            if self.fail_after is not None and len(self.prompts) >= self.fail_after:
                raise RuntimeError("simulated crash")
            self.prompts.append(prompts[i])
            yield i, comps


def _solution(k: int, answer: int) -> str:
    lines = [f"{i} + {k} = {i + k}" for i in range(1, 8)]
    return "\n".join(lines + [f"So the answer is \\boxed{{{answer}}}."])


def _labelled(tmp_path, n_problems=3):
    rows = []
    for q in range(n_problems):
        responses = [_solution(q + r, 5 if r % 2 else 6) for r in range(4)]
        rows.append(
            {
                "id": f"q{q}",
                "prompt": [{"role": "user", "content": f"Add up question {q}."}],
                "responses": responses,
                "finish_reasons": ["stop"] * 4,
                "num_tokens": [30] * 4,
                "preds": ["6", "5", "6", "5"],
                "label": "5",
                "label_by": "vote",
                "positive": [False, True, False, True],
            }
        )
    # all answers the same: no prefixes, recorded with its reason
    rows.append({**rows[0], "id": "same", "preds": ["5"] * 4, "positive": [True] * 4})
    path = tmp_path / "labelled.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


SETTINGS = ProcessSettings(
    completions_per_prefix=2,
    max_new_tokens=6,
    upper_step_ratio=1.0,
    sample_ratio=0.3,
    max_prefixes_per_problem=3,
    rule="boxed",
    seed=7,
    chunk_problems=1,
)


def test_prompts_values_and_pairs(tmp_path, tiny_model_dir):
    src = _labelled(tmp_path)
    gen = Recording(str(tiny_model_dir), batch_size=16)
    out = tmp_path / "pairs.jsonl"
    summary = build_process_pairs(src, out, gen, SETTINGS, tokenizer=gen.tokenizer)
    records = [json.loads(line) for line in completions_path(out).read_text().splitlines()]
    assert [r["id"] for r in records] == ["q0", "q1", "q2", "same"]
    assert records[-1]["skip_reason"] == "all answers the same" and records[-1]["prefixes"] == []
    # 8 steps per response, upper 8, int(8 * 0.3) = 2 cuts per response, 4 responses -> pool of up to 8, cap 3
    assert all(len(r["prefixes"]) == 3 for r in records[:3])
    expected_prompts = []
    for r in records[:3]:
        for p in r["prefixes"]:
            expected_prompts.append(render_prompt(gen.tokenizer, r["prompt"], p["text"]))
            assert len(p["completions"]) == 2
            preds = [extract_with("boxed", p["text"] + c) for c in p["completions"]]
            assert p["preds"] == preds
            assert p["value"] == sum(x == "5" for x in preds)
    assert sorted(gen.prompts) == sorted(expected_prompts)
    for prompt in gen.prompts:  # raw text: the chat prompt with its generation prompt, then the prefix
        assert prompt.startswith("<|im_start|>user\n") and "<|im_start|>assistant\n1 + " in prompt
    st = summary.stages
    assert st["problems with prefixes"] == 3 and st["prefixes"] == 9 and st["completions"] == 18
    assert st["skipped: all answers the same"] == 1
    hist = summary.extra["value_histogram"]
    assert sum(hist.values()) == 9
    pairs = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(pairs) == st["pairs"]
    for p in pairs:
        assert p["meta"]["prefix"] is True
        assert p["meta"]["chosen_value"] >= 1 > p["meta"]["rejected_value"]
    saved = json.loads((tmp_path / "pairs.summary.json").read_text())
    assert saved["stages"]["completions"] == 18


def test_crash_in_the_completions_resumes_without_redoing_work(tmp_path, tiny_model_dir):
    """The first run dies after 4 of 9 prefix prompts (problem q0's 3 are written, q1 is cut short). The next
    run sends only the prompts of the problems not yet written, and the result equals an uninterrupted run
    (sampling is seeded per prompt and sample)."""
    src = _labelled(tmp_path)
    crashing = Recording(str(tiny_model_dir), batch_size=16, fail_after=4)
    out = tmp_path / "a" / "pairs.jsonl"
    with pytest.raises(RuntimeError, match="simulated crash"):
        build_process_pairs(src, out, crashing, SETTINGS, tokenizer=crashing.tokenizer)
    partial = completions_path(out).with_name(completions_path(out).name + ".partial")
    written = [json.loads(line)["id"] for line in partial.read_text().splitlines()]
    assert written == ["q0"]
    resumed = Recording(str(tiny_model_dir), batch_size=16)
    build_process_pairs(src, out, resumed, SETTINGS, tokenizer=resumed.tokenizer)
    assert len(resumed.prompts) == 6  # q1 and q2 only
    clean = Recording(str(tiny_model_dir), batch_size=16)
    out2 = tmp_path / "b" / "pairs.jsonl"
    build_process_pairs(src, out2, clean, SETTINGS, tokenizer=clean.tokenizer)
    assert completions_path(out).read_text() == completions_path(out2).read_text()
    assert out.read_text() == out2.read_text()


# --------------------------------------------------------------------------- values and the value -> pair rules


def test_prefix_value_counts_completions_reaching_the_label():
    """Label 5. Completions: one boxes 5, one boxes 6, one boxes nothing -> value 1. A box already in the
    prefix counts when the completion writes no new one, and a later box in the completion wins."""
    scores, preds = completion_scores(
        "Step 1: 2 + 3 = 5.", ["\nSo \\boxed{5}.", "\n\\boxed{6}", "\nhmm"], "5", "boxed"
    )
    assert (prefix_value(scores, "sum"), preds) == (1, ["5", "6", None])
    scores, _ = completion_scores("So \\boxed{5}", ["", "\nno wait \\boxed{7}"], "5", "boxed")
    assert prefix_value(scores, "sum") == 1


def _record(values, steps=None):
    steps = steps or list(range(1, len(values) + 1))
    return {
        "id": "q1",
        "prompt": [{"role": "user", "content": "Q?"}],
        "label": "5",
        "prefixes": [
            {"text": f"prefix {i}", "steps": s, "value": v}
            for i, (v, s) in enumerate(zip(values, steps, strict=True))
        ],
    }


def test_value_threshold_decides_positive_and_negative():
    """Values 3, 0, 1, 2 (of 3 completions). Threshold 2 (iteration 0): positives are prefixes 0 and 3,
    negatives 1 and 2 -> 2 pairs, one per positive. Threshold 1 (later iterations): prefix 2 becomes
    positive too -> 3 pairs, all rejecting prefix 1 (the only one with value 0)."""
    rec = _record([3, 0, 1, 2])
    pairs = process_pairs(rec, ProcessSettings(value_threshold=2, pairing="each_positive"))
    assert [p.meta["chosen_value"] for p in pairs] == [3, 2]
    assert all(p.meta["rejected_value"] in (0, 1) for p in pairs)
    pairs = process_pairs(rec, ProcessSettings(value_threshold=1, pairing="each_positive"))
    assert [p.meta["chosen_value"] for p in pairs] == [3, 1, 2]
    assert {p.rejected[0]["content"] for p in pairs} == {"prefix 1"}
    for p in pairs:
        assert p.meta["prefix"] is True and p.meta["kind"] == "process"
        assert p.chosen[0]["role"] == "assistant" and p.chosen[0]["content"].startswith("prefix ")


def test_value_pairs_closest_in_step_count():
    """One positive (value 3, 10 steps); negatives with 2, 9, 11, 12, 13 and 30 steps, at distances
    8, 1, 1, 2, 3 and 20. The five nearest are those with 9, 11, 12, 13 and 2 steps: the one with 30 steps
    is never the rejected side, each of the five is for some seed."""
    rec = _record([3, 0, 0, 0, 0, 0, 0], steps=[10, 2, 9, 11, 12, 13, 30])
    rejected = set()
    for seed in range(200):
        pairs = process_pairs(rec, ProcessSettings(pairing="closest_steps", seed=seed, value_threshold=1))
        assert len(pairs) == 1 and pairs[0].meta["chosen_steps"] == 10
        rejected.add(pairs[0].meta["rejected_steps"])
    assert rejected == {2, 9, 11, 12, 13}


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"value_threshold": 4}, "value_threshold"),
        ({"upper_step_ratio": 0}, "upper_step_ratio"),
        ({"draws": 0}, "draws"),
    ],
)
def test_process_settings_are_checked(bad, field):
    with pytest.raises(ValueError, match=f"^{field} must"):
        ProcessSettings(**bad)
