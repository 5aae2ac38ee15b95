"""run_tests / run_inputs semantics in the three modes, statuses, early exit and batches."""

import json

import pytest

from ponder.verify import code, jobs
from ponder.verify.code import Job, JobError
from ponder.verify.sandbox import Limits

DOUBLE = "n = int(input())\nprint(n * 2)\n"


def test_stdio_pass_fail_and_runtime_error(pool):
    tests = [
        {"input": "3\n", "output": "6\n"},
        {"input": "4\n", "output": "9\n"},
        {"input": "x\n", "output": "0\n"},
    ]
    r = pool.run_tests(DOUBLE, tests)
    assert [x.status for x in r] == ["passed", "failed", "runtime_error"]
    assert r[0].stdout == "6\n" and r[1].detail == "line 1: expected '9', got '8'"
    assert "ValueError" in r[2].detail and 'File "solution.py", line 1' in r[2].stderr
    assert "sandbox_child" not in r[2].stderr  # the runner's own frames are hidden


def test_each_test_starts_from_a_fresh_module(pool):
    src = "import sys\ntry:\n    seen\nexcept NameError:\n    seen = 0\nseen += 1\nprint(seen, sys.stdin.read().strip())\n"
    r = pool.run_tests(src, [{"input": "a", "output": "1 a"}, {"input": "b", "output": "1 b"}])
    assert [x.status for x in r] == ["passed", "passed"]


def test_exit_codes_in_stdio_mode(pool):
    tests = [{"input": "", "output": "hi"}]
    assert pool.run_tests("print('hi')\nimport sys\nsys.exit(0)", tests)[0].status == "passed"
    bad = pool.run_tests("print('hi')\nraise SystemExit(3)", tests)[0]
    assert (bad.status, bad.detail) == ("runtime_error", "exit code 3")
    # os._exit skips the interpreter's flush, as in a real process: buffered output is lost, written output is not
    assert pool.run_tests("import os\nos.write(1, b'hi\\n')\nos._exit(0)", tests)[0].status == "passed"
    assert pool.run_tests("import os\nprint('hi')\nos._exit(0)", tests)[0].status == "failed"


def test_each_test_gets_only_its_own_output(pool):
    # Test 1 overruns the file size limit with text still buffered; none of it may surface in test 2.
    src = "import os\ndef f(n):\n    print('x' * n, end='')\n    os.write(1, b'|')\n    return n\n"
    tests = [{"input": [3 << 20], "output": 0}, {"input": [2], "output": 2}]
    first, second = pool.run_tests(src, tests, mode="call", entry_point="f", limits=Limits(file_size_mb=1))
    assert first.status == "runtime_error" and "File too large" in first.detail
    assert (second.status, second.stdout) == ("passed", "|xx")


def test_compile_error_fills_every_test(pool):
    r = pool.run_tests("def f(:\n", [{"input": "", "output": ""}] * 3)
    assert [x.status for x in r] == ["compile_error"] * 3 and "SyntaxError" in r[0].detail


def test_call_mode_function_and_solution_class(pool):
    src = "def add(a, b):\n    return (a + b, a / b)\n"
    tests = [
        {"input": [1, 2], "output": [3, 0.5]},
        {"input": "[2, 3]", "output": "[5, 0.6666667]"},
        {"input": "4\n2", "output": [6, 2]},
        {"input": [1, 0], "output": None},
    ]
    r = pool.run_tests(src, tests, mode="call", entry_point="add")
    assert [x.status for x in r] == ["passed", "passed", "passed", "runtime_error"]
    assert r[0].output == "[3,0.5]" and "ZeroDivisionError" in r[3].detail
    cls = "class Solution:\n    def twoSum(self, nums, t):\n        return sorted({nums.index(x) for x in nums if t - x in nums})\n"
    r = pool.run_tests(cls, [{"input": [[2, 7, 11], 9], "output": [0, 1]}], mode="call", entry_point="twoSum")
    assert r[0].status == "passed"
    missing = pool.run_tests("x = 1", [{"input": [], "output": 1}], mode="call", entry_point="f")[0]
    assert missing.status == "runtime_error" and "'f' is not defined" in missing.detail


def test_call_mode_rejects_values_json_cannot_hold(pool):
    r = pool.run_tests(
        "def f():\n    return object()", [{"input": [], "output": 1}], mode="call", entry_point="f"
    )[0]
    assert r.status == "runtime_error" and "not JSON-serializable" in r.detail


def test_call_mode_odd_return_values_are_reported_not_crashed_on(pool):
    big = pool.run_tests(
        "def f():\n    return 'x' * (40 << 20)", [{"input": [], "output": "x"}], mode="call", entry_point="f"
    )[0]
    assert big.status == "runtime_error" and "larger than the file size limit" in big.detail
    lone = pool.run_inputs("def f():\n    return '\\ud800'", [[]], mode="call", entry_point="f")[0]
    assert lone.output == '"\\ud800"' and lone.output.encode("utf-8")  # kept, as valid UTF-8 text
    err = pool.run_tests("raise ValueError('\\udcff')", [{"input": "", "output": ""}])[0]
    assert err.detail == "ValueError: ?" and err.stderr.encode("utf-8")


def test_call_mode_objects_with_a_lying_eq_do_not_pass(pool):
    src = "class Any(int):\n    def __eq__(self, o):\n        return True\ndef f():\n    return Any(0)\n"
    assert (
        pool.run_tests(src, [{"input": [], "output": 41}], mode="call", entry_point="f")[0].status == "failed"
    )


def test_assert_mode_humaneval_and_mbpp_styles(pool):
    src = "def add(a, b):\n    return a + b\n"
    tests = [
        "assert add(1, 2) == 3",
        "def check(candidate):\n    assert candidate(2, 2) == 5\n",
        {"input": "assert add(0, 0) == 0"},
    ]
    r = pool.run_tests(src, tests, mode="assert", entry_point="add")
    assert [x.status for x in r] == ["passed", "failed", "passed"]
    assert 'File "tests.py", line 2, in check' in r[1].stderr
    # an assertion inside the program itself is a runtime error, not a failed test
    r = pool.run_tests("def f():\n    assert False, 'oops'\n", ["f()"], mode="assert")[0]
    assert r.status == "runtime_error" and "oops" in r.detail


def test_assert_mode_exit_before_the_assertions_does_not_pass(pool):
    r = pool.run_tests("import sys\nsys.exit(0)\n", ["assert False"], mode="assert")[0]
    assert r.status == "runtime_error"
    r = pool.run_tests("import os\nos._exit(0)\n", ["assert False"], mode="assert")[0]
    assert r.status == "runtime_error" and "exited" in r.detail


def test_stop_on_first_failure(pool):
    tests = [{"input": "1", "output": "2"}, {"input": "2", "output": "5"}, {"input": "3", "output": "6"}]
    assert len(pool.run_tests(DOUBLE, tests)) == 3
    r = pool.run_tests(DOUBLE, tests, stop_on_first_failure=True)
    assert [x.status for x in r] == ["passed", "failed"]


def test_run_inputs_records_outputs(pool):
    r = pool.run_inputs(DOUBLE, ["2", "x", " 3 "])
    assert [x.status for x in r] == ["ok", "runtime_error", "ok"]
    assert r[0].output == "4\n" and r[0].key == "4" and r[1].key is None
    r = pool.run_inputs("def f(x):\n    return {x: (x, x / 2)}", [[1], [2.0]], mode="call", entry_point="f")
    assert [x.output for x in r] == ['{"1":[1,0.5]}', '{"2":[2,1]}']  # 2.0 and 2 are one value
    with pytest.raises(ValueError, match="stdio"):
        pool.run_inputs("pass", ["x"], mode="assert")


def test_batches_keep_order_and_mix_modes(pool):
    jobs = [Job(DOUBLE, [{"input": str(i), "output": str(2 * i)}]) for i in range(7)]
    jobs.append(
        {
            "source": "def f(x):\n    return -x",
            "tests": [{"input": [3], "output": -3}],
            "mode": "call",
            "entry_point": "f",
        }
    )
    res = pool.run_tests_many(jobs)
    assert [r[0].status for r in res] == ["passed"] * 8
    assert [r[0].stdout for r in res[:7]] == [f"{2 * i}\n" for i in range(7)]
    outs = pool.run_inputs_many([Job(DOUBLE, [str(i)]) for i in range(5)])
    assert [o[0].output for o in outs] == [f"{2 * i}\n" for i in range(5)]


def test_module_level_functions_use_the_default_pool():
    r = code.run_tests(DOUBLE, [{"input": "5", "output": "10"}])
    assert r[0].passed and code.default_pool().size >= 1
    assert code.run_inputs(DOUBLE, ["1"])[0].output == "2\n"


def test_threads_and_atexit_run_like_in_a_real_interpreter(pool):
    src = (
        "import atexit, threading\natexit.register(lambda: print('bye'))\ne = threading.Event()\n"
        "t = threading.Thread(target=lambda: (e.wait(), print('thread')))\nt.start()\nprint('main')\ne.set()\n"
    )
    r = pool.run_tests(src, [{"input": "", "output": "main\nthread\nbye"}])[0]
    assert r.status == "passed", r


def test_malformed_jobs_name_the_field(pool):
    with pytest.raises(JobError, match="field 'tests': item 1: 'input' must be a string"):
        pool.run_tests(DOUBLE, [{"input": "1", "output": "2"}, {"input": 3, "output": "6"}])
    with pytest.raises(JobError, match="field 'entry_point'"):
        pool.run_tests("pass", [{"input": [], "output": 1}], mode="call")
    with pytest.raises(JobError, match="field 'mode'"):
        pool.run_tests("pass", [], mode="python")
    with pytest.raises(JobError, match="'output' must be the expected stdout"):
        pool.run_tests("pass", [{"input": ""}])
    with pytest.raises(ValueError, match="timeout_s"):
        Limits(timeout_s=0)


def test_large_input_and_output_pass_through(pool):
    big = "\n".join(str(i) for i in range(200_000)) + "\n"
    src = "import sys\nprint(sum(int(x) for x in sys.stdin))\n"
    assert pool.run_tests(src, [{"input": big, "output": str(sum(range(200_000)))}])[0].passed
    r = pool.run_inputs("print('x' * 500_000)", [""])[0]
    assert r.ok and len(r.output) == 500_001


def test_payload_never_carries_the_expected_output():
    t = {"input": "1\n", "output": "SECRET"}
    assert "SECRET" not in jobs.payload(t, "stdio")
    assert "SECRET" not in jobs.payload({"input": [1], "output": "SECRET"}, "call")
    assert json.loads(jobs.payload({"input": "[1, 2]"}, "call")) == [1, 2]


def test_judges_give_a_status_for_any_output(pool):
    # 10**400 against a float, a 5,000-digit number printed, NaN and deep nesting returned: each is a verdict.
    r = pool.run_tests(
        "def f():\n    return 10**400", [{"input": [], "output": 1.5}], mode="call", entry_point="f"
    )
    assert r[0].status == "failed" and r[0].output == "1" + "0" * 400
    big = "import sys\nsys.set_int_max_str_digits(0)\nprint(7 * (10**5000 - 1) // 9)\n"
    r = pool.run_tests(big, [{"input": "", "output": "5" * 5000}, {"input": "", "output": "7" * 5000}])
    assert [x.status for x in r] == ["failed", "passed"]
    assert pool.run_inputs(big, [""])[0].key == "7" * 5000
    src = "import sys\nsys.set_int_max_str_digits(0)\ndef f(k):\n    return 7 * (10**5000 - 1) // 9 + k\n"
    r = pool.run_tests(
        src,
        [{"input": [0], "output": 7 * (10**5000 - 1) // 9}, {"input": [1], "output": 1.5}],
        mode="call",
        entry_point="f",
    )
    assert [x.status for x in r] == ["passed", "failed"] and r[0].output == "7" * 5000
    nan = pool.run_tests(
        "def f(x):\n    return float(x)",
        [{"input": ["nan"], "output": 1.0}, {"input": ["inf"], "output": 1e308}],
        mode="call",
        entry_point="f",
    )
    assert [x.status for x in nan] == ["failed", "failed"]
