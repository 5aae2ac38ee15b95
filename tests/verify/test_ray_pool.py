"""The sandbox on a Ray cluster (``pytest -m ray``; needs the ray extra): a head started here on 127.0.0.1,
two Ray workers each running a sandbox pool, results equal to the local pool's."""

import pytest

from ponder.verify.code import Job, JobError, Limits, SandboxPool
from ponder.verify.pool import SandboxSettings

pytestmark = pytest.mark.ray

DOUBLE = "print(int(input()) * 2)\n"
TESTS = [{"input": f"{n}\n", "output": f"{2 * n}\n"} for n in (1, 2, 7)]
JOBS = (
    [
        Job(DOUBLE, TESTS),
        Job("print(int(input()) + 2)\n", TESTS),  # passes only n = 2
        Job("import sys\nsys.exit(3)\n", TESTS[:1]),  # runtime error
        Job("while True:\n    pass\n", TESTS[:1], limits=Limits(timeout_s=0.5)),  # timeout
        Job("def f(:\n", TESTS),  # compile error, the same for every test
        Job("def f(a, b):\n    return a + b\n", [{"input": [1, 2], "output": 3}], "call", "f"),
        Job(
            "import socket\nsocket.create_connection(('192.0.2.1', 80), timeout=1)\n", TESTS[:1]
        ),  # no network
    ]
    * 3
)
INPUTS = [Job(DOUBLE, [{"input": f"{n}\n"} for n in range(5)]), Job("print(input()[::-1])", ["abc\n"])]


def without_times(results: list[list]) -> list[list[dict]]:
    return [[{**r.to_dict(), "duration_s": None} for r in rs] for rs in results]


def test_jobs_on_two_ray_workers_equal_the_local_pool(ray_head, code_pool):
    settings = SandboxSettings(workers=2, ray_address=ray_head.address, cpus_per_worker=1)
    with settings.open() as pool:
        assert len(pool.workers_info) == 2 and pool.size == 2
        assert len({w["pid"] for w in pool.workers_info}) == 2  # two actors, each its own process
        assert pool.isolation == code_pool.isolation == "namespaces"  # the isolation is the local one
        assert pool.cgroup == code_pool.cgroup
        got = pool.run_tests_many(JOBS)
        got_inputs = pool.run_inputs_many(INPUTS)
        with pytest.raises(JobError, match="field 'entry_point'"):  # refused before anything is sent
            pool.run_tests_many([Job(DOUBLE, TESTS, "call")])
        single = pool.run_tests(DOUBLE, TESTS)
    want = code_pool.run_tests_many(JOBS)
    assert without_times(got) == without_times(want)
    assert [[r.status for r in rs] for rs in got[:7]] == [
        ["passed"] * 3,
        ["failed", "passed", "failed"],
        ["runtime_error"],
        ["timeout"],
        ["compile_error"] * 3,
        ["passed"],
        ["runtime_error"],
    ]
    assert without_times(got_inputs) == without_times(code_pool.run_inputs_many(INPUTS))
    assert got_inputs[0][3].output == "6\n" and got_inputs[1][0].output == "cba\n"
    assert without_times([single]) == without_times(want[:1])


def test_a_closed_or_unreachable_cluster_is_one_line(ray_head):
    from ponder.errors import PonderError
    from ponder.verify.sandbox import SandboxError

    pool = SandboxSettings(workers=1, ray_address=ray_head.address).open()
    pool.close()
    with pytest.raises(SandboxError, match="closed"):
        pool.run_tests_many(JOBS[:1])
    with pytest.raises(PonderError, match="already joined the Ray cluster at"):  # one cluster per process
        SandboxSettings(workers=1, ray_address="127.0.0.1:1").open()
    with SandboxSettings(workers=1).open() as local:  # no address: the local pool
        assert isinstance(local, SandboxPool)


def test_exec_command_on_the_cluster_writes_the_local_results(tmp_path, ray_head):
    """``ponder exec --ray-address --workers 0`` (as many Ray workers as the cluster's CPUs hold) writes the
    records ``ponder exec`` writes here, durations aside."""
    import json
    import subprocess

    from ponder.io import write_records
    from tests.helpers import ponder_cmd, subprocess_env
    from tests.verify.test_exec_stage import PROGRAMS

    write_records(tmp_path / "programs.jsonl", PROGRAMS)
    out = {}
    for name, extra in (("here", ["--workers", "2"]), ("ray", ["--ray-address", ray_head.address])):
        r = subprocess.run(
            ponder_cmd("exec", "--input", str(tmp_path / "programs.jsonl"), "--output", str(tmp_path / name))
            + extra,
            capture_output=True,
            text=True,
            env=subprocess_env(),
            timeout=600,
        )
        assert r.returncode == 0, r.stderr[-3000:]
        assert "[isolation: namespaces, cgroup:" in r.stdout
        recs = [json.loads(x) for x in (tmp_path / name).read_text().splitlines()]
        for rec in recs:
            for res in rec["results"]:
                res["duration_s"] = None
        out[name] = sorted(recs, key=lambda rec: rec["id"])
    assert out["ray"] == out["here"] and len(out["here"]) == len(PROGRAMS)
    assert [rec["all_passed"] for rec in out["here"]].count(True) >= 2  # the records say something


def test_an_address_without_a_head_is_one_line(tmp_path):
    import subprocess

    from ponder.io import write_records
    from tests.helpers import ponder_cmd, subprocess_env
    from tests.ray_cluster import free_port
    from tests.verify.test_exec_stage import PROGRAMS

    write_records(tmp_path / "programs.jsonl", PROGRAMS)
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    r = subprocess.run(
        ponder_cmd("exec", "--input", str(tmp_path / "programs.jsonl"), "--output", str(tmp_path / "out"))
        + ["--ray-address", address],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=120,
    )
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1] == (
        f"ponder: error: --ray-address {address}: no Ray head answers there (Connection refused)"
    )
    assert not (tmp_path / "out").exists()
