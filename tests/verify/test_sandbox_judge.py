"""Assert mode cannot be faked: every way a program could make ``assert f(1) == 42`` pass without returning
42 -- each tried here against a program that returns the wrong answer (or none)."""

import pytest

from ponder.verify.code import SandboxPool
from ponder.verify.sandbox import Limits

TEST = "assert f(1) == 42"

ATTACKS = {
    "exec replaced": "import builtins\nbuiltins.exec = lambda *a, **k: None\ndef f(x):\n    return 0\n",
    "compile and eval replaced": (
        "import builtins\nbuiltins.compile = lambda *a, **k: compile('pass', 'x', 'exec')\n"
        "builtins.eval = lambda *a, **k: True\ndef f(x):\n    return 0\n"
    ),
    "a lying __eq__": "class Yes:\n    def __eq__(self, o):\n        return True\n    __hash__ = None\ndef f(x):\n    return Yes()\n",
    "an int subclass with a lying __eq__": (
        "class Yes(int):\n    def __eq__(self, o):\n        return True\n    __hash__ = int.__hash__\n"
        "def f(x):\n    return Yes(0)\n"
    ),
    "a list subclass with a lying __eq__": (
        "class Yes(list):\n    def __eq__(self, o):\n        return True\ndef f(x):\n    return Yes()\n"
    ),
    "AssertionError replaced": (
        "import builtins\nclass Quiet(Exception):\n    pass\nbuiltins.AssertionError = Quiet\n"
        "def f(x):\n    return 0\n"
    ),
    "sys.exit(0) in the call": "import sys\ndef f(x):\n    sys.exit(0)\n",
    "sys.exit(0) while loading": "import sys\nsys.exit(0)\ndef f(x):\n    return 0\n",
    "os._exit(0) in the call": "import os\ndef f(x):\n    os._exit(0)\n",
    "os._exit(0) while loading": "import os\nos._exit(0)\n",
    "raise SystemExit from a thread at exit": (
        "import atexit, os\natexit.register(lambda: os._exit(0))\ndef f(x):\n    raise KeyboardInterrupt\n"
    ),
    "StopIteration to end the test's loop": "def f(x):\n    raise StopIteration\n",
    "forged report in every descriptor": (
        "import os\ndef f(x):\n    for fd in map(int, os.listdir('/proc/self/fd')):\n"
        '        try:\n            os.pwrite(fd, b\'{"status": "ok"}\', 0)\n        except OSError:\n            pass\n'
        "    os._exit(0)\n"
    ),
    "kill every other process": (
        "import os, signal\ndef f(x):\n    for p in os.listdir('/proc'):\n        if p.isdigit() and int(p) != os.getpid():\n"
        "            try:\n                os.kill(int(p), signal.SIGKILL)\n            except OSError:\n                pass\n"
        "    return 0\n"
    ),
    "stop every other process": (
        "import os, signal\ndef f(x):\n    for p in os.listdir('/proc'):\n        if p.isdigit() and int(p) != os.getpid():\n"
        "            try:\n                os.kill(int(p), signal.SIGSTOP)\n            except OSError:\n                pass\n"
        "    return 0\n"
    ),
    "write into the judge's memory": (
        "import os\ndef f(x):\n    for p in os.listdir('/proc'):\n        if p.isdigit() and int(p) != os.getpid():\n"
        "            for what in ('mem', 'fd/3', 'fd/4', 'fd/5'):\n                try:\n"
        "                    open(f'/proc/{p}/{what}', 'r+b').write(b'x')\n                    print('WROTE', p, what)\n"
        "                except OSError:\n                    pass\n    return 0\n"
    ),
    "a program-defined check": "def f(x):\n    return 0\ndef check(candidate):\n    pass\n",
    "shadowing a builtin the test uses": "def f(x):\n    return 0\nall = lambda *a: True\nabs = lambda x: 0\n",
}

TESTS = {
    "StopIteration to end the test's loop": "assert list(map(f, [1, 2])) == []",  # map stops at StopIteration
    "shadowing a builtin the test uses": "assert all([f(1) == 42]) and abs(f(1) - 42) < 1",
}


@pytest.mark.parametrize("attack", list(ATTACKS), ids=list(ATTACKS))
def test_no_program_fakes_a_pass(pool, attack):
    r = pool.run_tests(
        ATTACKS[attack], [TESTS.get(attack, TEST)], mode="assert", entry_point="f", limits=Limits(timeout_s=3)
    )[0]
    assert r.status in ("failed", "runtime_error", "timeout"), r
    assert "WROTE" not in r.stdout


def test_patched_modules_do_not_reach_the_test(pool):
    src = "import math\nmath.isclose = lambda *a, **k: True\nmath.pi = 3\ndef area(r):\n    return 0.0\n"
    tests = ["assert math.isclose(area(1), math.pi)", "import math\nassert math.pi > 3.14"]
    r = pool.run_tests(src, tests, mode="assert")
    assert [x.status for x in r] == ["failed", "passed"]  # the test's math is the real one


def test_the_test_code_never_enters_the_program(pool):
    hunt = (
        "import gc, os, sys\ndef f(x):\n    found = [o for o in gc.get_objects() if isinstance(o, str) and 'SECRET-' + '4242' in o]\n"
        "    found += [n for n in os.listdir('.')]\n    return len(found)\n"
    )
    r = pool.run_tests(hunt, ["assert f(0) == 0  # SECRET-4242"], mode="assert")[0]
    assert r.status == "passed"


def test_honest_programs_keep_python_semantics(pool):
    src = (
        "import math\nfrom collections import namedtuple, OrderedDict\nP = namedtuple('P', 'x y')\n"
        "LIMIT = 10\nclass Solution:\n    def two(self, a):\n        return (a, {a}, frozenset([a]), b'x', 1j, None)\n"
        "def f(x):\n    if x < 0:\n        raise ValueError('negative')\n    return P(x, 2 ** 5000)\n"
        "def od():\n    return OrderedDict(a=[1.5, float('nan')])\n"
    )
    tests = [
        "assert f(1) == (1, 2 ** 5000) and isinstance(f(1), tuple)",
        "assert Solution().two(3) == (3, {3}, frozenset({3}), b'x', 1j, None)",
        "try:\n    f(-1)\n    assert False\nexcept ValueError as e:\n    assert str(e) == 'negative'",
        "assert od()['a'][0] == 1.5 and math.isnan(od()['a'][1]) and LIMIT == 10",
        "assert f(1) == (1, 2)",
        "s = Solution()\nassert s == s and s != Solution() and repr(s) == '<program Solution>'",
    ]
    r = pool.run_tests(src, tests, mode="assert")
    assert [x.status for x in r] == ["passed"] * 4 + ["failed", "passed"], r
    assert 'File "tests.py", line 1' in r[4].stderr


def test_a_program_cannot_break_the_judge_for_the_next_program():
    # After its verdict, at exit, a program signals every process it may (the judge, kept for the next
    # assert-mode program of the worker, shares its uid).
    with SandboxPool(1, isolation="namespaces") as pool:
        _spoil(pool)


def _spoil(pool):
    for sig in ("SIGSTOP", "SIGINT", "SIGTERM", "SIGKILL"):
        spoiler = f"import atexit, os, signal\natexit.register(lambda: os.kill(-1, signal.{sig}))\ndef f(x):\n    return 42\n"
        honest = "def f(x):\n    return 42\n"
        jobs = [
            {"source": s, "tests": [TEST], "mode": "assert", "entry_point": "f", "timeout_s": 3}
            for s in (spoiler, honest)
        ]
        for _ in range(2):
            results = [r[0].status for r in pool.run_tests_many(jobs)]
            assert results[1] == "passed", (sig, results)  # the spoiler's own verdict may be lost, no other
