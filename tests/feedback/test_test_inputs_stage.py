"""Test-input generation over real HTTP: ``ponder tests generate --backend openai`` against ``ponder serve``.

Two tiny models behind the server: one fine-tuned to answer every request with a JSON object of inputs (the
request/parse path end to end), and the untrained one, whose answers are noise (the repair, retry and fallback
paths). The checks are on the records written, not on the quality of the inputs."""

import json
import subprocess

import pytest

from ponder.feedback.test_inputs import build_prompt, parse_test_inputs
from ponder.feedback.test_inputs_stage import request_params
from ponder.generation.base import SamplingParams
from ponder.io import write_records
from ponder.records import Problem, load_records
from ponder.tasks.synthetic import make, sample_inputs
from tests.helpers import Server, ponder_cmd, sft_tiny, subprocess_env

JSON_ANSWER = '{"inputs": ["1\\n", "2 3\\n"]}'
TEMPLATE = "Test inputs for: {problem}\nWrite {n}."  # short prompts keep the fine-tuning cheap


@pytest.fixture(scope="module")
def json_model_dir(tiny_model_dir, tmp_path_factory):
    """The nano model fine-tuned with ponder's SFT recipe to answer test-input prompts with JSON_ANSWER."""
    tmp = tmp_path_factory.mktemp("json-model")
    data = tmp / "sft.jsonl"
    write_records(
        data,
        [
            {"prompt": build_prompt(p, 5, TEMPLATE)[0]["content"], "completion": JSON_ANSWER}
            for p in make("code", 16, seed=7)
        ],
    )
    return sft_tiny(tiny_model_dir, data, tmp / "run")


def generate_inputs(server, tmp_path, problems, *extra):
    inp, out = tmp_path / "problems.jsonl", tmp_path / "with_inputs.jsonl"
    write_records(inp, problems)
    r = subprocess.run(
        ponder_cmd(
            "tests",
            "generate",
            "--backend",
            "openai",
            "--base-url",
            server.url,
            "--model",
            server.name,
            "--input",
            str(inp),
            "--output",
            str(out),
            "--n-inputs",
            "5",
            "--max-new-tokens",
            "48",
            *extra,
        ),
        capture_output=True,
        text=True,
        env=subprocess_env(OMP_NUM_THREADS="1"),
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    return r, load_records(out, Problem)


def test_json_answers_over_http(json_model_dir, tmp_path_factory, tmp_path):
    server = Server(json_model_dir, "inputs-writer", tmp_path_factory.mktemp("serve") / "serve.log")
    try:
        problems = make("code", 3, seed=11)
        (tmp_path / "template.txt").write_text(TEMPLATE)
        r, recs = generate_inputs(
            server, tmp_path, problems, "--prompt-template", str(tmp_path / "template.txt")
        )
    finally:
        server.stop()
    assert [x.id for x in recs] == [p.id for p in problems]
    for rec in recs:
        assert rec.meta["test_inputs"] == ["1\n", "2 3\n"] and rec.meta["test_inputs_source"] == "llm"
        log = rec.meta["test_inputs_log"]
        assert (
            log["attempts"] == 1
            and log["raw"] == [JSON_ANSWER]
            and log["repairs"] == []
            and log["errors"] == []
        )
    summary = json.loads((tmp_path / "with_inputs.summary.json").read_text())
    assert summary["sources"] == {"llm": 3} and summary["mean_inputs"] == 2.0
    assert "| sources | llm=3 |" in r.stdout


def test_noise_answers_retry_then_fall_back(tiny_server, tmp_path):
    """The untrained model's answers (greedy first, then sampled) are parsed; a problem left with no usable
    input falls back to the sampler. Either way the record says what happened and holds the raw answers."""
    problems = make("code", 4, seed=12)
    _, recs = generate_inputs(
        tiny_server,
        tmp_path,
        problems,
        "--attempts",
        "2",
        "--fallback",
        "sampler",
        "--sampler-seed",
        "5",
    )
    assert [x.id for x in recs] == [p.id for p in problems]
    fallbacks = 0
    for rec, p in zip(recs, problems, strict=True):
        log = rec.meta["test_inputs_log"]
        assert 1 <= log["attempts"] <= 2 and len(log["raw"]) == log["attempts"]
        parsed = [parse_test_inputs(t, "stdio", n_max=5).inputs for t in log["raw"]]
        if rec.meta["test_inputs_source"] == "sampler_fallback":
            fallbacks += 1
            assert log["attempts"] == 2 and all(not x for x in parsed) and len(log["errors"]) == 2
            assert rec.meta["test_inputs"] == sample_inputs(p, 5, 5)
        else:
            assert rec.meta["test_inputs_source"] == "llm" and rec.meta["test_inputs"]
            assert all(x in sum(parsed, []) for x in rec.meta["test_inputs"])
        assert rec.tests == p.tests
    assert fallbacks >= 1  # random weights do not write JSON
    # Without a fallback the records are still written (empty), so a rerun has nothing left to do.
    out2 = tmp_path / "again"
    out2.mkdir()
    _, recs2 = generate_inputs(tiny_server, out2, problems, "--attempts", "1")
    assert all(r.meta["test_inputs_source"] in ("none", "llm") for r in recs2)
    assert {r.id for r in recs2 if r.meta["test_inputs_source"] == "none"} >= {
        r.id for r in recs if r.meta["test_inputs_source"] == "sampler_fallback"
    }


def test_json_mode_in_the_request():
    params = request_params(SamplingParams(n=3, temperature=0.0), json_mode=True)
    assert params.n == 1 and params.response_format == {"type": "json_object"}
    assert request_params(params, json_mode=False).response_format is None
