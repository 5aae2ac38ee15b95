"""``ponder generate`` end to end in subprocesses: records, seeds, resume after a real ``kill -9``, bad input."""

import json
import os
import signal
import subprocess

import pytest

from ponder.generation.base import SamplingParams
from ponder.generation.hf import HFGenerator
from ponder.io import write_records
from ponder.records import Problem, read_samples
from ponder.tasks.synthetic import make
from tests.helpers import (
    THREADS_ENV,
    generate_args,
    lines_of,
    ponder_cmd,
    start_generate,
    subprocess_env,
    wait_for_lines,
)


def run(*args, check=True):
    r = subprocess.run(
        ponder_cmd("generate", *args), capture_output=True, text=True, env=subprocess_env(**THREADS_ENV)
    )
    if check:
        assert r.returncode == 0, r.stderr
    return r


def test_writes_one_sample_per_problem_with_the_template_and_seed(tmp_path, tiny_model_dir):
    problems = make("arithmetic", 4, seed=1) + [
        Problem(id="chat", prompt=[{"role": "user", "content": "Hi"}])
    ]
    write_records(tmp_path / "p.jsonl", problems)
    r = run(
        "--model",
        str(tiny_model_dir),
        "--input",
        str(tmp_path / "p.jsonl"),
        "--output",
        str(tmp_path / "s.jsonl"),
        "--n",
        "3",
        "--max-new-tokens",
        "10",
        "--seed",
        "7",
        "--system",
        "Think step by step.",
        "--top-p",
        "0.9",
    )
    assert r.stdout.startswith("wrote 5 samples to") and "(5 new, 0 resumed)" in r.stdout
    samples = {s.id: s for s in read_samples(tmp_path / "s.jsonl")}
    assert set(samples) == {p.id for p in problems}
    local = HFGenerator(tiny_model_dir)
    for p in problems:
        s = samples[p.id]
        user = p.prompt if isinstance(p.prompt, list) else [{"role": "user", "content": p.prompt}]
        assert s.prompt == [{"role": "system", "content": "Think step by step."}] + user
        assert s.answer == p.answer and s.meta == p.meta
        want = local.generate([s.prompt], SamplingParams(n=3, max_new_tokens=10, seed=7, top_p=0.9))[0]
        assert s.responses == [c.text for c in want]
        assert s.finish_reasons == [c.finish_reason for c in want] and s.num_tokens == [
            c.num_tokens for c in want
        ]
    assert not (tmp_path / "s.jsonl.partial").exists()


def test_raw_prompts_are_sent_as_they_are(tmp_path, chatty_model_dir):
    from transformers import AutoTokenizer

    from ponder.generation.base import render_prompt

    tok = AutoTokenizer.from_pretrained(chatty_model_dir)
    text = render_prompt(tok, [{"role": "user", "content": "What is 1 + 1?"}], "ok")
    write_records(tmp_path / "p.jsonl", [{"id": "a", "prompt": text, "answer": "42"}])
    run(
        "--model",
        str(chatty_model_dir),
        "--input",
        str(tmp_path / "p.jsonl"),
        "--output",
        str(tmp_path / "s.jsonl"),
        "--raw",
        "--n",
        "1",
        "--temperature",
        "0",
        "--max-new-tokens",
        "8",
    )
    (s,) = read_samples(tmp_path / "s.jsonl")
    assert s.prompt == text and s.responses == [" 42"] and s.finish_reasons == ["stop"]


def test_resume_after_kill_9_gives_every_id_once_and_the_same_samples(tmp_path, tiny_model_dir):
    problems = make("linear", 24, seed=3)
    write_records(tmp_path / "p.jsonl", problems)
    args = generate_args(tmp_path, tiny_model_dir, 1)
    out, partial = tmp_path / "s.jsonl", tmp_path / "s.jsonl.partial"
    proc = start_generate(args, out)
    wait_for_lines(proc, partial, 4, timeout_s=120)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists() and 4 <= len(lines_of(partial)) < 24, "the run must be killed mid-way"
    # A write cut by the kill leaves a torn last line; the restart must drop it, not keep or crash on it.
    with open(partial, "a") as fh:
        fh.write('{"id": "linear-3-23", "prompt": [{"role": "us')
    r = run(*args, "--output", str(out))
    assert "resumed)" in r.stdout and "(0 new" not in r.stdout
    lines = lines_of(out)
    ids = [json.loads(line)["id"] for line in lines]  # every line parses: no torn line
    assert sorted(ids) == sorted(p.id for p in problems) and len(ids) == len(set(ids))
    # The resumed file holds exactly what one uninterrupted run gives (samples depend on seed, prompt, index).
    samples = list(read_samples(out))
    whole = HFGenerator(tiny_model_dir).generate(
        [s.prompt for s in samples], SamplingParams(n=2, max_new_tokens=40, seed=1)
    )
    assert [s.responses for s in samples] == [[c.text for c in comps] for comps in whole]
    assert [s.num_tokens for s in samples] == [[c.num_tokens for c in comps] for comps in whole]


BAD_INPUTS = [
    ("broken.jsonl", b'{"id": "a", "prompt": "x"}\n{"id": "b", "prompt": \n', "broken.jsonl:2: broken JSON"),
    (
        "missing.jsonl",
        b'{"id": "a", "prompt": "x"}\n{"id": "b"}\n',
        "missing.jsonl:2: field 'prompt': missing",
    ),
    (
        "mistyped.jsonl",
        b'{"id": "a", "prompt": 5}\n',
        "mistyped.jsonl:1: field 'prompt': expected a string or a list of messages, got int",
    ),
    (
        "notobject.jsonl",
        b'{"id": "a", "prompt": "x"}\n[1, 2]\n',
        "notobject.jsonl:2: expected a JSON object, got list",
    ),
    ("utf8.jsonl", b'{"id": "a", "prompt": "\xff\xfe"}\n', "utf8.jsonl:1: invalid UTF-8"),
    ("empty.jsonl", b"\n\n", "empty.jsonl: file is empty (no records)"),
    (
        "dup.jsonl",
        b'{"id": "a", "prompt": "x"}\n{"id": "a", "prompt": "y"}\n',
        "dup.jsonl:2: field 'id': duplicate id 'a' (first on line 1)",
    ),
    (
        "badmsg.jsonl",
        b'{"id": "a", "prompt": [{"role": "user"}]}\n',
        "badmsg.jsonl:1: field 'prompt': message 0: 'content' must be a string",
    ),
]


@pytest.mark.parametrize("name, data, message", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_gives_one_line_and_no_output(tmp_path, name, data, message):
    (tmp_path / name).write_bytes(data)
    out = tmp_path / "out.jsonl"
    r = run("--model", "no-model-needed", "--input", str(tmp_path / name), "--output", str(out), check=False)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith(
        f"ponder: error: {tmp_path / name}".replace(f"/{name}", "/")
    )
    assert message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and list(tmp_path.iterdir()) == [tmp_path / name]


def test_raw_needs_string_prompts(tmp_path):
    (tmp_path / "p.jsonl").write_text(
        '{"id": "a", "prompt": "x"}\n{"id": "b", "prompt": [{"role": "user", "content": "y"}]}\n'
    )
    r = run(
        "--model",
        "m",
        "--input",
        str(tmp_path / "p.jsonl"),
        "--output",
        str(tmp_path / "o.jsonl"),
        "--raw",
        check=False,
    )
    assert r.returncode == 2 and r.stderr == (
        f"ponder: error: {tmp_path / 'p.jsonl'}:2: field 'prompt': raw prompts "
        "(--raw) must be strings, got a list of messages\n"
    )


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--top-p", "0"], "--top-p must be in (0, 1], got 0.0"),
        (["--n", "0"], "--n must be an integer >= 1, got 0"),
        (["--backend", "tpu"], "--backend: 'tpu' is not one of 'hf', 'openai', 'vllm'."),
        (
            ["--backend", "openai"],
            "--base-url is required with --backend openai (e.g. http://127.0.0.1:8000/v1)",
        ),
        (["--base-url", "http://127.0.0.1:1/v1"], "--base-url only applies to --backend openai, not hf"),
        (["--model", "./no/such/dir"], "--model ./no/such/dir: no such folder"),
        (["--dtype", "float16"], "--dtype: 'float16' is not one of 'auto', 'float32', 'bfloat16'."),
        (["--threads", "-1"], "--threads must be >= 0, got -1"),
        (["--workers", "0"], "--workers must be >= 1, got 0"),
    ],
)
def test_bad_options_give_one_line_and_no_output(tmp_path, extra, message):
    (tmp_path / "p.jsonl").write_text('{"id": "a", "prompt": "x"}\n')
    args = [
        "--model",
        str(tmp_path / "here"),
        "--input",
        str(tmp_path / "p.jsonl"),
        "--output",
        str(tmp_path / "o.jsonl"),
    ]
    (tmp_path / "here").mkdir()
    r = run(*args, *extra, check=False)
    assert r.returncode == 2 and r.stderr == f"ponder: error: {message}\n"
    assert not (tmp_path / "o.jsonl").exists() and not (tmp_path / "o.jsonl.partial").exists()


def test_chat_prompts_need_a_chat_template(tmp_path, tiny_model_dir):
    import shutil

    model = shutil.copytree(tiny_model_dir, tmp_path / "plain")
    (model / "chat_template.jinja").unlink()
    (tmp_path / "p.jsonl").write_text('{"id": "a", "prompt": "x"}\n')
    args = [
        "--model",
        str(model),
        "--input",
        str(tmp_path / "p.jsonl"),
        "--output",
        str(tmp_path / "o.jsonl"),
        "--max-new-tokens",
        "2",
        "--n",
        "1",
    ]
    r = run(*args, check=False)
    assert r.returncode == 2 and r.stderr == (
        "ponder: error: the model's tokenizer has no chat template; send prompts as raw text with --raw\n"
    )
    assert not (tmp_path / "o.jsonl").exists() and not (tmp_path / "o.jsonl.partial").exists()
    run(*args, "--raw")  # raw text needs no template
    assert (tmp_path / "o.jsonl").exists()
