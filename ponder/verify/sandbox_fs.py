"""The sandbox's view of the file system and process tree (see :mod:`ponder.verify.sandbox`).

With namespaces, :func:`build_root` gives the supervisor a new root: an empty tmpfs holding, read-only, only
the interpreter, its standard library and the shared libraries it has loaded (bound at their own paths, with
the symlinks leading to them), the device files null/zero/full/random/urandom, a size-limited ``/tmp`` and
``/dev/shm``, and a ``/proc`` of the sandbox's own PID namespace that shows a process only to its own user.
The host's other files are not there at all.

Without namespaces the helpers here find and kill the program's processes by walking ``/proc``.
Standard library only.
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import sys
import sysconfig
import tempfile
import time

from ponder.verify import sandbox_packages
from ponder.verify import sandbox_sys as ss

DEVICES = ("null", "zero", "full", "random", "urandom")
_RO = ss.MS_BIND | ss.MS_REMOUNT | ss.MS_RDONLY | ss.MS_NOSUID | ss.MS_NODEV


def build_root(cfg: dict) -> str:
    """Mount the sandbox root and ``pivot_root`` into it. Returns the interpreter's path inside."""
    ss.mount(None, "/", None, ss.MS_REC | ss.MS_PRIVATE)
    python = os.path.realpath(sys.executable)
    packages = cfg.get("packages") or {}
    files = sorted({*cfg["libraries"], *cfg.get("package_libraries", []), *_loaded_libraries(), python})
    dirs = [os.path.realpath(sysconfig.get_paths()["stdlib"])]
    interp = _elf_interpreter(python)
    root = _pick_mountpoint(files + dirs + [p for ps in packages.values() for p in ps])
    ss.mount("tmpfs", root, "tmpfs", ss.MS_NOSUID | ss.MS_NODEV, "size=4m,nr_inodes=8192,mode=755")
    for path in dirs:
        _bind(root, path, is_dir=True)
    for path in dirs:
        _hide_site_packages(root, path)
    sandbox_packages.stage(root, packages, _bind_at)
    for path in files:
        _bind(root, path, is_dir=False)
    if interp:
        _mirror(root, interp)
    _soname_links(root, files)
    _devices(root, cfg)
    os.mkdir(root + "/tmp")
    fresh_tmpfs(root + "/tmp", cfg, replace=False)
    os.mkdir(root + "/proc")
    _mount_proc(root + "/proc")
    os.chdir(root)
    ss.pivot_root(".", ".")
    ss.umount2(".", ss.MNT_DETACH)  # the old root, stacked under the new one
    os.chdir("/")
    ss.mount(None, "/", None, _RO)
    cfg["package_fds"] = sandbox_packages.open_staged(packages)  # kept; the staging folder is then covered
    ss.mount(
        "tmpfs", sandbox_packages.STAGE, "tmpfs", ss.MS_NOSUID | ss.MS_NODEV | ss.MS_NOEXEC, "size=4k,mode=0"
    )
    ss.mount(None, sandbox_packages.STAGE, None, _RO | ss.MS_NOEXEC)
    return python


_NOT_FOR_PROGRAMS = (
    "_tkinter",
    "_test",
    "_xx",
    "xxlimited",
    "_ctypes_test",
    "ossaudiodev",
    "readline",
    "_curses",
)


def discover_libraries() -> list[str]:
    """Shared libraries of every importable standard-library extension module, found by importing them all in
    a throwaway child (so that the worker itself stays small) and reading its memory map."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            dynload = os.path.join(sysconfig.get_paths()["stdlib"], "lib-dynload")
            for name in sorted(os.listdir(dynload)):
                mod = name.split(".", 1)[0]
                if name.endswith(".so") and not mod.startswith(_NOT_FOR_PROGRAMS):
                    try:
                        __import__(mod)
                    except Exception:  # noqa: BLE001 - a module that cannot load is simply not offered
                        pass
            data = "\n".join(sorted(_loaded_libraries())).encode()
            while data:
                data = data[os.write(w, data) :]
        finally:
            os._exit(0)
    os.close(w)
    chunks = []
    while chunk := os.read(r, 1 << 16):
        chunks.append(chunk)
    os.close(r)
    os.waitpid(pid, 0)
    return [p for p in b"".join(chunks).decode().split("\n") if p]


def _loaded_libraries() -> set[str]:
    libs = set()
    with open("/proc/self/maps") as fh:
        for line in fh:
            parts = line.split(maxsplit=5)
            if len(parts) == 6 and parts[5].startswith("/") and ".so" in parts[5]:
                path = parts[5].strip()
                if os.path.isfile(path):
                    libs.add(os.path.realpath(path))
    return libs


def _elf_interpreter(path: str) -> str | None:
    """The dynamic loader a binary asks for (PT_INTERP), e.g. /lib64/ld-linux-x86-64.so.2."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
            if head[:4] != b"\x7fELF" or head[4] != 2:
                return None
            (phoff,) = struct.unpack_from("<Q", head, 32)
            phentsize, phnum = struct.unpack_from("<HH", head, 54)
            for i in range(phnum):
                fh.seek(phoff + i * phentsize)
                ptype, _, offset, _, _, filesz = struct.unpack("<IIQQQQ", fh.read(40))
                if ptype == 3:
                    fh.seek(offset)
                    return fh.read(filesz).rstrip(b"\0").decode()
    except (OSError, struct.error, UnicodeDecodeError):
        return None
    return None


def _pick_mountpoint(needed: list[str]) -> str:
    # Any existing directory will do (it is covered only in our own mount namespace), as long as none of
    # the host paths to bind lies beneath it.
    for cand in ("/tmp", "/mnt", "/opt", "/srv", "/media", "/var/tmp", "/home"):
        if (
            os.path.isdir(cand)
            and not os.path.islink(cand)
            and not any(p.startswith(cand + "/") for p in needed)
        ):
            return cand
    raise OSError(2, "no directory to mount the sandbox root on")


def _mirror(root: str, path: str, depth: int = 0) -> str:
    """Recreate the directories and symlinks leading to ``path`` under ``root``; return its real path."""
    if depth > 40:
        raise OSError(40, f"too many symlinks resolving {path}")
    parts = [p for p in path.split("/") if p]
    cur = ""
    for i, name in enumerate(parts):
        nxt = f"{cur}/{name}"
        if os.path.islink(nxt):
            target = os.readlink(nxt)
            if not os.path.lexists(root + nxt):
                os.symlink(target, root + nxt)
            rest = "/".join(parts[i + 1 :])
            return _mirror(root, os.path.normpath(os.path.join(cur or "/", target, rest)), depth + 1)
        cur = nxt
        if i < len(parts) - 1:
            os.makedirs(root + cur, exist_ok=True)
    return cur or "/"


def _bind(root: str, path: str, *, is_dir: bool) -> None:
    real = _mirror(root, path)
    target = root + real
    if is_dir:
        os.makedirs(target, exist_ok=True)
    elif not os.path.exists(target):
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o644))
    ss.mount(real, target, None, ss.MS_BIND | ss.MS_REC)
    ss.mount(None, target, None, _RO)


def _hide_site_packages(root: str, stdlib: str) -> None:
    # Installations such as pyenv, conda and the python container images keep their site-packages inside
    # the standard-library folder: cover it with an empty read-only tmpfs, so only the standard library is
    # there (packages a job names are bound elsewhere, for that job only).
    for name in ("site-packages", "dist-packages"):
        target = f"{root}{stdlib}/{name}"
        if os.path.isdir(target):
            ss.mount(
                "tmpfs",
                target,
                "tmpfs",
                ss.MS_NOSUID | ss.MS_NODEV | ss.MS_NOEXEC,
                "size=4k,nr_inodes=1,mode=555",
            )
            ss.mount(None, target, None, _RO | ss.MS_NOEXEC)


def _bind_at(src: str, target: str) -> None:
    ss.mount(src, target, None, ss.MS_BIND | ss.MS_REC)
    ss.mount(None, target, None, _RO)


def _soname_links(root: str, files: list[str]) -> None:
    # The loader looks libraries up by their soname (libz.so.1), a symlink to the file that is mapped.
    wanted = set(files)
    for d in sorted({os.path.dirname(f) for f in files}):
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for e in entries:
            if e.is_symlink() and os.path.realpath(e.path) in wanted and not os.path.lexists(root + e.path):
                os.symlink(os.readlink(e.path), root + e.path)


def _devices(root: str, cfg: dict) -> None:
    os.makedirs(root + "/dev")
    for name in DEVICES:
        target = f"{root}/dev/{name}"
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o644))
        ss.mount(f"/dev/{name}", target, None, ss.MS_BIND)
        ss.mount(None, target, None, ss.MS_BIND | ss.MS_REMOUNT | ss.MS_NOSUID | ss.MS_NOEXEC)
    os.mkdir(root + "/dev/shm")
    fresh_tmpfs(root + "/dev/shm", cfg, replace=False)
    os.symlink("/proc/self/fd", root + "/dev/fd")
    for i, name in enumerate(("stdin", "stdout", "stderr")):
        os.symlink(f"/proc/self/fd/{i}", f"{root}/dev/{name}")


def _mount_proc(target: str) -> None:
    flags = ss.MS_NOSUID | ss.MS_NODEV | ss.MS_NOEXEC
    # hidepid=2: a process sees only processes of its own uid (not the supervisor); subset=pid: no /proc/sys,
    # /proc/kallsyms and the like. Older kernels lack subset=.
    for opts in ("hidepid=2,subset=pid", "hidepid=2"):
        try:
            ss.mount("proc", target, "proc", flags, opts)
            return
        except OSError:
            continue
    raise OSError(1, "cannot mount /proc for the sandbox's PID namespace")


# --------------------------------------------------------------------------- shared helpers


def fresh_tmpfs(path: str, cfg: dict, *, replace: bool = True) -> None:
    """Mount an empty size-limited tmpfs at ``path`` (``/tmp``: disk_mb, ``/dev/shm``: shm_mb), detaching the
    one there before; whoever still holds the old one keeps it until it lets go."""
    if replace:
        ss.umount2(path, ss.MNT_DETACH)
    size, inodes = (cfg["shm_mb"], 1024) if path.endswith("/dev/shm") else (cfg["disk_mb"], 16384)
    # noexec: a program cannot write a binary or a shared library and run it (the interpreter's own files
    # are read-only, so nothing it wrote can be executed anywhere).
    flags = ss.MS_NOSUID | ss.MS_NODEV | ss.MS_NOEXEC
    ss.mount("tmpfs", path, "tmpfs", flags, f"size={int(size)}m,nr_inodes={inodes},mode=1777")


def remove_stubborn(path: str) -> None:
    """Empty ``path`` on the host when Python's rmtree gave up (trees deeper than its recursion allows)."""
    for name in os.listdir(path):
        subprocess.run(["rm", "-rf", "--one-file-system", "--", os.path.join(path, name)], check=False)


def empty_dir(path: str) -> None:
    """Remove everything inside ``path`` (symlinks are removed, never followed)."""
    try:
        entries = list(os.scandir(path))
    except OSError:
        return
    for e in entries:
        if e.is_dir(follow_symlinks=False):
            shutil.rmtree(e.path, ignore_errors=True)
        else:
            try:
                os.unlink(e.path)
            except OSError:
                pass


def memfd_kb(pids: list[int]) -> int:
    """KiB held by the memory files (memfd_create) that ``pids`` have open, each file counted once."""
    seen, total = set(), 0
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            path = f"/proc/{pid}/fd/{fd}"
            try:
                if not os.readlink(path).startswith("/memfd:"):
                    continue
                st = os.stat(path)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks // 2
    return total


# --------------------------------------------------------------------------- without namespaces


def fallback_workbase() -> str:
    base = tempfile.mkdtemp(prefix="ponder-sandbox-")
    os.chmod(base, 0o711)  # the program may enter its own directory but not list the others
    return base


def remove_owned_by(uid: int, dirs: tuple[str, ...]) -> None:
    """Remove the top-level entries of ``dirs`` owned by ``uid`` (files a program left in shared places)."""
    for d in dirs:
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for e in entries:
            try:
                if e.stat(follow_symlinks=False).st_uid != uid:
                    continue
                if e.is_dir(follow_symlinks=False):
                    shutil.rmtree(e.path, ignore_errors=True)
                else:
                    os.unlink(e.path)
            except OSError:
                continue


def _process_table() -> dict[int, tuple[int, str, int]]:
    """pid -> (ppid, state, uid) for every visible process."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read().decode("utf-8", "replace")
            uid = os.stat(f"/proc/{name}").st_uid
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        table[int(name)] = (int(fields[1]), fields[0], uid)
    return table


def descendants(root_pid: int, *, uid: int | None = None, table: dict | None = None) -> list[int]:
    """Live descendants of ``root_pid`` (orphans come back to it as a child subreaper), plus with ``uid``
    every live process of that uid."""
    table = _process_table() if table is None else table
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = set(), [root_pid]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    if uid is not None:
        out |= {pid for pid, (_, _, u) in table.items() if u == uid}
    out.discard(root_pid)
    return sorted(p for p in out if table[p][1] != "Z")


def kill_descendants(root_pid: int, uid: int | None = None) -> None:
    """SIGKILL all descendants until none is left, reaping what comes back to us."""
    for _ in range(200):
        pids = descendants(root_pid, uid=uid)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        if not pids:
            return
        time.sleep(0.002)
