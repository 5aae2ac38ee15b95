"""``ponder run`` of the tiny ThinkPO config at its smallest size on two torchrun processes equals one process:
the stages around the trainers share their work or leave it to process 0, never writing one file twice."""

import json

import pytest

from ponder.io import write_records
from ponder.recipes.registry import run_config
from ponder.tasks.synthetic import make
from ponder.train.metrics import read_metrics
from tests.helpers import ROOT, approx, chat, fine_tune, torchrun

CONFIGS = ROOT / "ponder/recipes/configs"
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


def test_thinkpo_on_two_processes_equals_one(tmp_path, tiny_model_dir, thinkpo_data):
    root, short, sevens = thinkpo_data
    config = f"{CONFIGS}/thinkpo-tiny.yaml"
    torchrun("run", config, *overrides(root, tiny_model_dir, short, tmp_path / "two"))
    run_config(config, overrides(root, tiny_model_dir, short, tmp_path / "one"))
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
        a, b = (
            samples(two / "eval" / name / "samples/test.jsonl"),
            samples(one / "eval" / name / "samples/test.jsonl"),
        )
        assert list(a) == [p["id"] for p in map(json.loads, (root / "test.jsonl").read_text().splitlines())]
        assert {k: v["responses"] for k, v in a.items()} == {k: v["responses"] for k, v in b.items()}
    summary = json.loads((two / "thinkpo.json").read_text())
    assert summary["pairs"]["kept"] == sevens and set(summary["eval"]) == {"sft", "thinkpo"}
    assert not [p for p in two.rglob("*") if ".rank" in p.name]
