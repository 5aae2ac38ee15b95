"""The program to run for a response: the code extracted from it, completed with the problem's own code.

Function problems in the HumanEval style give the model a signature and docstring (``meta.prompt_code``) and
call ``meta.entry_point``. A chat model answers either with the whole function or with its body only, and
often leaves out the imports the signature needs (``from typing import List``). So:

- a response whose code defines the entry point runs after the whole prompt code when that compiles on its own
  (its imports and any helper it defines, e.g. HumanEval/10's ``is_palindrome``, stay available; the prompt's
  docstring-only function is redefined by the response's), else after the prompt code's import lines;
- a response whose code does not (a body, or a helper only) runs after the whole prompt code -- the way
  HumanEval's own harness joins prompt and completion.

Stdin problems and problems without ``prompt_code`` run the extracted code unchanged. Never raises.
"""

from __future__ import annotations

import re

from ponder.verify.code_extract import extract_code

_IMPORT = re.compile(r"^(?:from\s+\S+\s+import\s+.+|import\s+.+)$")


def defines(code: str, name: str) -> bool:
    """Whether ``code`` has a top-level or nested ``def name(`` / ``class name``."""
    return re.search(rf"^\s*(?:async\s+)?(?:def|class)\s+{re.escape(name)}\b", code, re.MULTILINE) is not None


def import_lines(code: str) -> str:
    lines = [
        line for line in code.split("\n") if _IMPORT.match(line.strip()) and not line.startswith((" ", "\t"))
    ]
    return "\n".join(lines) + ("\n" if lines else "")


def _compiles(code: str) -> bool:
    try:
        compile(code, "<prompt>", "exec")
    except Exception:  # noqa: BLE001 -- SyntaxError, but also RecursionError/MemoryError on pathological text
        return False
    return True


def assemble_program(
    text: str, *, entry_point: str | None = None, prompt_code: str | None = None
) -> str | None:
    """The program for response ``text`` (see the module docstring), or None when it holds no code."""
    code = extract_code(text)
    if not prompt_code or not entry_point:
        return code
    if code is None:
        # The body alone, indented, does not compile on its own: try it after the signature.
        body = text if text.startswith((" ", "\t")) else None
        return None if body is None else prompt_code + body.rstrip("\n") + "\n"
    if defines(code, entry_point):
        if _compiles(prompt_code):
            return prompt_code + code
        head = import_lines(prompt_code)
        return head + code if head and head not in code else code
    return prompt_code + code


def problem_program(meta: dict, text: str) -> str | None:
    """:func:`assemble_program` with ``entry_point`` and ``prompt_code`` taken from a problem's ``meta``."""
    ep, pc = meta.get("entry_point"), meta.get("prompt_code")
    return assemble_program(
        text, entry_point=ep if isinstance(ep, str) else None, prompt_code=pc if isinstance(pc, str) else None
    )
