"""``ponder demo thinkpo-real`` at its smallest size on a tiny model: the control matches ThinkPO step for
step on the same chosen answers, the preconditions are measured first, and the paired table adds up."""

import json

from ponder.demos.thinkpo_real import real_config, run_real, short_prefix
from ponder.records import read_problems
from tests.helpers import approx

SMALLEST = [
    "sft_problems=40",
    "pair_problems=20",
    "test_problems=6",
    "eval_samples=2",
    "eval_max_new_tokens=12",
    "eval_batch_size=16",
    "require_preconditions=false",
    "threads=1",
    "thinkpo.sft.examples_per_step=8",
    "thinkpo.dpo.pairs_per_step=8",
]


def _jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _metrics(folder):
    return _jsonl(folder / "metrics.jsonl")


def test_short_prefix_stops_before_the_result():
    assert short_prefix("2 - (4 - 1) = 1.\nSo the answer is \\boxed{1}.") == "2 - (4 - 1) ="
    assert short_prefix("9 - 3 * 2 = 3.") == "9 - 3 * 2 ="


def test_smallest_run_matches_the_control_to_thinkpo(tmp_path, tiny_model_dir):
    out = tmp_path / "run"
    settings = [f"model={tiny_model_dir}", *SMALLEST]
    # Stopped after the preconditions (how SFT settings are chosen on a development seed), nothing else ran;
    # the same folder then continues from the SFT model.
    first = run_real(out, real_config([*settings, "stop_after_preconditions=true"], 100), log=print)
    assert not (out / "thinkpo" / "dpo").exists() and set(first) == {"preconditions", "sft"}
    sft_weights = out / "thinkpo" / "sft" / "model" / "model.safetensors"
    stamp = sft_weights.stat().st_mtime_ns
    lines = []
    report = run_real(out, real_config(settings, 100), log=lines.append)
    assert sft_weights.stat().st_mtime_ns == stamp  # the SFT model was reused, not trained again

    # The held-out sums are not in the SFT set; the pairs are the SFT set's first questions.
    sft_prompts = {r["prompt"] for r in _jsonl(out / "data" / "sft.jsonl")}
    test = list(read_problems(out / "data" / "test.jsonl"))
    assert len(test) == 6 and not sft_prompts & {p.prompt for p in test}
    pair_prompts = [p.prompt for p in read_problems(out / "data" / "pairs.jsonl")]
    assert len(pair_prompts) == 20 and set(pair_prompts) <= sft_prompts

    # Preconditions are measured (and printed) before ThinkPO runs.
    pre = json.loads((out / "preconditions.json").read_text())
    assert report["preconditions"] == pre
    assert lines.index(next(x for x in lines if x.startswith("preconditions:"))) < lines.index(
        next(x for x in lines if x.startswith("3/5"))
    )

    # The control: SFT from the same SFT model on the pairs' chosen answers, same steps, examples per step,
    # lr and schedule as ThinkPO.
    dpo = json.loads((out / "thinkpo" / "dpo" / "summary.json").read_text())
    ctl = json.loads((out / "sft-continued" / "summary.json").read_text())
    kept = report["pairs"]["kept"]
    assert dpo["steps"] == ctl["steps"] == -(-kept // 8) > 0
    assert ctl["config"]["data"] == [str(out / "thinkpo" / "pairs" / "pairs.jsonl")]
    assert ctl["config"]["model"] == dpo["config"]["model"] == str(out / "thinkpo" / "sft" / "model")
    for key in ("lr", "lr_schedule", "warmup_ratio", "min_lr_ratio", "max_grad_norm", "adam_betas"):
        assert ctl["config"][key] == dpo["config"][key], key
    assert ctl["config"]["examples_per_step"] == dpo["config"]["pairs_per_step"] == 8
    d_steps, c_steps = _metrics(out / "thinkpo" / "dpo"), _metrics(out / "sft-continued")
    assert [m["lr"] for m in c_steps] == [m["lr"] for m in d_steps]
    chosen = [p["chosen"] for p in _jsonl(out / "thinkpo" / "pairs" / "pairs.jsonl")]
    assert sum(m["examples"] for m in c_steps) == len(chosen) == kept

    # Rows and paired differences agree: a mean of per-problem differences is the difference of the means.
    rows = {r["name"]: r for r in report["rows"]}
    assert list(rows) == ["sft", "sft-continued", "thinkpo"]
    by = {r["comparison"]: r for r in report["paired"]}
    for a, b in (("thinkpo", "sft-continued"), ("thinkpo", "sft")):
        d = by[f"{a} - {b}"]
        assert d["greedy"] == approx(rows[a]["greedy_accuracy"] - rows[b]["greedy_accuracy"], factor=8)
        assert d["pass@1"] == approx(rows[a]["pass@1"] - rows[b]["pass@1"], factor=8)
        assert d["tokens"] == approx(rows[a]["mean_tokens"] - rows[b]["mean_tokens"], factor=8)
    ev = json.loads((out / "eval" / "thinkpo-sampled" / "report.json").read_text())["benchmarks"]["test"]
    assert rows["thinkpo"]["pass@1"] == approx(ev["accuracy"], factor=8)
    assert rows["thinkpo"]["maj@k"] == approx(ev["maj@2"], factor=8)
    assert sum(r["problems"] for r in report["by_ops"]) == 6
    assert "| thinkpo |" in (out / "report.md").read_text()
