"""One adversarial test per property of the threat model in ponder/verify/sandbox.py, checked from outside.

Each program below is written to break the property; each test then looks at the host (its files, a
listening socket, its process table, its own survival) or at what reached the caller.
"""

import os
import socket
import subprocess
import sys
import threading
import uuid

from ponder.verify.code import SandboxPool
from ponder.verify.sandbox import Limits

from .conftest import STDIO, sandbox_processes


def _run(pool, src, **kw):
    return pool.run_tests(src, STDIO, **kw)[0]


def test_1_wall_time_limit_kills_sleepers_and_c_loops(pool):
    r = _run(pool, "import time\ntime.sleep(100)", timeout_s=0.5)
    assert (r.status, r.detail) == (
        "timeout",
        "wall time limit of 0.5s",
    )  # the supervisor's limit, not the host's
    r = _run(
        pool,
        "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nsum(range(10**12))",
        timeout_s=0.5,
    )
    assert r.status == "timeout"
    assert sandbox_processes() == []


def test_2_cpu_time_limit_counts_all_threads(pool):
    spin = "import threading\ndef spin():\n    while True: pass\nfor _ in range(2):\n    threading.Thread(target=spin).start()\n"
    r = _run(pool, spin, limits=Limits(timeout_s=60, cpu_s=0.3))
    assert (r.status, r.detail) == ("timeout", "CPU time limit")
    assert sandbox_processes() == []


def test_3_memory_limit_single_process_and_sum_over_processes(pool):
    r = _run(pool, "x = bytearray(2 << 30)", memory_mb=128)
    assert r.status == "memory"
    # five processes of 100 MiB each stay under the per-process limit but not under the total
    fan = (
        "import os, time\nfor _ in range(5):\n    if os.fork() == 0:\n        b = bytearray(100 << 20)\n"
        "        time.sleep(60)\n        os._exit(0)\ntime.sleep(60)\n"
    )
    r = _run(pool, fan, memory_mb=256, timeout_s=20)
    assert r.status == "memory" and "256 MiB" in r.detail
    # memory files hold memory without mapping it, out of RLIMIT_AS's sight
    memfds = (
        "import os, time\nfds = []\nfor i in range(60):\n    fd = os.memfd_create(f'm{i}')\n"
        "    os.write(fd, b'x' * (15 << 20))\n    fds.append(fd)\nprint('held all')\ntime.sleep(60)\n"
    )
    r = _run(pool, memfds, memory_mb=256, timeout_s=20)
    assert r.status == "memory" and r.stdout == ""
    assert sandbox_processes() == []


def test_4_fork_bomb_stops_at_the_process_limit(pool):
    bomb = (
        "import os, time\nn = 0\nwhile True:\n    try:\n        pid = os.fork()\n    except OSError:\n        break\n"
        "    if pid == 0:\n        time.sleep(60)\n        os._exit(0)\n    n += 1\nprint(n)\ntime.sleep(0.5)\n"
    )
    seen = []
    done = threading.Event()

    def watch():
        while not done.is_set():
            seen.append(len(sandbox_processes()))

    t = threading.Thread(target=watch)
    t.start()
    try:
        r = _run(pool, bomb, limits=Limits(timeout_s=20, processes=12))
    finally:
        done.set()
        t.join()
    assert r.status == "failed" and int(r.stdout) <= 11  # the program itself counts as one
    assert 0 < max(seen) <= 12  # as seen in the host's process table while it ran
    assert sandbox_processes() == []


def test_5_file_size_and_disk_limits(pool):
    r = _run(
        pool, "with open('big', 'wb') as f:\n    f.write(b'x' * (3 << 20))", limits=Limits(file_size_mb=1)
    )
    assert r.status == "runtime_error" and "File too large" in r.detail
    fill = (
        "import os\nn = 0\ntry:\n    for i in range(1000):\n        with open(f'f{i}', 'wb') as f:\n"
        "            f.write(b'x' * (1 << 20))\n        n += 1\nexcept OSError as e:\n    print(n, e.errno)\n"
    )
    r = _run(pool, fill)
    n, errno = map(int, r.stdout.split())
    assert errno == 28 and n <= 64  # ENOSPC at the 64 MiB tmpfs


def test_6_environment_is_empty(monkeypatch):
    token = f"tok-{uuid.uuid4()}"
    monkeypatch.setenv("PONDER_TEST_API_KEY", token)
    src = "import os\nprint(dict(os.environ))\nprint(open('/proc/self/environ', 'rb').read())\n"
    with SandboxPool(1, isolation="namespaces") as p:
        r = _run(p, src)
    assert r.stdout == "{}\nb''\n"
    assert token not in r.stdout


def test_7_private_working_directory_removed_afterwards(pool):
    marker = f"ponder-leftover-{uuid.uuid4().hex}"
    src = (
        f"import os\nprint(os.getcwd(), os.listdir('.'), os.listdir('/tmp'), os.path.exists('/dev/shm/{marker}'))\n"
        f"for p in ('{marker}', '/tmp/{marker}', '/dev/shm/{marker}'):\n    open(p, 'w').write('x')\n"
    )
    first, second = pool.run_tests(src, [{"input": "", "output": ""}] * 2)
    third = _run(pool, src)
    for r in (first, second, third):
        cwd, seen = r.stdout.split(" ", 1)
        name = cwd.rsplit("/", 1)[1]
        assert seen == f"[] ['{name}'] False\n"  # a fresh empty directory; nothing left by earlier tests
    # nothing reached the host's disk
    assert (
        subprocess.run(["find", "/tmp", "/dev/shm", "-name", marker], capture_output=True, text=True).stdout
        == ""
    )


def test_7b_trees_too_deep_or_large_to_delete_are_still_gone(pool):
    pids = [w.proc.pid for w in pool._workers]
    src = """
import os, sys
what = sys.stdin.read()
if what == "many":
    try:
        for i in range(20000):
            open(f"/tmp/f{i}", "w").close()
    except OSError as e:
        print(e.errno)
elif what == "deep":
    for i in range(3000):
        os.mkdir("d")
        os.chdir("d")
print(os.listdir("/tmp"), os.listdir("."))
"""
    tests = [
        {"input": w, "output": ""} for w in ("many", "deep", "look")
    ]  # one program: one worker, one child
    many, deep, look = pool.run_tests(src, tests)
    assert many.stdout.startswith("28\n")  # ENOSPC: the tmpfs holds a limited number of files
    assert (
        look.stdout.startswith("['run-") and look.stdout.endswith("] []\n") and look.stdout.count("run-") == 1
    )
    assert [w.proc.pid for w in pool._workers] == pids  # no worker had to be restarted


def test_7c_no_system_v_ipc_objects_to_outlive_a_program(pool):
    src = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
print(libc.shmget(0, 4096, 0o1600), libc.semget(0, 1, 0o1600), libc.msgget(0, 0o1600))
"""
    assert (
        _run(pool, src).stdout == "-1 -1 -1\n"
    )  # IPC_PRIVATE segments would survive the program's processes
    # POSIX shared memory (what multiprocessing uses) works, in /dev/shm, which is emptied after each test
    posix = "from multiprocessing import shared_memory\nm = shared_memory.SharedMemory(create=True, size=16)\nprint(m.size)\n"
    assert _run(pool, posix).stdout == "16\n"


def test_8_no_network_not_even_127_0_0_1(pool):
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen()
    tcp.settimeout(0.5)
    port = tcp.getsockname()[1]
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(0.2)
    abstract = socket.socket(socket.AF_UNIX)
    name = f"\0ponder-test-{uuid.uuid4().hex}"
    abstract.bind(name)
    abstract.listen()
    abstract.settimeout(0.2)
    src = f"""
import socket
for host in ["127.0.0.1", "localhost", "10.0.0.2", "1.1.1.1"]:
    try:
        socket.create_connection((host, {port}), timeout=2)
        print("CONNECTED", host)
    except OSError as e:
        print("blocked", host, e.errno)
try:
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"hi", ("127.0.0.1", {udp.getsockname()[1]}))
    print("SENT")
except OSError as e:
    print("blocked udp", e.errno)
try:
    socket.socket(socket.AF_UNIX).connect({name!r})
    print("CONNECTED unix")
except OSError as e:
    print("blocked unix", e.errno)
"""
    r = _run(pool, src)
    assert "CONNECTED" not in r.stdout and "SENT" not in r.stdout and r.stdout.count("blocked") == 6
    for s in (tcp, abstract):
        try:
            s.accept()
            raise AssertionError("the sandbox reached a socket of the host")
        except TimeoutError:
            pass
    try:
        udp.recv(10)
        raise AssertionError("the sandbox sent a datagram to the host")
    except TimeoutError:
        pass


def test_9_host_files_neither_readable_nor_writable(pool, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    secret.chmod(0o644)
    stdlib = os.path.dirname(os.__file__)
    targets = [
        str(secret),
        "/etc/passwd",
        "/etc/hostname",
        os.path.abspath("pyproject.toml"),
        "/proc/1/environ",
        "/proc/1/root/etc/passwd",
        f"/proc/{os.getpid()}/environ",
    ]
    src = f"""
import os
for p in {targets!r}:
    try:
        print("READ", p, open(p).read()[:40])
    except OSError as e:
        print("denied", p, e.errno)
for p in [{str(tmp_path / "pwned")!r}, "/pwned", {stdlib + "/pwned.py"!r}, "/usr/pwned", "/dev/pwned"]:
    try:
        open(p, "w").write("x")
        print("WROTE", p)
    except OSError as e:
        print("denied", p, e.errno)
print("checkout visible:", os.path.exists({os.getcwd()!r}))
print(sorted(os.listdir("/")))
"""
    r = _run(pool, src)
    assert "READ" not in r.stdout and "WROTE" not in r.stdout and "TOP-SECRET" not in r.stdout
    # The checkout is invisible wherever it lives (also under /tmp, where the sandbox has its own empty /tmp).
    assert "checkout visible: False" in r.stdout
    top = set(eval(r.stdout.strip().splitlines()[-1]))  # the sandbox root: only what the interpreter needs
    assert {"proc", "tmp", "dev"} <= top and not top & {"etc", "home", "var", "work"}
    assert (
        not (tmp_path / "pwned").exists()
        and not os.path.exists("/pwned")
        and not os.path.exists(stdlib + "/pwned.py")
    )
    assert secret.read_text() == "TOP-SECRET-VALUE"


def test_9b_no_privileges_left_inside(pool):
    src = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
print(open("/proc/self/status").read().split("CapEff:")[1].split()[0])
print(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None), libc.unshare(0x10000000), libc.sethostname(b"x", 1))
print(libc.ptrace(16, 1, 0, 0), os.getuid())
"""
    lines = _run(pool, src).stdout.split("\n")
    assert lines[0] == "0000000000000000"
    assert lines[1] == "-1 -1 -1" and lines[2].startswith("-1 ")


def test_10_expected_outputs_never_reach_the_program(pool):
    secret = f"EXPECTED-{uuid.uuid4().hex}"
    hunt = """
import gc, os, sys
needle = "EXPECTED" + "-"
found = [o for o in gc.get_objects() if isinstance(o, str) and needle in o and o != needle]
for root, dirs, files in os.walk("/", topdown=True):
    dirs[:] = [d for d in dirs if root != "/" or d not in ("proc", "usr", "root", "lib", "lib64")]
    for f in files:
        try:
            if needle.encode() in open(os.path.join(root, f), "rb").read(1 << 20):
                found.append(f)
        except OSError:
            pass
found += [a for a in sys.argv if needle in a] + [v for v in os.environ.values() if needle in v]
print("FOUND" if found else "nothing", sys.stdin.read())
"""
    tests = [{"input": "in-1", "output": secret}, {"input": "in-2", "output": secret + "-2"}]
    for r in pool.run_tests(hunt, tests):
        assert r.status == "failed" and r.stdout.startswith("nothing in-") and secret not in r.stdout


def test_11_whole_process_tree_dies_including_setsid_daemons(pool):
    daemon = (
        "import os, sys, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(300)\n"
        "    os._exit(0)\nos.wait()\ntime.sleep(0.2)\nprint(len([p for p in os.listdir('/proc') if p.isdigit()]))\n"
    )
    first, second = pool.run_tests(daemon, [{"input": "", "output": ""}] * 2)
    assert first.stdout == second.stdout == "2\n"  # the daemon of the first test is gone in the second
    assert sandbox_processes() == []
    r = _run(pool, daemon + "time.sleep(300)\n", timeout_s=0.5)
    assert r.status == "timeout" and sandbox_processes() == []


def test_12_output_floods_are_cut(pool):
    flood = "import sys\nwhile True:\n    sys.stdout.write('A' * 65536)\n"
    r = _run(pool, flood, limits=Limits(output_bytes=100_000))
    assert r.status == "failed" and "stdout longer than 100000 bytes" in r.detail and len(r.stdout) < 3000
    run = pool.run_inputs(flood, [""], limits=Limits(output_bytes=100_000))[0]
    assert run.status == "output_limit" and len(run.output) == 100_000
    err = _run(pool, "import sys\nfor _ in range(10**6):\n    sys.stderr.write('E' * 1000)\n")
    assert err.status == "runtime_error" and "File too large" in err.detail and len(err.stderr) < 3000


def test_13_caller_survives_kill_of_parent_and_kill_minus_one(pool):
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    pids = [w.proc.pid for w in pool._workers]
    try:
        src = (
            "import os, signal, sys\nfor target in (os.getppid(), -1, 1):\n"
            "    for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGSTOP, signal.SIGINT):\n"
            "        try:\n            os.kill(target, sig)\n        except OSError:\n            pass\n"
            "print('alive')\nsys.stdout.flush()\nos.killpg(0, signal.SIGKILL)\n"
        )
        results = [_run(pool, src) for _ in range(2)]
        assert [r.stdout for r in results] == ["alive\n", "alive\n"]  # the program killed only itself
        assert bystander.poll() is None  # another process of the caller's user is untouched
        assert [w.proc.pid for w in pool._workers] == pids  # the workers too
        assert _run(pool, "print(6 * 7)").stdout == "42\n"
    finally:
        bystander.kill()
        bystander.wait()


def test_9c_only_the_standard_library_is_there(pool):
    # pyenv (as on these machines), conda and the python images keep site-packages inside the stdlib folder.
    import sysconfig

    stdlib = sysconfig.get_paths()["stdlib"]
    site = os.path.join(stdlib, "site-packages")
    assert os.listdir(site)  # the host's has packages (pip at least)
    src = f"""
import os, sys
print(sorted(os.listdir({site!r})), os.path.exists({sysconfig.get_paths()["purelib"]!r}))
sys.path += [{site!r}, {sysconfig.get_paths()["purelib"]!r}]
for name in ("pip", "setuptools", "numpy", "torch", "pytest", "ponder"):
    try:
        __import__(name)
        print("IMPORTED", name)
    except ImportError:
        pass
import json, sqlite3, decimal, ctypes
print("stdlib ok")
"""
    r = _run(pool, src)
    assert r.stdout == "[] False\nstdlib ok\n", r


def test_9d_tmp_and_the_working_directory_are_noexec(pool):
    src = """
import mmap, os, shutil, subprocess, sys
for d in ("/tmp", ".", "/dev/shm"):
    path = os.path.join(d, "py")
    shutil.copy(sys.executable, path)
    os.chmod(path, 0o755)
    try:
        subprocess.run([path, "-c", "print('RAN')"])
        print("EXECUTED", d)
    except PermissionError as e:
        print("denied", e.errno)
    with open(path, "rb") as fh:
        try:
            mmap.mmap(fh.fileno(), 4096, prot=mmap.PROT_READ | mmap.PROT_EXEC)
            print("MAPPED", d)
        except PermissionError as e:
            print("denied", e.errno)
    os.unlink(path)
"""
    r = _run(pool, src, limits=Limits(timeout_s=20))
    assert r.stdout == "denied 13\ndenied 1\n" * 3, r
