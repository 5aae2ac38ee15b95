"""Helpers shared by tests: run ``ponder`` in a subprocess with this interpreter and this checkout."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def ponder_cmd(*args: str) -> list[str]:
    """The command line to run ``ponder`` in a subprocess with this interpreter."""
    return [sys.executable, "-m", "ponder", *args]


def subprocess_env(**extra: str) -> dict:
    """The environment for a subprocess: this checkout first on PYTHONPATH, offline, no progress bars."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


# --------------------------------------------------------------------------- float tolerances
# fp32 rounds each result to 24 bits: relative error up to FP32_EPS / 2 per operation. CPUs of one kind
# differ in how they block and order sums (SIMD width, AMX tiles), so fp32 results agree only to a few
# units of FP32_EPS times the magnitude of what was summed. Every float comparison in the tests allows
# FP32_EPS x magnitude x factor, the factor justified where it is used (about the number of roundings
# the two sides can differ by). float64 results (plain Python arithmetic) use the same bound: it is far
# looser than their own rounding and far tighter than any real mistake.
FP32_EPS = 2.0**-23  # 1.19e-7
_REPORT = os.environ.get("PONDER_TOLERANCE_REPORT")  # a file: each comparison appends its measured factor


def fp32_tol(magnitude: float, factor: float) -> float:
    """The absolute tolerance for values of size ``magnitude`` that may differ by ``factor`` roundings."""
    return FP32_EPS * abs(float(magnitude)) * factor


def _magnitude(values, scale: float | None) -> float:
    flat = list(values.values()) if isinstance(values, dict) else values
    flat = list(flat) if isinstance(flat, list | tuple) else [flat]
    return max([abs(float(v)) for v in flat] + [abs(scale or 0.0)])


def approx(expected, *, factor: float, scale: float | None = None):
    """``pytest.approx(expected)`` within ``fp32_tol(magnitude, factor)``; the magnitude is the largest
    ``|expected|`` (numbers, lists or dicts of numbers) or ``scale`` when given (use it for an expected 0,
    with the size of what was added up to it)."""
    import pytest

    return pytest.approx(expected, rel=0, abs=fp32_tol(_magnitude(expected, scale), factor))


def assert_close(actual, expected, *, factor: float, scale: float | None = None) -> None:
    """Tensors equal in shape and dtype and within ``fp32_tol(magnitude, factor)`` elementwise, where the
    magnitude is ``max |expected|`` (or ``scale`` when larger: the size of the terms summed into it)."""
    import torch

    expected = torch.as_tensor(expected)
    magnitude = max(float(expected.abs().max()) if expected.numel() else 0.0, abs(scale or 0.0))
    tol = fp32_tol(magnitude, factor)
    if _REPORT:  # measured factor, allowed factor, largest difference, magnitude
        diff = (
            float((torch.as_tensor(actual).double() - expected.double()).abs().max())
            if expected.numel()
            else 0.0
        )
        with open(_REPORT, "a") as fh:
            test = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]
            fh.write(
                f"{test} {diff / max(fp32_tol(magnitude, 1), 1e-300):.3g} {factor} {diff:.3g} {magnitude:.3g}\n"
            )
    torch.testing.assert_close(actual, expected, atol=tol, rtol=0)


def assert_exact(actual, expected) -> None:
    """Tensors equal to the last bit: for results of exact arithmetic (integers, sums and products of
    dyadic fractions such as 0.25 or 1.875), which every IEEE machine computes alike."""
    import torch

    torch.testing.assert_close(actual, torch.as_tensor(expected), atol=0, rtol=0)
