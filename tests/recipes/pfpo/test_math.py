"""The PFPO math config: per-iteration settings reach the stages of their iteration only, the run sets the
seeds and drawings, and what the stages would refuse is refused before any work."""

import pytest

from ponder.config import load_config
from ponder.errors import ConfigError
from ponder.recipes.iterate import Iteration
from ponder.recipes.pfpo.config import check_iterations, iteration_config
from ponder.recipes.pfpo.engine import dpo_config
from ponder.recipes.pfpo.math import PFPOConfig, process_settings, templated
from ponder.records import Problem

BASE = {"model": "m", "output": "o", "prompts": "p.jsonl", "iterations": 2, "seed": 3}


def test_per_iteration_settings_reach_the_stages_of_that_iteration(tmp_path):
    """Iteration 1 trains with beta 0.2 and 3 epochs, pairs by closest steps with threshold 2; iteration 2 is the
    base config. The DPO run of each iteration starts from (and is referenced to) that iteration's model, seeded
    seed * 1000 + k; the pair builders write one drawing per epoch, so DPO passes once over the file."""
    cfg = load_config(
        PFPOConfig,
        None,
        ["process.completions_per_prefix=3"],
        per_iteration=[
            {
                "train.beta": 0.2,
                "train.epochs": 3,
                "process.value_threshold": 2,
                "process.pairing": "closest_steps",
            }
        ],
        **BASE,
    )
    check_iterations(cfg)
    first, second = iteration_config(cfg, 1), iteration_config(cfg, 2)
    it = Iteration(index=1, folder=tmp_path / "iter1", model="models/sft")
    it.results = {"pairs_outcome": {"pairs_file": "a.jsonl", "pairs": 4, "draws": 3}}
    dpo = dpo_config(first, it, [("a.jsonl", 1.0)])
    assert (dpo.beta, dpo.epochs, dpo.seed, dpo.model, dpo.ref_model) == (0.2, 1, 3001, "models/sft", None)
    assert dpo.data == ["a.jsonl:1.0"] and dpo.output == str(tmp_path / "iter1" / "train") and dpo.resume
    p1, p2 = process_settings(first, 1), process_settings(second, 2)
    assert (p1.value_threshold, p1.pairing, p1.draws, p1.seed) == (2, "closest_steps", 3, 3001)
    assert (p2.value_threshold, p2.pairing, p2.draws, p2.seed) == (1, "each_positive", 1, 3002)
    assert p1.chunk_problems == 2048 // p1.max_prefixes_per_problem
    assert second.train.beta == cfg.train.beta and iteration_config(cfg, 0) is cfg


def test_code_pairs_are_drawn_once_and_trained_for_every_epoch(tmp_path):
    """A pair file with one drawing (code pairs) is passed over train.epochs times."""
    cfg = load_config(PFPOConfig, None, ["train.epochs=4"], **BASE)
    it = Iteration(index=2, folder=tmp_path, model="m1")
    it.results = {"pairs_code": {"pairs_file": "c.jsonl", "pairs": 9, "draws": 1}}
    assert dpo_config(cfg, it, [("c.jsonl", 1.0)]).epochs == 4
    it.results["pairs_other"] = {"pairs_file": "o.jsonl", "pairs": 2, "draws": 4}
    with pytest.raises(Exception, match=r"hold \[1, 4\] drawings for 4 epochs"):
        dpo_config(cfg, it, [("c.jsonl", 1.0), ("o.jsonl", 1.0)])


def test_bad_overrides_stop_before_any_work():
    with pytest.raises(ConfigError, match=r"per_iteration\[0\].*unknown key 'train.learning_rate'"):
        check_iterations(load_config(PFPOConfig, None, per_iteration=[{"train.learning_rate": 1e-6}], **BASE))
    with pytest.raises(ConfigError, match=r"per_iteration\[1\].*expected a number"):
        check_iterations(load_config(PFPOConfig, None, per_iteration=[{}, {"train.lr": "fast"}], **BASE))
    with pytest.raises(ConfigError, match="fixed for the whole run"):
        check_iterations(load_config(PFPOConfig, None, per_iteration=[{"seed": 3}], **BASE))
    with pytest.raises(ConfigError, match="3 entries for 2 iterations"):
        check_iterations(load_config(PFPOConfig, None, per_iteration=[{}, {}, {}], **BASE))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.seed=5", "train.seed is set by the recipe"),
        ("sample.seed=5", "sample.seed is set by the recipe"),
        ("outcome.draws=2", "outcome.draws is set by the recipe"),
        ("process.rule=math", r"process.rule \(math\) must be label.rule \(boxed\)"),
        ("prompt_template=Solve it.", "must contain {question}"),
        ("process.value_threshold=7", r"value_threshold must be in \[0, 3\]"),
    ],
)
def test_what_the_run_sets_or_a_stage_refuses_is_a_config_error(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(PFPOConfig, None, [override], **BASE)


def test_the_template_of_training_is_the_template_of_evaluation():
    cfg = load_config(PFPOConfig, None, ["prompt_template=Q: {question} A:"], **BASE)
    chat = [{"role": "user", "content": "2+2?"}]
    apply = templated(cfg)
    assert apply(Problem(id="a", prompt="2+2?")).prompt == "Q: 2+2? A:"
    assert apply(Problem(id="b", prompt=chat)).prompt == chat  # chat prompts are the user's own


# --------------------------------------------------------------------------- one iteration, end to end


SMALLEST = [
    "iterations=1",
    "prompts_per_iteration=8",
    "prompt_template={question}",
    "sample.samples_per_prompt=4",
    "sample.max_new_tokens=48",
    "label.min_vote_share=0.0",
    "process.min_steps=2",
    "process.max_prefixes_per_problem=2",
    "process.completions_per_prefix=2",
    "process.max_new_tokens=32",
    "train.pairs_per_step=8",
    "train.lr=1e-3",
    "train.warmup_ratio=0",
    "train.tensorboard=false",
    "eval.samples_per_problem=1",
    "eval.temperature=0",
    "eval.max_new_tokens=48",
    "eval.rule=boxed",
]


def test_one_iteration_end_to_end_and_resume(sums_model, tmp_path):
    """sample -> label -> outcome and prefix pairs -> DPO -> eval on fresh sums, the SFT model evaluated as
    iteration 0; the iteration's DPO moved the weights, and a second run finds every step done."""
    from safetensors.torch import load_file

    from ponder.demos.pfpo import sum_problems
    from ponder.io import write_records
    from ponder.recipes.pfpo.math import run

    write_records(tmp_path / "prompts.jsonl", sum_problems(8, 8, min_terms=3, max_terms=4))
    write_records(tmp_path / "test.jsonl", sum_problems(8, 9, min_terms=3, max_terms=4))
    out = tmp_path / "run"
    args = [
        f"model={sums_model}",
        f"output={out}",
        f"prompts={tmp_path / 'prompts.jsonl'}",
        f"eval.benchmarks=[{tmp_path / 'test.jsonl'}]",
    ]
    cfg = load_config(PFPOConfig, None, [*SMALLEST, *args])
    report = run(cfg)
    sft, it1 = report["rows"]
    assert (sft["name"], it1["name"]) == ("sft", "iter1") and it1["model"] == str(sums_model)
    assert it1["prompts"] == 8 and it1["labelled"] > 0 and it1["outcome_pairs"] > 0
    assert sft["problems"] == it1["problems"] == 8 and "accuracy" in sft and "accuracy" in it1
    steps = ["sample", "label", "pairs_outcome", "pairs_process", "train", "eval"]
    assert sorted(p.name for p in (out / "iter1").glob("*.done.json")) == sorted(
        f"{s}.done.json" for s in steps
    )
    trained = load_file(str(out / "iter1" / "train" / "model" / "model.safetensors"))
    start = load_file(str(sums_model / "model.safetensors"))
    assert max((trained[k] - start[k]).abs().max().item() for k in start) > 0
    assert (out / "accuracy.png").stat().st_size > 1000 and "| iter1 |" in (out / "report.md").read_text()

    stamps = {p: p.stat().st_mtime_ns for p in out.glob("iter*/*.done.json")}
    assert run(cfg)["rows"] == report["rows"]
    assert {p: p.stat().st_mtime_ns for p in out.glob("iter*/*.done.json")} == stamps
