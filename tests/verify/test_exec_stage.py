"""`ponder exec`: record shapes, checking the whole input first, resuming after kill -9, progress."""

import json
import os
import signal
import subprocess
import time

import pytest

from ponder.errors import InputError
from ponder.verify.exec_stage import ExecOptions, check_input
from tests.helpers import ponder_cmd, subprocess_env

PROGRAMS = [
    {
        "id": "double",
        "source": "print(int(input()) * 2)",
        "tests": [{"input": "2\n", "output": "4\n"}, {"input": "3", "output": "7"}],
    },
    {
        "id": 7,
        "source": "def f(x):\n    return [x, x + 1]",
        "mode": "call",
        "entry_point": "f",
        "tests": [{"input": [1], "output": [1, 2]}],
    },
    {
        "id": "check",
        "source": "def f(x):\n    return x + 1",
        "mode": "assert",
        "entry_point": "f",
        "tests": ["assert f(1) == 2"],
    },
    {
        "id": "slow",
        "source": "import time\ntime.sleep(5)",
        "timeout_s": 0.3,
        "tests": [{"input": "", "output": ""}],
    },
]


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _exec(*args, **env):
    return subprocess.run(
        ponder_cmd("exec", *args), capture_output=True, text=True, env=subprocess_env(**env), timeout=120
    )


def _read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_exec_writes_one_result_per_program(tmp_path):
    inp = _write(tmp_path / "programs.jsonl", PROGRAMS)
    out = tmp_path / "results.jsonl"
    p = _exec("--input", str(inp), "--output", str(out), "--workers", "2", PONDER_NO_PROGRESS="0")
    assert p.returncode == 0, p.stderr
    assert "100%" in p.stderr and "program" in p.stderr  # the progress bar
    got = {r["id"]: r for r in _read(out)}
    assert set(got) == {"double", "7", "check", "slow"}
    assert (got["double"]["passed"], got["double"]["total"], got["double"]["all_passed"]) == (1, 2, False)
    assert [t["status"] for t in got["double"]["results"]] == ["passed", "failed"]
    assert got["7"]["all_passed"] and got["7"]["results"][0]["output"] == "[1,2]"
    assert got["check"]["all_passed"] and got["check"]["mode"] == "assert"
    assert got["slow"]["results"][0]["status"] == "timeout"
    assert "2 passed every test" in p.stdout


def test_exec_record_outputs(tmp_path):
    recs = [
        {"id": "a", "source": "print(int(input()) ** 2)", "tests": ["3", {"input": "x"}]},
        {
            "id": "b",
            "source": "def f(a, b):\n    return a / b",
            "mode": "call",
            "entry_point": "f",
            "tests": [[1, 4]],
        },
    ]
    out = tmp_path / "out.jsonl"
    p = _exec("-i", str(_write(tmp_path / "in.jsonl", recs)), "-o", str(out), "--record-outputs")
    assert p.returncode == 0, p.stderr
    got = {r["id"]: r for r in _read(out)}
    assert [(x["status"], x["output"]) for x in got["a"]["results"]][0] == ("ok", "9\n")
    assert got["a"]["results"][1]["status"] == "runtime_error" and got["a"]["ok"] == 1
    assert got["b"]["results"][0]["output"] == "0.25"


def test_exec_checks_the_whole_input_before_running(tmp_path):
    cases = [
        (
            {"id": "x", "source": "", "tests": [{"input": 1, "output": "1"}]},
            "field 'tests': item 0: 'input' must be a string",
        ),
        ({"id": "x", "source": "", "mode": "call", "tests": []}, "field 'entry_point'"),
        ({"id": "x", "source": "", "tests": [], "timeout_s": -1}, "field 'timeout_s'"),
        ({"source": "", "tests": []}, "field 'id': missing"),
        ({"id": "double", "source": "", "tests": []}, "field 'id': duplicate id 'double' (first on line 1)"),
        (
            {"id": "x", "source": "", "mode": "assert", "tests": [3]},
            "field 'tests': item 0: expected an object",
        ),
    ]
    for bad, message in cases:
        inp = _write(tmp_path / "in.jsonl", [*PROGRAMS, bad])
        with pytest.raises(InputError) as e:
            check_input(inp, ExecOptions())
        assert str(e.value).startswith(f"{inp}:5: {message}")
    # through the command line: one line, exit 2, no output file (and no partial one)
    inp = _write(tmp_path / "in.jsonl", [*PROGRAMS, {"id": "x", "source": 3, "tests": []}])
    out = tmp_path / "out.jsonl"
    p = _exec("-i", str(inp), "-o", str(out))
    assert (
        p.returncode == 2
        and p.stderr == f"ponder: error: {inp}:5: field 'source': expected a string, got int\n"
    )
    assert not out.exists() and not (tmp_path / "out.jsonl.partial").exists()
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(PROGRAMS[0]) + "\n{not json\n")
    with pytest.raises(InputError, match=f"{broken}:2: broken JSON"):
        check_input(broken, ExecOptions())


def test_exec_resumes_after_kill_minus_9(tmp_path):
    recs = [
        {
            "id": f"p{i}",
            "source": f"import time\ntime.sleep(0.15)\nprint({i})",
            "tests": [{"input": "", "output": str(i)}],
        }
        for i in range(24)
    ]
    inp = _write(tmp_path / "in.jsonl", recs)
    out = tmp_path / "out.jsonl"
    partial = tmp_path / "out.jsonl.partial"
    proc = subprocess.Popen(
        ponder_cmd("exec", "-i", str(inp), "-o", str(out), "--workers", "1"),
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not partial.exists() or partial.read_text().count("\n") < 3):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = partial.read_text().count("\n")
    assert 3 <= done_before < 24 and not out.exists()
    p = _exec("-i", str(inp), "-o", str(out), "--workers", "2")
    assert p.returncode == 0, p.stderr
    ids = [r["id"] for r in _read(out)]
    assert sorted(ids) == sorted(r["id"] for r in recs)  # each exactly once
    assert all(r["all_passed"] for r in _read(out))
    assert f"{24 - done_before} programs, {done_before} already done" in p.stdout
