"""``ponder run pfpo-code-tiny.yaml``: the PFPO-code iteration on the generic loop, as a user runs it."""

import json
import subprocess
from importlib import resources
from pathlib import Path

import pytest

from ponder.io import write_records
from ponder.recipes.registry import RECIPES, recipe_of
from ponder.tasks.synthetic import make
from tests.helpers import ponder_cmd, subprocess_env

TINY = str(resources.files("ponder.recipes").joinpath("configs", "pfpo-code-tiny.yaml"))
DEEPSEEK = str(resources.files("ponder.recipes").joinpath("configs", "pfpo-code-deepseek.yaml"))
ENV = {"OMP_NUM_THREADS": "1", "PONDER_NO_PROGRESS": "1"}
STEPS = ["inputs", "sample", "pairs_code", "pairs_code_process", "train", "eval"]


def _run(*args, check=True):
    proc = subprocess.run(
        ponder_cmd("run", *args), capture_output=True, text=True, env=subprocess_env(**ENV), timeout=900
    )
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_code_configs_name_their_recipe():
    """The file names start with "pfpo" (the math recipe); their ``recipe:`` key picks the code recipe."""
    assert recipe_of(TINY) == recipe_of(DEEPSEEK) == "pfpo-code"
    assert RECIPES["pfpo-code"][1] == "PFPOCodeConfig"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("process.labels=gold", "process.labels must be outcome.labels"),
        ("inputs.source=llm", "inputs_model is needed when inputs.source is llm"),
        ("eval.rule=math", "eval.rule must be code"),
        ("outcome.seed=4", "outcome.seed is set by the recipe"),
        ("outcome.margin=0", "margin and min_success must be >= 1"),
    ],
)
def test_what_cannot_run_is_refused_before_any_work(override, message):
    from ponder.config import load_config
    from ponder.errors import ConfigError
    from ponder.recipes.pfpo.code import PFPOCodeConfig

    paths = ["model=m", "output=o", "prompts=p.jsonl", "eval.benchmarks=[t.jsonl]"]
    with pytest.raises(ConfigError, match=message):
        load_config(PFPOCodeConfig, TINY, [*paths, override])


def small_overrides(tmp_path, model, prompts, bench):
    return [
        f"model={model}",
        f"output={tmp_path / 'run'}",
        f"prompts={prompts}",
        "inputs.n_inputs=6",
        "sample.samples_per_prompt=6",
        "sample.max_new_tokens=96",
        "outcome.min_success=3",
        "outcome.margin=2",
        "process.max_prefixes_per_problem=3",
        "process.completions_per_prefix=2",
        "process.margin=1",
        "process.max_new_tokens=96",
        "train.epochs=1",
        "train.pairs_per_step=8",
        f"eval.benchmarks=[{bench}:code]",
        "eval.max_new_tokens=96",
    ]


def test_run_stops_at_train_without_pairs_and_resumes_from_there(tmp_path, tiny_model_dir):
    """An untrained model writes no program that runs, so no input gets a pseudo output and there are no
    pairs: the run stops at ``train`` with a one-line error. The steps before it are saved; a second run
    skips them (their summaries are untouched) and stops at the same place."""
    problems = make("code", 2, seed=11)
    write_records(tmp_path / "p.jsonl", problems)
    args = [TINY, *small_overrides(tmp_path, tiny_model_dir, tmp_path / "p.jsonl", tmp_path / "p.jsonl")]
    args += ["sample.samples_per_prompt=2", "sample.max_new_tokens=16", "eval.max_new_tokens=16"]
    # the machinery of code pDPO and evaluation is covered elsewhere (test_stages, test_eval_code); here the loop
    args += ["process.enabled=false", "eval.benchmarks=[]"]
    proc = _run(*args, check=False)
    assert proc.returncode == 2
    assert "no pairs to train on in iteration 1" in proc.stderr
    it1 = tmp_path / "run" / "iter1"
    done = {s: (it1 / f"{s}.done.json") for s in STEPS}
    assert [s for s, p in done.items() if p.exists()] == STEPS[:4]
    pc = json.loads(done["pairs_code"].read_text())
    assert pc["pairs"] == 0 and pc["problems"] == 2
    assert json.loads(done["pairs_code_process"].read_text())["pairs"] == 0
    stamps = {s: done[s].stat().st_mtime_ns for s in STEPS[:4]}
    samples_before = (it1 / "samples.jsonl").read_text()
    assert json.loads((tmp_path / "run" / "iter0" / "eval.done.json").read_text())["metrics"] == {}

    proc = _run(*args, check=False)
    assert proc.returncode == 2 and "no pairs to train on" in proc.stderr
    assert {s: done[s].stat().st_mtime_ns for s in STEPS[:4]} == stamps
    assert (it1 / "samples.jsonl").read_text() == samples_before


@pytest.fixture(scope="module")
def code_sft_model(tiny_model_dir, tmp_path_factory):
    """The nano model after 80 full-batch steps on the programs of 8 code problems: at temperature 1 it writes
    them often but not always, so pass counts differ and pairs exist."""
    from tests.helpers import chat, fine_tune

    d = tmp_path_factory.mktemp("code-sft")
    problems = make("code", 8, seed=5)
    write_records(d / "problems.jsonl", problems)
    convs = [chat(p.prompt, p.meta["long"]) for p in problems]
    return str(fine_tune(tiny_model_dir, d / "model", convs, steps=80)), d / "problems.jsonl"


def test_ponder_run_tiny_config_one_iteration_and_resume(tmp_path, code_sft_model):
    """``ponder run pfpo-code-tiny.yaml`` (tiny overrides) runs iteration 0 (evaluation) and one PFPO-code
    iteration through every step -- inputs, sampling, voted pseudo tests, program and prefix pairs, DPO,
    evaluation -- writes the per-iteration table, and a second run only reads it back."""
    model, problems = code_sft_model
    args = [TINY, *small_overrides(tmp_path, model, problems, problems), "iterations=1"]
    first = _run(*args)
    run = tmp_path / "run"
    report = json.loads((run / "report.json").read_text())
    assert [r["name"] for r in report["rows"]] == ["sft", "iter1"]
    sft_row, it_row = report["rows"]
    evals = [json.loads((run / f"iter{k}" / "eval.done.json").read_text()) for k in (0, 1)]
    assert [sft_row["pass@1"], it_row["pass@1"]] == [e["metrics"]["accuracy"] for e in evals]
    assert it_row["outcome_pairs"] > 0 and it_row["problems"] == 8
    pairs = [json.loads(x) for x in (run / "iter1" / "pairs_code.jsonl").read_text().splitlines()]
    assert len(pairs) == it_row["outcome_pairs"]
    assert all(p["meta"]["chosen_passed"] - p["meta"]["rejected_passed"] >= 2 for p in pairs)  # the margin
    assert it_row["model"] == model  # iteration 1 starts from the SFT model
    for s in STEPS:
        assert (run / "iter1" / f"{s}.done.json").exists(), s
    train = json.loads((run / "iter1" / "train.done.json").read_text())
    assert train["model"].startswith(str(run / "iter1" / "train"))
    assert [p for p, _ in train["data"]][0].endswith("pairs_code.jsonl")
    assert (run / "report.md").read_text().count("|") > 10 and (run / "pass_at_1.png").exists()
    assert "pass@1" in first.stdout
    from safetensors.torch import load_file

    start, trained = (load_file(str(Path(m) / "model.safetensors")) for m in (model, train["model"]))
    assert max((trained[k] - start[k]).abs().max().item() for k in start) > 0

    stamps = {p: p.stat().st_mtime_ns for p in run.glob("iter*/*.done.json")}
    second = _run(*args)
    assert {p: p.stat().st_mtime_ns for p in run.glob("iter*/*.done.json")} == stamps
    assert json.loads((run / "report.json").read_text())["rows"] == report["rows"]
    assert second.stdout == first.stdout

    changed = _run(*[a for a in args if not a.startswith("outcome.margin")], "outcome.margin=3", check=False)
    assert changed.returncode == 2 and "differs in: outcome" in changed.stderr
