"""Installed packages only for the jobs that name them: a pool offers numpy; a job naming it imports it from
/site, a job in the same pool that does not name it sees the standard library only, and nothing else of
site-packages (torch, pytest) is there for either."""

import pytest

from ponder.verify.code import Job, JobError, SandboxPool

PROBE = """
import os, sys
for name in ("numpy", "torch", "pytest"):
    try:
        m = __import__(name)
        print(name, "yes")
    except ImportError:
        print(name, "no")
try:
    staged = os.listdir("/.ponder-packages")  # where the worker keeps every offered package
except OSError as e:
    staged = e.errno
print(sorted(os.listdir("/site")), staged)
if "numpy" in sys.modules:
    import numpy as np
    print(int(np.arange(5).sum()), np.__file__)
"""


@pytest.fixture(scope="module")
def numpy_pool():
    with SandboxPool(1, isolation="namespaces", packages=("numpy",)) as p:
        yield p


def test_a_job_naming_a_package_gets_it_and_only_it(numpy_pool):
    r = numpy_pool.run_tests(PROBE, [{"input": "", "output": ""}], packages=("numpy",))[0]
    lines = r.stdout.splitlines()
    assert lines[:3] == ["numpy yes", "torch no", "pytest no"], r
    assert lines[3] == "['numpy', 'numpy.libs'] 13"
    assert lines[4] == "10 /site/numpy/__init__.py"


def test_other_jobs_of_the_same_pool_see_the_standard_library_only(numpy_pool):
    with_np = Job(PROBE, [{"input": "", "output": ""}], packages=("numpy",))
    without = Job(PROBE, [{"input": "", "output": ""}])
    a, b, c = numpy_pool.run_tests_many([with_np, without, with_np])
    assert b[0].stdout.splitlines() == ["numpy no", "torch no", "pytest no", "[] 13"]
    assert a[0].stdout == c[0].stdout and "numpy yes" in a[0].stdout


def test_a_package_the_pool_does_not_offer_is_a_job_error(numpy_pool, pool):
    with pytest.raises(JobError, match="field 'packages': torch not offered"):
        numpy_pool.run_tests("pass", [{"input": "", "output": ""}], packages=("torch",))
    with pytest.raises(JobError, match="numpy not offered"):
        pool.run_tests("pass", [{"input": "", "output": ""}], packages=("numpy",))
    with pytest.raises(ValueError, match="not installed"):
        SandboxPool(1, packages=("no_such_package_here",))


def test_exec_records_name_their_packages():
    from ponder.verify.exec_stage import ExecOptions, parse_record

    rec = {"id": "a", "source": "import numpy", "tests": [{"input": "", "output": ""}], "packages": ["numpy"]}
    assert parse_record(rec, ExecOptions())[1].packages == ("numpy",)
    with pytest.raises(JobError, match="field 'packages'"):
        parse_record({**rec, "packages": "numpy"}, ExecOptions())
