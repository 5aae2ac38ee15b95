"""The sandbox's seccomp filter: a classic BPF program installed with ``prctl(PR_SET_SECCOMP)`` via ctypes.

It denies, with ``EPERM`` (a clean ``OSError`` in the program, never a kill), the system calls that container
runtimes deny by default (Docker's default profile; nsjail relies on the same kernel facilities): kernel
keyrings, BPF, perf events, io_uring, ptrace and cross-process memory access, mounting and the new mount
API, namespaces (``unshare``, ``setns``, ``clone`` with any ``CLONE_NEW*`` flag), kernel modules, kexec,
reboot, swap, clocks, quotas, accounting, the kernel log, userfaultfd, NUMA policy of other processes, and
``personality`` values other than the harmless ones. ``clone3`` answers ``ENOSYS`` (its flags sit in memory a
filter cannot read; the C library then falls back to ``clone``). Calls of another architecture (32-bit
``int 0x80``) and x32 numbers kill the process: the filter is written for the native numbers only.

Standard library only: installed by the sandbox child after it dropped its privileges (``no_new_privs`` is
set), and inherited by every process and thread the program creates.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
from collections.abc import Iterable

# Native syscall numbers (asm/unistd_64.h on x86_64, asm-generic/unistd.h on aarch64); None: not on that arch.
_NUMBERS = {
    "x86_64": {
        "acct": 163, "add_key": 248, "bpf": 321, "clock_adjtime": 305, "clock_settime": 227,
        "settimeofday": 164, "create_module": 174, "delete_module": 176, "finit_module": 313,
        "init_module": 175, "get_kernel_syms": 177, "query_module": 178, "kexec_load": 246,
        "kexec_file_load": 320, "keyctl": 250, "request_key": 249, "lookup_dcookie": 212, "mount": 165,
        "umount2": 166, "pivot_root": 155, "nfsservctl": 180, "open_by_handle_at": 304,
        "perf_event_open": 298, "process_vm_readv": 310, "process_vm_writev": 311, "ptrace": 101,
        "quotactl": 179, "quotactl_fd": 443, "reboot": 169, "setns": 308, "swapon": 167, "swapoff": 168,
        "sysfs": 139, "_sysctl": 156, "unshare": 272, "uselib": 134, "userfaultfd": 323, "ustat": 136,
        "iopl": 172, "ioperm": 173, "kcmp": 312, "syslog": 103, "io_uring_setup": 425,
        "io_uring_enter": 426, "io_uring_register": 427, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
        "fspick": 433, "move_mount": 429, "open_tree": 428, "mount_setattr": 442, "pidfd_getfd": 438,
        "fanotify_init": 300, "mbind": 237, "set_mempolicy": 238, "move_pages": 279,
        "migrate_pages": 256, "modify_ldt": 154, "chroot": 161, "clone": 56, "clone3": 435,
        "personality": 135,
    },
    "aarch64": {
        "acct": 89, "add_key": 217, "bpf": 280, "clock_adjtime": 266, "clock_settime": 112,
        "settimeofday": 170, "delete_module": 106, "finit_module": 273, "init_module": 105,
        "kexec_load": 104, "kexec_file_load": 294, "keyctl": 219, "request_key": 218, "lookup_dcookie": 18,
        "mount": 40, "umount2": 39, "pivot_root": 41, "nfsservctl": 42, "open_by_handle_at": 265,
        "perf_event_open": 241, "process_vm_readv": 270, "process_vm_writev": 271, "ptrace": 117,
        "quotactl": 60, "quotactl_fd": 443, "reboot": 142, "setns": 268, "swapon": 224, "swapoff": 225,
        "unshare": 97, "userfaultfd": 282, "kcmp": 272, "syslog": 116, "io_uring_setup": 425,
        "io_uring_enter": 426, "io_uring_register": 427, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
        "fspick": 433, "move_mount": 429, "open_tree": 428, "mount_setattr": 442, "pidfd_getfd": 438,
        "fanotify_init": 262, "mbind": 235, "set_mempolicy": 237, "move_pages": 239,
        "migrate_pages": 238, "chroot": 51, "clone": 220, "clone3": 435, "personality": 92,
    },
}  # fmt: skip
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}

# Denied outright (EPERM). clone, clone3 and personality have rules of their own below.
DENIED = tuple(n for n in _NUMBERS["x86_64"] if n not in ("clone", "clone3", "personality"))
# CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
CLONE_NEW_FLAGS = 0x7E020000
PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)  # Linux, 32-bit uname, UNAME26, both, query

_LD_W_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_KILL_PROCESS, _ALLOW = 0x80000000, 0x7FFF0000
_OFF_NR, _OFF_ARCH, _OFF_ARG0 = 0, 4, 16  # struct seccomp_data; args[0]'s low 32 bits on little endian
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2


def _errno(code: int) -> int:
    return 0x00050000 | code  # SECCOMP_RET_ERRNO


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def numbers(arch: str | None = None) -> dict[str, int]:
    """Syscall name -> number for ``arch`` (this machine's by default); empty for an unknown architecture."""
    return dict(_NUMBERS.get(arch or platform.machine(), {}))


def build_filter(denied: Iterable[str] = DENIED, *, rules: bool = True, arch: str | None = None) -> bytes:
    """The BPF program (struct sock_filter[]) denying ``denied`` with EPERM, plus, with ``rules``, the
    clone/clone3/personality rules. Raises OSError for an architecture without a syscall table here."""
    arch = arch or platform.machine()
    nr = _NUMBERS.get(arch)
    if nr is None:
        raise OSError(errno.ENOSYS, f"no seccomp syscall table for {arch}")
    prog = [_insn(_LD_W_ABS, _OFF_ARCH), _insn(_JEQ, _AUDIT_ARCH[arch], 1, 0), _insn(_RET, _KILL_PROCESS)]
    prog.append(_insn(_LD_W_ABS, _OFF_NR))
    if arch == "x86_64":  # x32 numbers (bit 30) would slip past the native table
        prog += [_insn(_JGE, 0x40000000, 0, 1), _insn(_RET, _KILL_PROCESS)]
    for name in denied:
        if name in nr:
            prog += [_insn(_JEQ, nr[name], 0, 1), _insn(_RET, _errno(errno.EPERM))]
    if rules:
        prog += [_insn(_JEQ, nr["clone3"], 0, 1), _insn(_RET, _errno(errno.ENOSYS))]
        # clone: EPERM if any CLONE_NEW* flag is set (A is reloaded with args[0], then the number again).
        prog += [
            _insn(_JEQ, nr["clone"], 0, 4),
            _insn(_LD_W_ABS, _OFF_ARG0),
            _insn(_JSET, CLONE_NEW_FLAGS, 0, 1),
            _insn(_RET, _errno(errno.EPERM)),
            _insn(_LD_W_ABS, _OFF_NR),
        ]
        n = len(PERSONALITIES)
        prog += [_insn(_JEQ, nr["personality"], 0, n + 2), _insn(_LD_W_ABS, _OFF_ARG0)]
        prog += [_insn(_JEQ, v, n - i, 0) for i, v in enumerate(PERSONALITIES)]
        prog.append(_insn(_RET, _errno(errno.EPERM)))
    prog.append(_insn(_RET, _ALLOW))
    return b"".join(prog)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install(prog: bytes) -> None:
    """Install ``prog`` on this thread (threads and processes created later inherit it). Needs
    ``no_new_privs`` or CAP_SYS_ADMIN; raises OSError when the kernel refuses."""
    buf = ctypes.create_string_buffer(prog, len(prog))
    fprog = _SockFprog(len(prog) // 8, ctypes.cast(buf, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"installing the seccomp filter: {errno.errorcode.get(err, err)}")


def check(prog: bytes) -> None:
    """Install the filter in a throwaway child: a kernel without seccomp stops the sandbox here, at start."""
    pid = os.fork()
    if pid == 0:
        try:
            libc_prctl_no_new_privs()
            install(prog)
            os._exit(0)
        except BaseException:  # noqa: BLE001
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        raise OSError(1, "the kernel refused the sandbox's seccomp filter")


def libc_prctl_no_new_privs() -> None:
    if ctypes.CDLL(None, use_errno=True).prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
