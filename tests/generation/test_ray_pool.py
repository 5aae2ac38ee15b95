"""Data-parallel generation over Ray (``pytest -m ray``; needs the ray extra), on a head started here on
127.0.0.1: two model copies give exactly the samples of one."""

import subprocess

import pytest

from ponder.generation.base import SamplingParams
from ponder.generation.hf import HFGenerator
from ponder.io import write_records
from ponder.records import read_samples
from ponder.tasks.synthetic import make
from tests.helpers import THREADS_ENV, ponder_cmd, subprocess_env

pytestmark = pytest.mark.ray

PROMPTS = [[{"role": "user", "content": f"Compute {i} - {3 * i}."}] for i in range(7)] + ["raw 1, 2,"]


def test_two_workers_give_exactly_the_single_process_samples(tiny_model_dir, ray_head):
    from ponder.generation.ray_pool import RayGenerator

    params = [SamplingParams(n=2, max_new_tokens=8 + k, seed=3) for k in range(len(PROMPTS))]
    with RayGenerator(
        "hf", tiny_model_dir, workers=2, shard_prompts=3, batch_size=4, address=ray_head.address
    ) as pool:
        assert len({w["pid"] for w in pool.workers_info}) == 2
        assert [(w["threads"], w["resources"]) for w in pool.workers_info] == [(1, {"CPU": 1.0})] * 2
        got = pool.generate(PROMPTS, params)
        seen = [i for i, _ in pool.generate_iter(PROMPTS, params)]
        assert pool.stats["generated_tokens"] == sum(c.num_tokens for comps in got for c in comps)
    assert got == HFGenerator(tiny_model_dir).generate(PROMPTS, params)
    assert sorted(seen) == list(range(len(PROMPTS)))


def test_generate_command_with_workers(tmp_path, tiny_model_dir, ray_head):
    write_records(tmp_path / "p.jsonl", make("arithmetic", 6, seed=2))
    args = [
        "--model",
        str(tiny_model_dir),
        "--input",
        str(tmp_path / "p.jsonl"),
        "--n",
        "2",
        "--max-new-tokens",
        "8",
    ]
    on_ray = ["--workers", "2", "--ray-address", ray_head.address, "--cpus-per-worker", "1"]
    for name, extra in (("one", []), ("two", on_ray)):
        r = subprocess.run(
            ponder_cmd("generate", *args, "--output", str(tmp_path / f"{name}.jsonl"), *extra),
            capture_output=True,
            text=True,
            env=subprocess_env(**THREADS_ENV),
            timeout=600,
        )
        assert r.returncode == 0, r.stderr[-2000:]
    one = {s.id: s.to_dict() for s in read_samples(tmp_path / "one.jsonl")}
    # the same records, fingerprints included: a run resumed with other workers keeps what it has
    assert {s.id: s.to_dict() for s in read_samples(tmp_path / "two.jsonl")} == one and len(one) == 6
