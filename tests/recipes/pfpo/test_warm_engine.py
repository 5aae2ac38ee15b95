"""One engine for a whole PFPO run: every generating stage of every iteration borrows it, each new policy is
reloaded into it, and it is closed at the end (and on error).

vLLM itself runs in ``make test-vllm`` (tests/recipes/pfpo/test_vllm.py). Here the run's engines are started
by a transformers generator that reloads a model folder's weights into its loaded model in place, as the
vLLM engine does, so the wiring runs in the default suite."""

import json
import shutil

import pytest

from ponder.config import load_config
from ponder.generation.backend import model_identity
from ponder.generation.base import SamplingParams
from ponder.generation.hf import HFGenerator, load_model
from ponder.generation.warm import warm_engines
from ponder.models.tiny import build_tiny_model
from ponder.recipes.pfpo.math import PFPOConfig
from tests.recipes.pfpo.test_math import SMALLEST

# Every record file a stage writes from the model's samples, in iterations 0-2.
RECORDS = [
    "iter0/eval/samples/test.jsonl",
    *(
        f"iter{k}/{name}"
        for k in (1, 2)
        for name in (
            "samples.jsonl",
            "pairs_process.completions.jsonl",
            "pairs_outcome.jsonl",
            "pairs_process.jsonl",
            "eval/samples/test.jsonl",
        )
    ),
]


class ReloadingHF(HFGenerator):
    """A transformers generator that takes new weights in place (``load_weights``), as the vLLM engine does."""

    def load_weights(self, folder) -> None:
        self.model.load_state_dict(load_model(folder)[0].state_dict())


def start_hf(model, options):
    return ReloadingHF(model, dtype=options["dtype"])


def two_iterations(model, root, *overrides) -> PFPOConfig:
    """The smallest PFPO math run, two iterations of 8 fresh sums each, evaluated on 4 sums."""
    from ponder.demos.pfpo import sum_problems
    from ponder.io import write_records

    write_records(root / "prompts.jsonl", sum_problems(16, 8, min_terms=3, max_terms=4))
    write_records(root / "test.jsonl", sum_problems(4, 9, min_terms=3, max_terms=4))
    args = [
        *SMALLEST,
        "iterations=2",
        "train.max_steps=2",
        f"model={model}",
        f"output={root / 'run'}",
        f"prompts={root / 'prompts.jsonl'}",
        f"eval.benchmarks=[{root / 'test.jsonl'}]",
    ]
    return load_config(PFPOConfig, None, [*args, *overrides])


def records(run) -> dict[str, list[dict]]:
    """The run's record files, each sorted (a stage writes samples in the order they finish), without their
    resume fingerprints (those name the backend and the model files' times)."""
    out = {}
    for name in RECORDS:
        rows = [json.loads(line) for line in (run / name).read_text().splitlines()]
        rows = [{k: v for k, v in r.items() if k != "fingerprint"} for r in rows]
        out[name] = sorted(rows, key=lambda r: json.dumps(r, sort_keys=True))
    return out


def test_one_engine_serves_every_stage_and_takes_each_new_policy(sums_model, tmp_path):
    """A two-iteration run with backend vllm, its engine started once and given the iteration-1 and
    iteration-2 policies by reloading, writes the same samples, completions and pairs as the hf backend
    opening a new generator for every stage; the run's engine is closed when it ends."""
    from ponder.recipes.pfpo.math import run

    (tmp_path / "warm").mkdir()
    (tmp_path / "new").mkdir()
    with warm_engines(start=start_hf) as pool:
        warm = run(two_iterations(sums_model, tmp_path / "warm", "generation.backend=vllm"))
        assert (pool.starts, pool.reloads) == (1, 2) and pool.engine is not None
    assert pool.engine is None
    new = run(two_iterations(sums_model, tmp_path / "new", "generation.backend=hf"))
    assert [r["name"] for r in warm["rows"]] == ["sft", "iter1", "iter2"]
    a, b = records(tmp_path / "warm/run"), records(tmp_path / "new/run")
    for name in RECORDS:
        assert a[name] == b[name], name
    assert len(a["iter2/pairs_outcome.jsonl"]) > 0
    assert [r["accuracy"] for r in warm["rows"]] == [r["accuracy"] for r in new["rows"]]


def test_off_each_stage_starts_its_own(tmp_path, tiny_model_dir):
    """warm_engine=false inside a block that shares engines: a stage gets no shared engine."""
    from ponder.generation.backend import BackendSettings

    with warm_engines(start=start_hf) as pool, warm_engines(False) as none:
        assert none is None
        with BackendSettings(backend="hf").open(tiny_model_dir) as gen:
            assert isinstance(gen, HFGenerator)
    assert pool.starts == 0


def test_a_model_of_another_shape_restarts_the_engine_saying_so(tmp_path, tiny_model_dir, capsys):
    """Same shape: reloaded; another architecture size or another chat template: a new engine, with a
    message; other engine options: a new engine in the old one's place; the block's end (here an error)
    closes the last."""
    other = build_tiny_model(tmp_path / "other-nano", "nano", seed=1)
    micro = build_tiny_model(tmp_path / "micro", "micro", seed=0)
    templated = tmp_path / "templated"
    shutil.copytree(micro, templated)
    path = templated / "chat_template.jinja"
    path.write_text(path.read_text().replace("<|im_start|>", "<|im_start|> "))
    closed = []

    class Closing(ReloadingHF):
        def close(self):
            closed.append(self)

    with (
        pytest.raises(RuntimeError, match="stage failed"),
        warm_engines(start=lambda m, o: Closing(m)) as pool,
    ):
        first = pool.open(tiny_model_dir, {"dtype": "float32"})
        first.close()  # a stage is done: the engine keeps running
        assert not closed
        pool.open(other, {"dtype": "float32"})
        assert (pool.starts, pool.reloads) == (1, 1) and "restarting" not in capsys.readouterr().err
        last = pool.open(micro, {"dtype": "float32"})
        assert (pool.starts, pool.reloads) == (2, 1) and len(closed) == 1
        assert f"{micro} cannot be reloaded into the vLLM engine running {other}" in capsys.readouterr().err
        assert model_identity(last)["model"] == str(micro) and last.max_positions == 4096
        assert len(last.generate(["1 + 1 ="], SamplingParams(max_new_tokens=4))[0]) == 1
        pool.open(templated, {"dtype": "float32"})
        assert (pool.starts, pool.reloads) == (3, 1) and len(closed) == 2
        assert (
            f"{templated} cannot be reloaded into the vLLM engine running {micro}" in capsys.readouterr().err
        )
        pool.open(templated, {"dtype": "bfloat16"})  # other engine options: one engine at a time
        assert (pool.starts, pool.reloads, len(closed)) == (4, 1, 3)
        raise RuntimeError("stage failed")
    assert len(closed) == 4 and pool.engine is None
