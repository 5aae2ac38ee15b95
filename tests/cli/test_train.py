"""``ponder train sft|dpo``: help with examples, config fields, one-line errors with exit code 2."""

import json
import subprocess

import pytest
from typer.testing import CliRunner

from ponder.cli import app
from ponder.errors import ConfigError
from tests.helpers import ponder_cmd, subprocess_env

runner = CliRunner()


@pytest.mark.parametrize("cmd", ["sft", "dpo"])
def test_help_has_an_example_and_config_fields_are_listed(cmd):
    r = runner.invoke(app, ["train", cmd, "--help"])
    assert r.exit_code == 0 and f"Example: ponder train {cmd} --model" in " ".join(r.output.split())
    r = runner.invoke(app, ["train", cmd, "--show-config"])
    assert r.exit_code == 0
    for field in (
        "lr (float",
        "epochs (int",
        "max_steps (int | None",
        "tokens_per_microbatch (int",
        "max_length (int | None",
        "seed (int",
        "bf16 (bool",
        "gradient_checkpointing (bool",
        "save_every (int",
        "resume (bool",
    ):
        assert field in r.output, field
    if cmd == "dpo":
        for field in (
            "loss_type (",
            "beta (float",
            "sft_loss_weight (float",
            "pairs_per_step (int",
            "ref_model (str | None",
            "precompute_ref (bool",
            "warmup_ratio (float",
        ):
            assert field in r.output, field


def test_unknown_key_and_bad_values_are_config_errors(tmp_path):
    r = runner.invoke(
        app, ["train", "dpo", "--model", "m", "--data", "d", "--output", str(tmp_path), "bta=0.1"]
    )
    assert isinstance(r.exception, ConfigError)
    assert str(r.exception) == "override 'bta=0.1': unknown key 'bta'; did you mean 'beta'?"
    r = runner.invoke(
        app, ["train", "dpo", "--model", "m", "--data", "d", "--output", str(tmp_path), "beta=-1"]
    )
    assert isinstance(r.exception, ConfigError) and "beta must be positive" in str(r.exception)
    r = runner.invoke(app, ["train", "dpo", "--output", str(tmp_path)])
    assert isinstance(r.exception, ConfigError) and "required key 'model'" in str(r.exception)


def test_bad_pair_file_is_one_line_naming_file_line_and_field(tmp_path, tiny_model_dir):
    data = tmp_path / "pairs.jsonl"
    rows = [
        {"id": "a", "prompt": "Q", "chosen": "A", "rejected": "B"},
        {"id": "b", "prompt": "Q", "chosen": "A"},
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = subprocess.run(
        ponder_cmd(
            "train",
            "dpo",
            "--model",
            str(tiny_model_dir),
            "--data",
            str(data),
            "--output",
            str(tmp_path / "out"),
        ),
        capture_output=True,
        text=True,
        env=subprocess_env(OMP_NUM_THREADS="1"),
    )
    assert r.returncode == 2
    assert r.stderr.strip() == f"ponder: error: {data}:2: field 'rejected': missing"
    assert not (tmp_path / "out" / "metrics.jsonl").exists()
