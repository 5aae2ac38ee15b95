"""Errors a user can act on.

Every error raised for bad input names where the problem is (file, line, field) and what was found,
so the CLI can print it as one line and exit non-zero without a traceback.
"""

from __future__ import annotations

from pathlib import Path


class PonderError(Exception):
    """An error caused by input or configuration, reported to the user as one line."""


class InputError(PonderError):
    """A record file is malformed.

    Formatted as ``FILE:LINE: field 'NAME': MESSAGE`` (line and field omitted when unknown).
    """

    def __init__(self, path: str | Path, message: str, *, line: int | None = None, field: str | None = None):
        self.path = str(path)
        self.line = line
        self.field = field
        self.message = message
        where = self.path if line is None else f"{self.path}:{line}"
        what = message if field is None else f"field '{field}': {message}"
        super().__init__(f"{where}: {what}")


class ConfigError(PonderError):
    """A configuration file or override is invalid (unknown key, wrong type)."""
