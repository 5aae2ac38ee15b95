"""Find the program in a model's response.

Order: the last ``<BEGIN>``...``<END>`` block (the PFPO authors' markers); else the last fenced block tagged
``python``/``py``/``python3``; else the last untagged fenced block; else, when the whole response compiles as
Python, the response itself. An unterminated final fence (a response cut by its token budget) counts as a
block up to the end of the text. Returns None when there is no program. Never raises.
"""

from __future__ import annotations

import re

_MARKERS = re.compile(r"<BEGIN>(.*?)<END>", re.DOTALL)
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PYTHON_TAGS = {"python", "py", "python3"}


def extract_code(text: str) -> str | None:
    """The program in ``text`` (see the module docstring for the order), or None."""
    if not isinstance(text, str) or not text.strip():
        return None
    marked = [m.strip("\n") for m in _MARKERS.findall(text) if m.strip()]
    if marked:
        return _clean(marked[-1])
    blocks = [(tag.lower(), body) for tag, body in _FENCE.findall(text) if body.strip()]
    tagged = [body for tag, body in blocks if tag in _PYTHON_TAGS]
    if tagged:
        return _clean(tagged[-1])
    untagged = [body for tag, body in blocks if not tag]
    if untagged:
        return _clean(untagged[-1])
    if len(text) > 200_000:
        return None
    try:
        compile(text, "<response>", "exec")
    except Exception:  # noqa: BLE001 -- SyntaxError, but also RecursionError/MemoryError on pathological text
        return None
    return _clean(text)


def _clean(code: str) -> str:
    code = code.strip("\n")
    return code + "\n"
