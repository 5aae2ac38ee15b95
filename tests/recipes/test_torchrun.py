"""The 8-GPU walk-throughs of docs/scale.md, run as written at tiny size on two torchrun processes, equal one
process: the stages around the trainers share their work or leave it to process 0, never writing one file
twice."""

import json
import re
import shlex

import pytest

from ponder.io import write_records
from ponder.recipes.registry import run_config
from ponder.tasks.synthetic import make
from ponder.train.metrics import read_metrics
from tests.helpers import ROOT, approx, chat, fine_tune, torchrun
from tests.recipes.pfpo.test_math import SMALLEST

CONFIGS = ROOT / "ponder/recipes/configs"
LAUNCH = [
    "accelerate",
    "launch",
    "--config_file",
    "ponder/recipes/configs/accelerate/fsdp.yaml",
    "-m",
    "ponder",
]
# What needs a GPU: vLLM (the tiny configs sample with hf) and its engine options.
GPU_ONLY = ("generation.backend=", "generation.gpu_memory_utilization=", "generation.max_model_len=")


def walkthrough(config: str, tiny: str) -> tuple[str, list[str]]:
    """The command of docs/scale.md that runs ``config``, at tiny size: ``(the tiny config, its overrides
    without the GPU-only ones and the output folder)``; torchrun with two processes takes the launcher's place."""
    for block in re.findall(r"```sh\n(.*?)```", (ROOT / "docs/scale.md").read_text(), re.S):
        cmd = shlex.split(block.replace("\\\n", " "))
        if f"ponder/recipes/configs/{config}" in cmd:
            assert cmd[: len(LAUNCH)] == LAUNCH and (ROOT / LAUNCH[3]).is_file()
            run, path, *overrides = cmd[len(LAUNCH) :]
            assert (run, path) == ("run", f"ponder/recipes/configs/{config}") and (ROOT / path).is_file()
            kept = [o for o in overrides if not o.startswith((*GPU_ONLY, "output="))]
            return str(CONFIGS / tiny), kept
    raise AssertionError(f"docs/scale.md runs no {config}")


SHORT = "The answer is \\boxed{7}."


@pytest.fixture(scope="module")
def thinkpo_data(tmp_path_factory, tiny_model_dir):
    """Long-CoT SFT data of 24 sums (a third of them with answer 7), held-out problems, and a short model that
    answers every question with ``SHORT`` (right for the sums whose answer is 7)."""
    root = tmp_path_factory.mktemp("thinkpo")
    problems = make("arithmetic", 120, 3, min_ops=1, max_ops=2, max_operand=9, max_value=9)
    sevens = [p for p in problems if p.answer == "7"][:8]
    others = [p for p in problems if p.answer != "7"]
    train, test = sevens + others[:16], others[16:22]
    rows = [{"id": p.id, "prompt": p.prompt, "completion": p.meta["long"], "answer": p.answer} for p in train]
    write_records(root / "sft.jsonl", rows)
    write_records(root / "test.jsonl", test)
    short = fine_tune(tiny_model_dir, root / "short", [chat(p.prompt, SHORT) for p in problems[:32]], 40)
    return root, short, len(sevens)


def overrides(root, model, short, out) -> list[str]:
    return [
        f"model={model}",
        f"sft_data=[{root / 'sft.jsonl'}]",
        f"short.model={short}",
        f"output={out}",
        f"eval.benchmarks=[{root / 'test.jsonl'}:boxed]",
        "sft.epochs=1",
        "sft.examples_per_step=8",
        "dpo.pairs_per_step=4",
        "short.temperature=0",
        "short.max_new_tokens=16",
        "eval.samples_per_problem=2",
        "eval.k=[1,2]",
        "eval.max_new_tokens=24",
        "generation.threads=1",
    ]


def samples(path) -> dict[str, dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len({r["id"] for r in rows}) == len(rows)
    return {r["id"]: r for r in rows}


def trained_eval(two, one, problems) -> None:
    """Evaluation samples of a model trained on two processes against one: every problem once, in input order,
    with as many answers. (Not equal texts: the two trainings' weights differ by rounding -- gradients summed
    in another order, amplified by AdamW -- which can flip a sampled token.)"""
    a, b = samples(two), samples(one)
    assert list(a) == [json.loads(line)["id"] for line in problems.read_text().splitlines()]
    assert {k: len(v["responses"]) for k, v in a.items()} == {k: len(v["responses"]) for k, v in b.items()}


def test_thinkpo_on_two_processes_equals_one(tmp_path, tiny_model_dir, thinkpo_data):
    root, short, sevens = thinkpo_data
    config, documented = walkthrough("thinkpo-7b.yaml", "thinkpo-tiny.yaml")
    torchrun("run", config, *documented, *overrides(root, tiny_model_dir, short, tmp_path / "two"))
    run_config(config, [*documented, *overrides(root, tiny_model_dir, short, tmp_path / "one")])
    one, two = tmp_path / "one", tmp_path / "two"
    assert samples(two / "short/samples.jsonl") == samples(one / "short/samples.jsonl")
    assert {r["responses"][0] for r in samples(two / "short/samples.jsonl").values()} == {SHORT}
    pairs = (two / "pairs/pairs.jsonl").read_text()
    assert pairs == (one / "pairs/pairs.jsonl").read_text() and pairs.count("\n") == sevens
    for stage, keys in (("sft", ("loss",)), ("dpo", ("loss", "rewards_chosen", "rewards_rejected"))):
        a, b = read_metrics(two / stage / "metrics.jsonl"), read_metrics(one / stage / "metrics.jsonl")
        assert [r["step"] for r in a] == [r["step"] for r in b] and a
        for x, y in zip(a, b, strict=True):
            for key in keys:  # two processes sum gradients in another order: fp32 roundings of order-1 terms
                assert x[key] == approx(y[key], factor=256, scale=1.0), (stage, key, x, y)
    for name in ("sft", "thinkpo"):
        trained_eval(
            two / "eval" / name / "samples/test.jsonl",
            one / "eval" / name / "samples/test.jsonl",
            root / "test.jsonl",
        )
    summary = json.loads((two / "thinkpo.json").read_text())
    assert summary["pairs"]["kept"] == sevens and set(summary["eval"]) == {"sft", "thinkpo"}
    assert not [p for p in two.rglob("*") if ".rank" in p.name]


def test_pfpo_on_two_processes_equals_one(tmp_path, sums_model):
    from ponder.demos.pfpo import sum_problems

    # 32 prompts: enough that several problems have both a prefix whose completions reach its label and one
    # whose completions do not (the tiny model is barely trained), so the pair files are not empty
    write_records(tmp_path / "prompts.jsonl", sum_problems(32, 8, min_terms=3, max_terms=4))
    write_records(tmp_path / "test.jsonl", sum_problems(4, 9, min_terms=3, max_terms=4))
    config, documented = walkthrough("pfpo-math-llama.yaml", "pfpo-math-tiny.yaml")
    for out in ("two", "one"):
        args = [
            *documented,
            *SMALLEST,
            "prompts_per_iteration=32",
            f"model={sums_model}",
            f"output={tmp_path / out}",
            f"prompts={tmp_path / 'prompts.jsonl'}",
            f"eval.benchmarks=[{tmp_path / 'test.jsonl'}]",
            "eval.temperature=1.0",
            "eval.samples_per_problem=2",
            "train.max_steps=2",
            "generation.threads=1",
        ]
        if out == "two":
            torchrun("run", config, *args)
        else:
            run_config(config, args)
    one, two = tmp_path / "one", tmp_path / "two"
    # Sampled by the starting model: equal texts (each sample's seed depends on its prompt and index only).
    for name in (
        "iter0/eval/samples/test.jsonl",
        "iter1/samples.jsonl",
        "iter1/pairs_process.completions.jsonl",
        "iter1/labelled.jsonl",  # in the order of the samples, which is input order on two processes
        "iter1/pairs_outcome.jsonl",
        "iter1/pairs_process.jsonl",
    ):
        assert samples(two / name) == samples(one / name), name
    for name in ("pairs_outcome.jsonl", "pairs_process.jsonl"):
        assert (two / "iter1" / name).read_text().count("\n") > 0, name
    a, b = read_metrics(two / "iter1/train/metrics.jsonl"), read_metrics(one / "iter1/train/metrics.jsonl")
    assert [r["step"] for r in a] == [r["step"] for r in b] == [1, 2]
    # The same pairs, but not the same steps: one process writes samples (so labels and pairs) in the order
    # they finish, two processes in input order, and the trainer's seeded shuffle follows the file's order.
    assert [r["pairs"] for r in a] == [r["pairs"] for r in b] and all(r["loss"] > 0 for r in a)
    trained_eval(
        two / "iter1/eval/samples/test.jsonl", one / "iter1/eval/samples/test.jsonl", tmp_path / "test.jsonl"
    )
    rows = [json.loads((d / "report.json").read_text())["rows"] for d in (two, one)]
    assert [r["name"] for r in rows[0]] == [r["name"] for r in rows[1]] == ["sft", "iter1"]
    assert rows[0][0]["accuracy"] == rows[1][0]["accuracy"]
    assert not [p for p in two.rglob("*") if ".rank" in p.name]
