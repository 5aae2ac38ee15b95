"""The command names and options users rely on (DESIGN.md's contract list) stay, each with ``--help`` and an
example; run folders name their models."""

import pytest
import typer

from ponder.cli import app
from ponder.generation.backend import model_name

# every command of the contract, with options users (README, docs, configs) rely on
CONTRACT = {
    "generate": ["--model", "--input", "--output", "--n", "--max-new-tokens", "--backend", "--base-url"],
    "grade": ["--input", "--output", "--rule", "--pred", "--gold", "--workers"],
    "exec": ["--input", "--output", "--workers", "--record-outputs", "--isolation"],
    "label": ["--input", "--output", "--by", "--min-vote-share", "--rule"],
    "tests generate": ["--input", "--output", "--from", "--model", "--backend", "--n-inputs", "--json-mode"],
    "pairs thinkpo": ["--long", "--short", "--output", "--tokenizer", "--wrong-short-share"],
    "pairs outcome": ["--input", "--output", "--pairing", "--draws"],
    "pairs process": ["--input", "--output", "--model", "--keep-all-same", "--value-threshold", "--top-p"],
    "pairs code": ["--problems", "--samples", "--output", "--margin", "--min-success", "--score-gold"],
    "pairs code-process": ["--problems", "--samples", "--scores", "--model", "--output", "--value"],
    "train sft": ["--model", "--data", "--output", "--config", "--resume", "--show-config"],
    "train dpo": ["--model", "--ref-model", "--data", "--output", "--config", "--show-config"],
    "train rl": ["--model", "--data", "--output", "--env", "--algo", "--config", "--show-config"],
    "eval": [
        "--model",
        "--benchmarks",
        "--out",
        "--n",
        "--k",
        "--temperature",
        "--thinker",
        "--thinker-fast",
    ],
    "eval compare": ["--metrics"],
    "thinker infer": ["--model", "--input", "--output", "--n", "--fast-only", "--config"],
    "run": ["--recipe", "--show-config"],
    "demo thinkpo": ["--out", "--seed", "--show-config"],
    "demo thinkpo-real": ["--out", "--seed", "--show-config"],
    "demo pfpo": ["--out", "--seed", "--size"],
    "demo pfpo-code": ["--out", "--seed", "--size"],
    "demo thinker": ["--out", "--seed", "--size"],
    "demo sample": ["--out", "--seed"],
    "serve": ["--port", "--host", "--name", "--batch-size"],
    "tiny-model": ["--preset", "--seed"],
    "models import-gguf": ["--dtype"],
    "synth": ["--output", "--n", "--knob", "--sft"],
    "check": ["--kind"],
    "tasks humaneval": ["--output"],
    "tasks convert": ["--format"],
}


def command(path: str):
    cmd = typer.main.get_command(app)
    for part in path.split():
        cmd = cmd.commands[part]
    return cmd


def test_every_command_of_the_contract_is_there_and_no_other():
    root = typer.main.get_command(app)
    found = set()
    for name, cmd in root.commands.items():
        if getattr(cmd, "commands", None):
            found |= {f"{name} {sub}" for sub in cmd.commands}
            if name == "eval":  # ``ponder eval`` itself runs an evaluation
                found.add(name)
        else:
            found.add(name)
    assert found == set(CONTRACT)


@pytest.mark.parametrize("path", sorted(CONTRACT))
def test_options_and_an_example_in_help(path):
    cmd = command(path)
    names = {opt for p in cmd.params for opt in p.opts + p.secondary_opts}
    missing = [o for o in CONTRACT[path] if o not in names]
    assert not missing, f"ponder {path} lost {missing}"
    assert f"Example: ponder {path}" in (cmd.help or "")


def test_model_folder_is_named_by_its_run():
    assert model_name("runs/dpo/model") == "dpo"
    assert model_name("runs/dpo/model/") == "dpo"
    assert model_name("runs/tiny") == "tiny"
    assert model_name("Qwen/Qwen2.5-7B-Instruct") == "Qwen2.5-7B-Instruct"
    assert model_name("model") == "model"  # no parent to name it by
