"""Reference log-probs computed once, cached next to the data.

``precompute_ref=true`` runs the reference model over every pair once before training and stores the
summed log-probs of chosen and rejected per record in ``DATA_DIR/.ponder_ref/NAME.KEY.json``. ``KEY``
hashes the data file's bytes, the reference model's weights and config, and everything that changes the
token ids or the numbers (chat template switch, ``max_length``, overlong policy, bf16), so a changed input
never reuses a stale cache. When the data folder is not writable the cache goes to ``OUT/ref_cache``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ponder.io import write_json

VERSION = 1


def file_digest(path: str | Path, h=None) -> str:
    h = h or hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_digest(path: str | Path) -> str:
    """Hash of a model folder's weights and config (a hub name is hashed as its name)."""
    path = Path(path)
    h = hashlib.sha256()
    if not path.is_dir():
        h.update(str(path).encode())
        return h.hexdigest()
    for f in sorted(path.iterdir()):
        if f.suffix in (".safetensors", ".bin") or f.name in ("config.json", "model.safetensors.index.json"):
            h.update(f.name.encode())
            file_digest(f, h)
    return h.hexdigest()


def cache_key(data_path: str | Path, ref_model: str | Path, settings: dict[str, Any]) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"v": VERSION, "settings": settings}, sort_keys=True).encode())
    h.update(file_digest(data_path).encode())
    h.update(model_digest(ref_model).encode())
    return h.hexdigest()[:20]


def cache_path(data_path: str | Path, key: str, fallback_dir: str | Path) -> Path:
    data_path = Path(data_path)
    folder = data_path.parent / ".ponder_ref"
    if not os.access(data_path.parent, os.W_OK):
        folder = Path(fallback_dir)
    return folder / f"{data_path.name}.{key}.json"


def load(path: str | Path, key: str) -> list[list[float] | None] | None:
    """The cached ``[[chosen, rejected] | None per record]``, or ``None`` when absent or for another key."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return obj.get("logps") if obj.get("key") == key else None


def store(path: str | Path, key: str, logps: list[list[float] | None]) -> None:
    write_json(path, {"key": key, "logps": logps})
