"""The stages end to end on small hand-made data: test inputs from the sampler, code pairs (pseudo and gold,
resumed), code pDPO pairs valued by a scripted policy, and their one-line errors."""

import json
import subprocess

import pytest

from ponder.errors import InputError
from ponder.feedback.test_inputs_stage import InputSettings, load_input_problems, run_test_inputs
from ponder.generation.base import Completion, Generator, render_prompt
from ponder.io import write_records
from ponder.pairs.code_process_stage import CodeProcessSettings, run_code_process
from ponder.pairs.code_stage import CodePairSettings, run_code_pairs
from ponder.records import Problem, Sample, load_records, read_pairs
from ponder.tasks.synthetic import make, sample_inputs
from tests.helpers import approx, ponder_cmd, subprocess_env

# Expected floats are float64 results of a few operations: 4 roundings of their size (tests/helpers.py).

GOOD = "Plan: double it.\n```python\nn = int(input())\nprint(n * 2)\n```"
BAD = "Plan: add two.\n```python\nn = int(input())\nprint(n + 2)\n```"
INPUTS = ["1\n", "2\n", "3\n", "5\n", "8\n"]
PROMPT = [{"role": "user", "content": "Read n and print twice n."}]


def write_double(tmp_path, responses, tests=None):
    problems, samples = tmp_path / "problems.jsonl", tmp_path / "samples.jsonl"
    p = Problem(
        id="double",
        prompt="Read n and print twice n.",
        tests=tests,
        meta={"test_inputs": INPUTS, "reference": "print(int(input()) * 2)\n"},
    )
    write_records(problems, [p])
    n = len(responses)
    write_records(
        samples,
        [
            Sample(
                id="double",
                prompt=PROMPT,
                responses=responses,
                finish_reasons=["stop"] * n,
                num_tokens=[1] * n,
            )
        ],
    )
    return problems, samples


def test_sampler_inputs_stage_and_resume(tmp_path):
    problems = make("code", 4, seed=3)
    out = tmp_path / "with_inputs.jsonl"
    s = run_test_inputs(problems[:2], out, InputSettings(source="sampler", n_inputs=6, sampler_seed=9))
    assert s["new"] == 2 and s["sources"] == {"sampler": 2}
    s = run_test_inputs(problems, out, InputSettings(source="sampler", n_inputs=6, sampler_seed=9))
    assert s["new"] == 2 and s["resumed"] == 2
    recs = load_records(out, Problem)
    assert [r.id for r in recs] == [p.id for p in problems]
    for r, p in zip(recs, problems, strict=True):
        assert r.meta["test_inputs"] == sample_inputs(p, 6, 9) and r.meta["test_inputs_source"] == "sampler"
        assert r.tests == p.tests  # the problem's own data is kept


def test_sampler_needs_synthetic_problems(tmp_path):
    path = tmp_path / "p.jsonl"
    write_records(path, [make("code", 1)[0], Problem(id="x", prompt="Write a parser.")])
    with pytest.raises(InputError) as e:
        load_input_problems(path, "sampler")
    assert str(e.value).startswith(f"{path}:2: field 'meta.template'")
    write_records(path, [Problem(id="f", prompt="def f(x):", meta={"mode": "call"})])
    with pytest.raises(InputError, match="field 'meta.entry_point'"):
        load_input_problems(path, "llm")


def test_code_pairs_pseudo_with_measurement(tmp_path, code_pool):
    """Samples: GOOD x3, BAD, and a response without code. Votes on 1, 2, 3, 5, 8: doubles (3 of 4 successes,
    4 of 4 on input 2 where n + 2 = 2n). GOOD passes 5, BAD 1 (input 2), no-code 0. Margin 3, bound 0.5:
    GOOD over BAD and over no-code; the three GOOD copies give one pair each after merging identical texts."""
    tests = [{"input": "4\n", "output": "8\n"}, {"input": "0\n", "output": "0\n"}]
    problems, samples = write_double(tmp_path, [GOOD, GOOD, GOOD, BAD, "I cannot."], tests)
    cfg = CodePairSettings(margin=3, min_success=3, score_gold=True)
    s = run_code_pairs(problems, samples, tmp_path / "pairs.jsonl", cfg, pool=code_pool)
    pairs = list(read_pairs(tmp_path / "pairs.jsonl"))
    assert [(p.chosen, p.rejected) for p in pairs] == [(GOOD, BAD), (GOOD, "I cannot.")]
    assert (
        pairs[0].prompt == PROMPT
        and pairs[0].meta["chosen_passed"] == 5
        and pairs[0].meta["rejected_passed"] == 1
    )
    assert pairs[0].meta["chosen_gold_passed"] == 2 and pairs[0].meta["rejected_gold_passed"] == 0
    [score] = [json.loads(x) for x in open(tmp_path / "pairs.scores.jsonl")]
    assert score["passed"] == [5, 5, 5, 1, 0] and score["tests"] == 5
    assert [t["output"] for t in score["pseudo_tests"]] == ["2\n", "4\n", "6\n", "10\n", "16\n"]
    assert s["pseudo_output_accuracy"] == 1.0 and s["pair_precision"] == 1.0 and s["pairs"] == 2
    # both chosen sides (GOOD) pass the two hidden tests, neither rejected side (BAD, no code) does
    assert s["chosen_correct_share"] == 1.0 and s["rejected_correct_share"] == 0.0
    assert s["extracted_share"] == approx(4 / 5, factor=4)


def test_code_pairs_resume_reuses_scores(tmp_path, code_pool):
    """A scores record already on disk (a killed run) is not recomputed: its pairs are used as they are."""
    problems, samples = write_double(tmp_path, [GOOD, BAD])
    # The record a first run wrote (with its fingerprint), its pairs reversed so that reuse shows.
    run_code_pairs(problems, samples, tmp_path / "first.jsonl", CodePairSettings(margin=3), pool=code_pool)
    [old] = [json.loads(x) for x in open(tmp_path / "first.scores.jsonl")]
    old |= {"passed": [0, 4], "pairs": [[1, 0]]}
    partial = tmp_path / "pairs.scores.jsonl.partial"
    partial.write_text(json.dumps(old) + "\n" + '{"id": "torn', encoding="utf-8")
    run_code_pairs(problems, samples, tmp_path / "pairs.jsonl", CodePairSettings(margin=3), pool=code_pool)
    [pair] = list(read_pairs(tmp_path / "pairs.jsonl"))
    assert (pair.chosen, pair.rejected) == (BAD, GOOD)  # from the stored record, not a fresh vote
    assert len(open(tmp_path / "pairs.scores.jsonl").readlines()) == 1 and not partial.exists()


def test_code_pairs_gold_labels(tmp_path, code_pool):
    tests = [{"input": "4\n", "output": "8\n"}, {"input": "2\n", "output": "4\n"}]
    problems, samples = write_double(tmp_path, [GOOD, BAD, GOOD.replace("2)", "2 )")], tests)
    s = run_code_pairs(
        problems, samples, tmp_path / "g.jsonl", CodePairSettings(labels="gold"), pool=code_pool
    )
    pairs = list(read_pairs(tmp_path / "g.jsonl"))
    assert [(p.meta["chosen_index"], p.meta["rejected_index"]) for p in pairs] == [(0, 1), (2, 1)]
    assert s["labels"] == "gold" and s["pairs"] == 2


class Continuer(Generator):
    """A scripted policy: completes a prefix of one of ``responses`` with the rest of that response (the first
    matching one), and records the raw prompts it was given."""

    name = "scripted"

    def __init__(self, tokenizer, prompt, responses):
        super().__init__()
        self.tokenizer = tokenizer
        self.head = render_prompt(tokenizer, prompt)
        self.responses = responses
        self.prompts = []

    def generate_iter(self, prompts, params):
        for i, text in enumerate(prompts):
            self.prompts.append(text)
            assert isinstance(text, str) and text.startswith(self.head)
            prefix = text[len(self.head) :]
            rest = next(r[len(prefix) :] for r in self.responses if r.startswith(prefix))
            yield i, [Completion(rest, "stop", 1)] * params.n


def test_code_process_values_and_pairs(tmp_path, code_pool, tiny_model_dir):
    """GOOD and BAD each have K = 4 lines up to the end of their code, so cuts after 1..3 lines (0.8 * 4 = 3.2);
    sample_ratio 1 takes all. The policy completes each prefix as the response it came from, so GOOD's prefixes
    pass all 5 pseudo tests (value 5) and BAD's pass 1 (value 1). Positives: value / 5 >= 0.5 -> GOOD's three;
    negatives: value < 5 - 2 -> BAD's three. One pair per positive, each with a BAD prefix; meta.prefix true."""
    from transformers import AutoTokenizer

    tests = [{"input": "4\n", "output": "8\n"}]
    problems, samples = write_double(tmp_path, [GOOD, GOOD, BAD], tests)
    run_code_pairs(
        problems, samples, tmp_path / "pairs.jsonl", CodePairSettings(margin=3, min_success=2), pool=code_pool
    )
    gen = Continuer(AutoTokenizer.from_pretrained(tiny_model_dir), PROMPT, [GOOD, BAD])
    cfg = CodeProcessSettings(sample_ratio=1.0, completions_per_prefix=2, margin=2, score_gold=True)
    s = run_code_process(
        problems,
        samples,
        tmp_path / "pp.jsonl",
        gen,
        cfg,
        scores_path=tmp_path / "pairs.scores.jsonl",
        pool=code_pool,
    )
    assert s["prefixes"] == 6 and s["positives"] == 3 and s["pairs"] == 3 and s["pair_precision"] == 1.0
    pairs = list(read_pairs(tmp_path / "pp.jsonl"))
    assert all(
        p.meta["prefix"] is True and GOOD.startswith(p.chosen) and BAD.startswith(p.rejected) for p in pairs
    )
    assert {p.chosen.count("\n") for p in pairs} == {1, 2, 3}
    assert all(p.meta["chosen_value"] == 5 and p.meta["rejected_value"] == 1 for p in pairs)
    assert len(gen.prompts) == 6 and all(not x.endswith("<|im_end|>") for x in gen.prompts)
    # resumed: nothing is generated again
    gen.prompts.clear()
    run_code_process(
        problems,
        samples,
        tmp_path / "pp.jsonl",
        gen,
        cfg,
        scores_path=tmp_path / "pairs.scores.jsonl",
        pool=code_pool,
    )
    assert gen.prompts == []


def test_cli_errors_are_one_line(tmp_path):
    path = tmp_path / "p.jsonl"
    write_records(path, [Problem(id="a", prompt="Read n.")])
    write_records(
        tmp_path / "s.jsonl",
        [Sample(id="a", prompt="x", responses=["y"], finish_reasons=["stop"], num_tokens=[1])],
    )
    r = subprocess.run(
        ponder_cmd(
            "pairs",
            "code",
            "--problems",
            str(path),
            "--samples",
            str(tmp_path / "s.jsonl"),
            "--output",
            str(tmp_path / "o.jsonl"),
        ),
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=120,
    )
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0
    assert f"{path}:1: field 'meta.test_inputs'" in r.stderr and not (tmp_path / "o.jsonl").exists()
    r = subprocess.run(
        ponder_cmd(
            "tests",
            "generate",
            "--from",
            "sampler",
            "--input",
            str(path),
            "--output",
            str(tmp_path / "w.jsonl"),
        ),
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=120,
    )
    assert r.returncode == 2 and "field 'meta.template'" in r.stderr and not (tmp_path / "w.jsonl").exists()
