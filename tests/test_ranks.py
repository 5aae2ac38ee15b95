"""Stages under ``torchrun --nproc_per_node 2`` (two real processes, gloo): generate, eval and the prefix
completions of process pairs write the same records as one process -- same ids, none twice, equal texts (the
sampling seed of each sample depends on its prompt and index only) -- and a killed process resumes."""

import json
import os
import signal
import time

import pytest

from ponder import ranks
from ponder.errors import PonderError
from ponder.eval.stage import EvalSettings, evaluate_model
from ponder.generation.backend import BackendSettings
from ponder.generation.stage import GenerateSettings, generate_file
from ponder.io import write_records
from ponder.pairs.process import ProcessSettings, build_process_pairs, completions_path
from ponder.records import Problem
from tests.helpers import torchrun
from tests.pairs.test_process import _labelled


def records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def by_id(path) -> dict[str, dict]:
    rows = records(path)
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), "a record written twice"
    return {r["id"]: r for r in rows}


def no_parts(folder) -> None:
    left = [p.name for p in folder.iterdir() if ".rank" in p.name]
    assert not left, f"part files left behind: {left}"


@pytest.fixture(scope="module")
def problems(tmp_path_factory):
    path = tmp_path_factory.mktemp("problems") / "q.jsonl"
    write_records(
        path,
        [Problem(id=f"q{i}", prompt=f"What is {i} + {i % 7}?", answer=str(i + i % 7)) for i in range(41)],
    )
    return path


SAMPLING = ("-n", "2", "--temperature", "1.0", "--max-new-tokens", "24", "--seed", "5", "--threads", "1")
SETTINGS = GenerateSettings(samples_per_prompt=2, temperature=1.0, max_new_tokens=24, seed=5)


def test_generate_on_two_processes_equals_one_and_a_killed_process_resumes(
    tmp_path, tiny_model_dir, problems
):
    out = tmp_path / "s.jsonl"
    args = ("generate", "--model", str(tiny_model_dir), "-i", str(problems), "-o", str(out), *SAMPLING)
    partial = tmp_path / "s.jsonl.rank1-of-2.partial"
    lock = tmp_path / ".s.jsonl.rank1-of-2.lock"
    proc = torchrun(*args, "--batch-size", "1", popen=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:  # process 1 has written some records: kill it
        if partial.exists() and partial.read_bytes().count(b"\n") >= 2:
            os.kill(int(lock.read_text()), signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.communicate(timeout=120)
    assert proc.returncode != 0 and not out.exists()
    written = partial.read_bytes().count(b"\n")
    assert 2 <= written < 20  # process 1's share is q1, q3, ..., q39

    r = torchrun(*args)
    assert r.stdout.count("wrote 41 samples") == 1  # process 0 prints
    resumed = int(r.stdout.split(" resumed")[0].rsplit(", ", 1)[1])
    assert resumed >= written
    one = tmp_path / "one.jsonl"
    generate_file(problems, one, str(tiny_model_dir), SETTINGS)
    a, b = by_id(one), by_id(out)
    assert list(b) == [f"q{i}" for i in range(41)]  # merged in input order
    assert a == b  # texts, token counts and fingerprints
    assert len({t for rec in b.values() for t in rec["responses"]}) > 41  # sampled, not one answer
    no_parts(tmp_path)

    # A finished output, run again on two processes: every record is taken from it, none recomputed.
    before = out.read_bytes()
    r = torchrun(*args)
    assert "(0 new, 41 resumed)" in r.stdout and out.read_bytes() == before
    no_parts(tmp_path)


def test_eval_on_two_processes_equals_one(tmp_path, tiny_model_dir, problems):
    bench = f"{problems}:number"
    sampling = ("-n", "2", "--temperature", "1.0", "--max-new-tokens", "16", "--seed", "3", "--k", "1,2")
    torchrun("eval", "--model", str(tiny_model_dir), "-b", bench, *sampling, "--out", str(tmp_path / "two"))
    settings = EvalSettings(
        benchmarks=[bench], samples_per_problem=2, temperature=1.0, max_new_tokens=16, seed=3, k=[1, 2]
    )
    report = evaluate_model(str(tiny_model_dir), tmp_path / "one", settings, BackendSettings())
    two = json.loads((tmp_path / "two/report.json").read_text())
    assert two == json.loads(json.dumps(report))
    assert by_id(tmp_path / "two/samples/q.jsonl") == by_id(tmp_path / "one/samples/q.jsonl")
    assert len(by_id(tmp_path / "two/samples/q.jsonl")) == 41
    no_parts(tmp_path / "two/samples")


def test_process_pairs_on_two_processes_equal_one(tmp_path, tiny_model_dir):
    src = _labelled(tmp_path, n_problems=5)
    changed = dict(
        completions_per_prefix=2, max_new_tokens=8, upper_step_ratio=1.0, max_prefixes_per_problem=3
    )
    changed |= dict(seed=7, chunk_problems=1)
    options = [x for k, v in changed.items() for x in (f"--{k.replace('_', '-')}", str(v))]
    two = tmp_path / "two" / "pairs.jsonl"
    torchrun("pairs", "process", "-i", str(src), "-o", str(two), "--model", str(tiny_model_dir), *options)
    one = tmp_path / "one" / "pairs.jsonl"
    build_process_pairs(src, one, str(tiny_model_dir), ProcessSettings(**changed))
    completions = by_id(completions_path(two))
    assert list(completions) == ["q0", "q1", "q2", "q3", "q4", "same"]
    assert completions == by_id(completions_path(one))
    assert sum(len(p["completions"]) for r in completions.values() for p in r["prefixes"]) == 5 * 3 * 2
    assert two.read_bytes() == one.read_bytes()  # pairs and summary: process 0's, from the same completions
    assert two.with_name("pairs.summary.json").read_text() == one.with_name("pairs.summary.json").read_text()
    no_parts(two.parent)


def test_launch_environment_is_checked(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(PonderError, match="RANK=2 and WORLD_SIZE=2"):
        ranks.current()
    monkeypatch.setenv("RANK", "one")
    with pytest.raises(PonderError, match="RANK='one' is not an integer"):
        ranks.current()
    monkeypatch.delenv("WORLD_SIZE")
    monkeypatch.delenv("RANK")
    assert ranks.current() == ranks.Rank(0, 1, 0) and ranks.on_main(lambda x: x + 1, 1) == 2
