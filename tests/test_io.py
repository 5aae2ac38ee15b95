"""StageWriter: fingerprints recompute what changed, one run per output, no invalid line ever committed,
and any text writable."""

import json
import os
import signal
import subprocess
import sys

import pytest

from ponder.errors import PonderError
from ponder.io import FINGERPRINT, StageWriter, fingerprint, write_records
from ponder.records import iter_json_objects, read_problems
from tests.helpers import subprocess_env

JOBS = {"a": {"q": "1+1"}, "b": {"q": "2+2"}, "c": {"q": "3+3"}}


def _run(out, jobs, settings, *, crash_after=None):
    """A stage: one record per job, ``v`` made from the job and the settings; returns the ids computed.
    ``crash_after`` records it stops without committing, as a killed run does."""
    computed = []
    w = StageWriter(out, settings=settings)
    for rid, job in jobs.items():
        if w.has(rid, job):
            continue
        w.write({"id": rid, "v": f"{job['q']}@{settings['t']}"})
        computed.append(rid)
        if len(computed) == crash_after:
            w.close()  # what a crash leaves: OUT.partial, no OUT
            return computed
    w.commit()
    return computed


def _records(path):
    return {r["id"]: r for _, r in iter_json_objects(path)}


def test_records_store_the_fingerprint_of_their_job_and_settings(tmp_path):
    out = tmp_path / "o.jsonl"
    _run(out, JOBS, {"t": 1})
    fp = f"{fingerprint({'t': 1})}.{fingerprint(JOBS['a'])}"
    assert _records(out)["a"][FINGERPRINT] == fp
    assert _run(out, JOBS, {"t": 1}) == []  # same jobs, same settings: nothing to do


def test_changed_settings_recompute_every_record_and_say_so(tmp_path, capsys):
    out = tmp_path / "o.jsonl"
    _run(out, JOBS, {"t": 1})
    assert _run(out, JOBS, {"t": 2}) == ["a", "b", "c"]
    recs = _records(out)
    assert len(out.read_text().splitlines()) == 3  # replaced, not added
    assert {r["v"] for r in recs.values()} == {"1+1@2", "2+2@2", "3+3@2"}
    assert f"ponder: {out}: recomputed records: 3 whose settings changed" in capsys.readouterr().err


def test_a_changed_input_recomputes_its_record_only(tmp_path, capsys):
    out = tmp_path / "o.jsonl"
    _run(out, JOBS, {"t": 1})
    assert _run(out, JOBS | {"b": {"q": "5+5"}}, {"t": 1}) == ["b"]
    assert _records(out)["b"]["v"] == "5+5@1" and len(out.read_text().splitlines()) == 3
    assert "1 whose input changed" in capsys.readouterr().err


def test_a_killed_resume_with_new_settings_is_finished_by_the_next_run(tmp_path):
    """Run 1 (t=1) completes; run 2 (t=2) replaces one record and dies; run 3 (t=2) must keep run 2's new
    record, replace the rest, and commit each id once with t=2 values only."""
    out = tmp_path / "o.jsonl"
    _run(out, JOBS, {"t": 1})
    assert _run(out, JOBS, {"t": 2}, crash_after=1) == ["a"]
    assert (tmp_path / "o.jsonl.partial").exists()  # OUT is still run 1's complete output
    assert _run(out, JOBS, {"t": 2}) == ["b", "c"]
    lines = out.read_text().splitlines()
    assert sorted(json.loads(x)["v"] for x in lines) == ["1+1@2", "2+2@2", "3+3@2"]


def test_records_without_a_fingerprint_are_recomputed(tmp_path):
    out = tmp_path / "o.jsonl"
    out.write_text(json.dumps({"id": "a", "v": "old"}) + "\n")
    assert _run(out, JOBS, {"t": 1}) == ["a", "b", "c"]
    assert _records(out)["a"]["v"] == "1+1@1"


def test_a_corrupt_middle_line_is_dropped_and_its_job_recomputed(tmp_path):
    out = tmp_path / "o.jsonl"
    _run(out, JOBS, {"t": 1}, crash_after=3)
    partial = tmp_path / "o.jsonl.partial"
    lines = partial.read_bytes().splitlines()
    lines[1] = b'{"id": "b", "v": "2+2@1", "fingerp\x00 \xff'  # a damaged middle line (invalid UTF-8 too)
    partial.write_bytes(b"\n".join(lines) + b"\n[1, 2]\nnot json\n")
    assert _run(out, JOBS, {"t": 1}) == ["b"]
    recs = [json.loads(x) for x in out.read_text().splitlines()]  # every committed line is a record
    assert sorted(r["id"] for r in recs) == ["a", "b", "c"]


def test_drop_unchecked_keeps_only_what_the_input_still_makes(tmp_path):
    out = tmp_path / "pairs.jsonl"
    with StageWriter(out, drop_unchecked=True) as w:
        for rid in "abc":
            w.has(rid, rid)
            w.write({"id": rid})
    with StageWriter(out, drop_unchecked=True) as w:
        assert w.has("a", "a") and w.has("b", "b")
    assert sorted(_records(out)) == ["a", "b"]


def test_a_second_writer_on_one_output_fails_with_one_line(tmp_path):
    out = tmp_path / "o.jsonl"
    w = StageWriter(out)
    with pytest.raises(PonderError) as e:
        StageWriter(out)
    assert str(e.value) == (
        f"{out}: another run (process {os.getpid()}) is writing this output; "
        "wait for it to finish or write to another file"
    )
    w.write({"id": "a"})
    w.commit()
    with StageWriter(out) as w2:  # released at commit
        assert w2.done == {"a"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.jsonl"]  # no lock file left behind


_HOLDER = """
import sys, time
from ponder.io import StageWriter
w = StageWriter(sys.argv[1])
w.write({"id": "from-the-holder"})
print("locked", flush=True)
time.sleep(600)
"""


def test_the_lock_holds_across_processes_and_dies_with_its_holder(tmp_path):
    out = tmp_path / "o.jsonl"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(out)], stdout=subprocess.PIPE, text=True, env=subprocess_env()
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(PonderError, match=rf"another run \(process {holder.pid}\)"):
            StageWriter(out)
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(30)
        with StageWriter(out) as w:  # the kernel released the dead holder's lock; its record resumes
            assert w.done == {"from-the-holder"}
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_lone_surrogates_never_crash_a_writer(tmp_path, suffix):
    """Text from a program or a server can hold lone surrogates (not encodable as UTF-8): written as U+FFFD."""
    rec = {"id": "s", "prompt": "bad \ud800 text", "meta": {"k\udfff": ["\ud83d"]}}
    out = tmp_path / f"o{suffix}"
    with StageWriter(out) as w:
        w.write(rec)
    with StageWriter(out) as w:  # resumes over it without a crash
        assert w.done == {"s"}
    (p,) = read_problems(out)
    assert p.prompt == "bad \ufffd text" and p.meta == {"k\ufffd": ["\ufffd"]}
    write_records(tmp_path / f"w{suffix}", [rec])
    assert next(iter(read_problems(tmp_path / f"w{suffix}"))).prompt == "bad \ufffd text"
