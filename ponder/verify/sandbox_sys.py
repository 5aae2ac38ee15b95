"""Thin ctypes wrappers for the Linux calls the sandbox needs and Python 3.11 lacks.

``unshare``, ``mount``, ``umount2``, ``pivot_root``, ``sethostname``, ``prctl`` and ``capset``, plus
:func:`enter_namespaces`, which uses them. Each raises ``OSError`` with the C errno on failure. Standard library only: this module is loaded by the sandbox worker
(``python -I -S``), before it enters its namespaces.
"""

from __future__ import annotations

import ctypes
import os
import platform

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_SECUREBITS = 28
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

# securebits: never regain capabilities through execve of a root-owned binary or uid 0, and lock that.
SECBIT_NOROOT = 1 << 0
SECBIT_NOROOT_LOCKED = 1 << 1
SECBIT_NO_CAP_AMBIENT_RAISE = 1 << 6
SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED = 1 << 7

_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]


def _check(ret: int, what: str) -> int:
    if ret == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return ret


def _b(s: str | None) -> bytes | None:
    return None if s is None else os.fsencode(s)


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def mount(
    source: str | None, target: str, fstype: str | None = None, flags: int = 0, data: str | None = None
) -> None:
    _check(_libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)), f"mount {target}")


def umount2(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(_b(target), flags), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    nr = _PIVOT_ROOT.get(platform.machine())
    if nr is None:
        raise OSError(38, f"pivot_root: unknown syscall number on {platform.machine()}")
    _check(_libc.syscall(ctypes.c_long(nr), _b(new_root), _b(put_old)), "pivot_root")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, len(raw)), "sethostname")


def malloc_trim() -> None:
    """Give free heap memory back to the system (glibc); a no-op elsewhere."""
    trim = getattr(_libc, "malloc_trim", None)
    if trim is not None:
        trim(0)


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return _check(_libc.prctl(option, arg2, arg3, arg4, arg5), f"prctl({option})")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def lock_out_root() -> None:
    """Make uid 0 and execve unable to grant capabilities again (needs CAP_SETPCAP), then drop the
    bounding and ambient sets. Call while still privileged, before changing uid or clearing capabilities."""
    bits = (
        SECBIT_NOROOT
        | SECBIT_NOROOT_LOCKED
        | SECBIT_NO_CAP_AMBIENT_RAISE
        | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED
    )
    prctl(PR_SET_SECUREBITS, bits)
    for cap in range(64):
        try:
            prctl(PR_CAPBSET_DROP, cap)
        except OSError as e:
            if e.errno == 22:  # EINVAL: past the last capability this kernel knows
                break
            raise
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)


def clear_capabilities() -> None:
    """Empty the effective, permitted and inheritable capability sets of this thread."""
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3: two 32-bit words
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), data), "capset")


def effective_capabilities() -> int:
    """The CapEff mask of this process (0 means no capabilities at all)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    raise OSError(2, "CapEff not found in /proc/self/status")


def enter_namespaces(setgroups: str, uid_map: str, gid_map: str) -> bool:
    """Move this process into new user, mount, PID, network, IPC and UTS namespaces with the given maps.

    The maps must be written from outside the new user namespace: a helper forked beforehand does it. Children
    forked afterwards land in the new PID namespace. Inside, user namespaces are switched off (raises OSError
    when that fails) and System V IPC where possible (the sysctls changed are the new namespaces' own). Returns
    whether System V IPC is off.
    """
    r, w = os.pipe()
    me = os.getpid()
    helper = os.fork()
    if helper == 0:
        os.close(w)
        ok = os.read(r, 1) == b"u"
        try:
            if ok:
                for name, text in (("setgroups", setgroups), ("uid_map", uid_map), ("gid_map", gid_map)):
                    with open(f"/proc/{me}/{name}", "w") as fh:
                        fh.write(text)
        except OSError:
            ok = False
        os._exit(0 if ok else 1)
    os.close(r)
    try:
        unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)
    except OSError:
        os.write(w, b"x")
        os.waitpid(helper, 0)
        raise
    os.write(w, b"u")
    os.close(w)
    _, status = os.waitpid(helper, 0)
    if status != 0:
        raise OSError(1, "writing the user namespace's uid/gid maps failed")
    # Programs may not create user namespaces of their own (a large kernel attack surface): required, and
    # checked by reading it back -- a sandbox that cannot switch them off does not start (the seccomp filter
    # denies them too). System V IPC objects would outlive a program (POSIX shared memory lives in /dev/shm,
    # emptied after each test): switched off where possible, else each program gets an IPC namespace.
    try:
        with open("/proc/sys/user/max_user_namespaces", "w") as fh:
            fh.write("0")
        with open("/proc/sys/user/max_user_namespaces") as fh:
            if fh.read().strip() != "0":
                raise OSError(1, "the limit did not change")
    except OSError as e:
        raise OSError(
            e.errno or 1,
            f"cannot switch off user namespaces inside the sandbox (user.max_user_namespaces: {e.strerror or e})",
        ) from None
    off = {"kernel/shmmni": "0", "kernel/msgmni": "0", "kernel/sem": "0 0 0 0"}
    done = set()
    for name, value in off.items():
        try:
            with open(f"/proc/sys/{name}", "w") as fh:
                fh.write(value)
            done.add(name)
        except OSError:
            pass
    return set(off) <= done
