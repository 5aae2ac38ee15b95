"""The iteration loop: steps in order, models handed on, resume after a crash at any step."""

import json

import pytest

from ponder.errors import PonderError
from ponder.recipes.iterate import Step, check_same_config, pair_sources, run_iterations


class Crash(Exception):
    pass


def _steps(calls, crash_at=None):
    """sample -> pairs (two builders) -> train; each step appends to ``calls``; ``crash_at`` = (iteration,
    step) raises there once, as a killed process would stop."""

    def make(name):
        def run(it):
            if pending and pending[0] == (it.index, name):
                pending.pop()
                raise Crash(name)
            calls.append((it.index, name, it.model))
            if name == "train":
                return {"model": f"model-{it.index}", "data": pair_sources(it)}
            if name.startswith("pairs"):
                return {
                    "pairs_file": str(it.folder / f"{name}.jsonl"),
                    "ratio": 0.5 if name == "pairs_b" else 1.0,
                    "pairs": 3,
                }
            return {"n": it.index}

        return run

    pending = [crash_at] if crash_at else []
    return [Step(n, make(n)) for n in ("sample", "pairs_a", "pairs_b", "train")], [Step("eval", make("eval"))]


def test_models_flow_from_iteration_to_iteration(tmp_path):
    calls = []
    steps, baseline = _steps(calls)
    its = run_iterations(tmp_path, start_model="sft", iterations=2, steps=steps, baseline=baseline)
    assert [it.name for it in its] == ["iter0", "iter1", "iter2"]
    assert calls[0] == (0, "eval", "sft")
    assert [c for c in calls if c[1] == "train"] == [(1, "train", "sft"), (2, "train", "model-1")]
    assert its[2].results["train"]["data"] == [
        (str(tmp_path / "iter2" / "pairs_a.jsonl"), 1.0),
        (str(tmp_path / "iter2" / "pairs_b.jsonl"), 0.5),
    ]
    assert json.loads((tmp_path / "iter1" / "train.done.json").read_text())["model"] == "model-1"


@pytest.mark.parametrize("crash_at", [(1, "sample"), (1, "pairs_b"), (2, "train"), (0, "eval")])
def test_resume_after_a_crash_runs_each_step_once(tmp_path, crash_at):
    """A crash in any step leaves the finished steps' summaries on disk; the next run skips exactly those
    and completes the rest, so every step has run once in total and the results match a clean run."""
    calls = []
    steps, baseline = _steps(calls, crash_at=crash_at)
    with pytest.raises(Crash):
        run_iterations(tmp_path / "run", start_model="sft", iterations=2, steps=steps, baseline=baseline)
    before = list(calls)
    its = run_iterations(tmp_path / "run", start_model="sft", iterations=2, steps=steps, baseline=baseline)
    assert len(calls) == len(set(calls)) == 1 + 2 * 4  # eval once, four steps in each of two iterations
    assert calls[: len(before)] == before
    clean_calls = []
    clean_steps, clean_baseline = _steps(clean_calls)
    clean = run_iterations(
        tmp_path / "clean", start_model="sft", iterations=2, steps=clean_steps, baseline=clean_baseline
    )
    assert sorted(calls) == sorted(clean_calls)
    assert its[2].model == clean[2].model == "model-1"


def test_pair_steps_with_no_pairs_are_not_trained_on(tmp_path):
    steps = [
        Step("pairs_a", lambda it: {"pairs_file": "a.jsonl", "pairs": 0}),
        Step("pairs_b", lambda it: {"pairs_file": "b.jsonl", "pairs": 2, "ratio": 2.0}),
        Step("train", lambda it: {"model": "m", "data": pair_sources(it)}),
    ]
    its = run_iterations(tmp_path, start_model="s", iterations=1, steps=steps)
    assert its[1].results["train"]["data"] == [("b.jsonl", 2.0)]


def test_config_must_match_to_resume(tmp_path):
    check_same_config(tmp_path, {"a": 1, "b": [1, 2]})
    check_same_config(tmp_path, {"a": 1, "b": [1, 2]})
    with pytest.raises(PonderError, match="differs in: b"):
        check_same_config(tmp_path, {"a": 1, "b": [1, 3]})
    check_same_config(tmp_path, {"a": 1, "b": [1, 2], "warm_engine": False})  # does not change the result


def test_step_names_must_be_unique(tmp_path):
    with pytest.raises(PonderError, match="unique"):
        run_iterations(tmp_path, start_model="s", iterations=1, steps=[Step("x", dict), Step("x", dict)])


def test_report_shows_present_columns_then_extra_keys_and_plots_only_a_present_metric(tmp_path):
    """Columns absent from every row are left out; keys chosen by ``extra`` follow, once each; the plot is
    written only when some row has the metric."""
    import json

    from ponder.recipes.iterate import write_report

    rows = [
        {"name": "sft", "accuracy": 0.5, "mean_tokens": 10.0, "pass@4": 0.7},
        {"name": "iter1", "accuracy": 0.6, "mean_tokens": 12.0, "pass@4": 0.8, "maj@4": 0.65},
    ]
    report = write_report(
        tmp_path,
        rows,
        ["name", "accuracy", "labelled", "mean_tokens"],
        title="T",
        metric="accuracy",
        plot="acc.png",
        extra=lambda k: k.startswith(("pass@", "maj@")),
    )
    header = report["table"].splitlines()[0]
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "name",
        "accuracy",
        "mean_tokens",
        "pass@4",
        "maj@4",
    ]
    assert json.loads((tmp_path / "report.json").read_text())["rows"] == rows
    assert (tmp_path / "report.md").read_text().startswith("# T\n\n| name |")
    assert (tmp_path / "acc.png").stat().st_size > 1000
    write_report(tmp_path / "b", rows, ["name"], title="T", metric="pass@1", plot="p.png")
    assert (tmp_path / "b" / "report.json").exists() and not (tmp_path / "b" / "p.png").exists()
