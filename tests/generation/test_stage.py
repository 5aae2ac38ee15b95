"""``ponder generate`` resumed with changed settings after a real ``kill -9``, and two runs on one output."""

import json
import os
import signal
import subprocess

from ponder.io import write_records
from ponder.tasks.synthetic import make
from tests.helpers import (
    THREADS_ENV,
    complete_lines_of,
    generate_args,
    lines_of,
    ponder_cmd,
    start_generate,
    subprocess_env,
    wait_for_lines,
)

N_PROBLEMS = 24


def _run(args, out):
    return subprocess.run(
        ponder_cmd("generate", *args, "--output", str(out)),
        capture_output=True,
        text=True,
        env=subprocess_env(**THREADS_ENV),
    )


def test_a_killed_run_resumed_with_another_seed_recomputes_the_old_samples(tmp_path, tiny_model_dir):
    """Killed after 4+ samples with --seed 1, resumed with --seed 2: the output equals a fresh --seed 2 run
    (no sample of seed 1 survives), and the run says how many records it recomputed and why."""
    write_records(tmp_path / "p.jsonl", make("linear", N_PROBLEMS, seed=3))
    out, partial = tmp_path / "s.jsonl", tmp_path / "s.jsonl.partial"
    proc = start_generate(generate_args(tmp_path, tiny_model_dir, 1), out)
    wait_for_lines(proc, partial, 4)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed = len(complete_lines_of(partial))
    assert not out.exists() and 4 <= killed < N_PROBLEMS, "the run must be killed mid-way"
    r = _run(generate_args(tmp_path, tiny_model_dir, 2), out)
    assert r.returncode == 0, r.stderr
    assert f"ponder: {out}: recomputed records: {killed} whose settings changed" in r.stderr
    assert f"({N_PROBLEMS} new, 0 resumed)" in r.stdout
    fresh = tmp_path / "fresh.jsonl"
    assert _run(generate_args(tmp_path, tiny_model_dir, 2), fresh).returncode == 0
    assert sorted(lines_of(out)) == sorted(lines_of(fresh))  # same records, same fingerprints


def test_a_second_run_on_the_same_output_fails_at_once(tmp_path, tiny_model_dir):
    """While one run writes (500 problems: it is still writing when the second starts), a second run on the
    same output fails with one line naming the output and the first run's process; nothing interleaves."""
    write_records(tmp_path / "p.jsonl", make("linear", 500, seed=3))
    out, partial = tmp_path / "s.jsonl", tmp_path / "s.jsonl.partial"
    args = generate_args(tmp_path, tiny_model_dir, 1)
    first = start_generate(args, out)
    try:
        wait_for_lines(first, partial, 1)
        second = _run(args, out)
        assert first.poll() is None, "the first run must still be writing"
        assert second.returncode == 2
        assert second.stderr == (
            f"ponder: error: {out}: another run (process {first.pid}) is writing this output; "
            "wait for it to finish or write to another file\n"
        )
    finally:
        first.kill()
        first.wait()
    ids = [json.loads(line)["id"] for line in complete_lines_of(partial)]
    assert ids and len(ids) == len(set(ids))  # the first run's records only, each once
