"""Installed packages for the jobs that name them: ``SandboxPool(packages=("numpy",))`` offers them, a job with
``packages=("numpy",)`` gets them; every other job sees the standard library only.

The host resolves each name to its files (the package folder, or the module file, plus the ``<name>.libs``
folder wheels keep their shared libraries in) and to the system libraries its extension modules load. A
worker binds them, read-only, into a hidden staging folder of its root, keeps a descriptor of each and covers
the folder; for a program whose job names packages the supervisor mounts a fresh ``/site`` with just those,
on the program's ``sys.path``, and removes it when the program ends. Without namespaces the job's packages'
folders are put on its ``sys.path`` (the host's files are visible there anyway).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

SITE = "/site"  # where a job's packages appear inside the sandbox
STAGE = "/.ponder-packages"  # where a worker keeps all offered packages, covered before any program runs

_MAPS = (
    "import importlib, sys\nfor n in sys.argv[1:]:\n    importlib.import_module(n)\n"
    "for line in open('/proc/self/maps'):\n    p = line.split(maxsplit=5)\n"
    "    if len(p) == 6 and p[5].startswith('/') and '.so' in p[5]:\n        print(p[5].strip())\n"
)


def resolve(names: tuple[str, ...]) -> dict:
    """``{"paths": {name: [host paths]}, "libraries": [shared libraries outside them]}``; raises ValueError
    naming a package that is not installed."""
    paths: dict[str, list[str]] = {}
    for name in names:
        if not name.isidentifier():
            raise ValueError(f"packages: {name!r} is not a top-level module name")
        spec = importlib.util.find_spec(name)
        if spec is None:
            raise ValueError(f"packages: {name!r} is not installed for {sys.executable}")
        found = list(spec.submodule_search_locations or []) or [spec.origin]
        libs = os.path.join(os.path.dirname(found[0]), f"{name}.libs")
        paths[name] = [os.path.realpath(p) for p in found + ([libs] if os.path.isdir(libs) else []) if p]
    libraries: list[str] = []
    if names:
        p = subprocess.run(
            [sys.executable, "-I", "-c", _MAPS, *names],
            capture_output=True,
            text=True,
            env={},
            cwd="/",
            timeout=300,
        )
        if p.returncode != 0:
            raise ValueError(f"packages: importing {', '.join(names)} failed: {p.stderr.strip()[-300:]}")
        inside = tuple(x + "/" for ps in paths.values() for x in ps)
        libraries = sorted(
            {os.path.realpath(x) for x in p.stdout.split("\n") if x and not x.startswith(inside)}
        )
    return {"paths": paths, "libraries": libraries}


def stage(root: str, packages: dict[str, list[str]], bind) -> None:
    """In the worker, before ``pivot_root``: bind every offered package under ``root/STAGE``."""
    os.makedirs(root + STAGE)
    for name, paths in packages.items():
        for p in paths:
            target = f"{root}{STAGE}/{name}/{os.path.basename(p)}"
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if os.path.isdir(p):
                os.mkdir(target)
            else:
                os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o644))
            bind(p, target)
    os.mkdir(root + SITE)


def open_staged(packages: dict[str, list[str]]) -> dict[str, list[tuple[str, int, bool]]]:
    """After ``pivot_root``: a descriptor of each staged item, kept by the supervisor; (name, fd, is_dir)."""
    out = {}
    for name, paths in packages.items():
        items = []
        for p in paths:
            staged = f"{STAGE}/{name}/{os.path.basename(p)}"
            items.append(
                (os.path.basename(p), os.open(staged, os.O_PATH | os.O_CLOEXEC), os.path.isdir(staged))
            )
        out[name] = items
    return out


def mount_site(staged: dict, names: list[str], ss) -> bool:
    """Per program, in the supervisor: a fresh read-only ``/site`` holding the named packages only."""
    if not names:
        return False
    ss.mount("tmpfs", SITE, "tmpfs", ss.MS_NOSUID | ss.MS_NODEV, "size=64k,nr_inodes=256,mode=755")
    for name in names:
        for item, fd, is_dir in staged[name]:
            target = f"{SITE}/{item}"
            if is_dir:
                os.mkdir(target)
            else:
                os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o644))
            ss.mount(f"/proc/self/fd/{fd}", target, None, ss.MS_BIND | ss.MS_REC)
            ss.mount(
                None, target, None, ss.MS_BIND | ss.MS_REMOUNT | ss.MS_RDONLY | ss.MS_NOSUID | ss.MS_NODEV
            )
    ss.mount(None, SITE, None, ss.MS_REMOUNT | ss.MS_RDONLY | ss.MS_NOSUID | ss.MS_NODEV)
    return True


def sys_path(cfg: dict, names: list[str]) -> list[str]:
    """What a program whose job names ``names`` gets on its sys.path."""
    if not names:
        return []
    if cfg["isolation"] == "namespaces":
        return [SITE]
    return sorted({os.path.dirname(p) for n in names for p in cfg["packages"][n]})
