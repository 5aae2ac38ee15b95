"""Experiment trackers: W&B in offline mode receives every step's numbers and the run's config (read back
from the run file it writes under OUTPUT/wandb); a missing tracker package stops a run in one line."""

import json
import sys
from pathlib import Path

import pytest

from ponder.errors import PonderError
from ponder.io import write_records
from ponder.recipes.sft import SFTConfig, run
from ponder.train.metrics import read_metrics
from ponder.train.trackers import check_tracker

# The W&B run file: a LevelDB-style log after a 7-byte header, in 32 KiB blocks; each record holds a chunk
# of one protobuf Record (full, or first / middle / last of a record split across blocks).
BLOCK, HEADER, FULL, LAST = 32768, 7, 1, 4


def wandb_records(path: Path):
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, chunks = HEADER, b""
    while pos + 7 <= len(data):
        if BLOCK - pos % BLOCK < 7:  # too short for a record header: padding up to the next block
            pos += BLOCK - pos % BLOCK
            continue
        n, kind = int.from_bytes(data[pos + 4 : pos + 6], "little"), data[pos + 6]
        chunks += data[pos + 7 : pos + 7 + n]
        pos += 7 + n
        if kind in (FULL, LAST):
            record = pb.Record()
            record.ParseFromString(chunks)
            chunks = b""
            yield record


def sft_config(tmp_path, tiny_model_dir, **kw) -> SFTConfig:
    data = tmp_path / "sft.jsonl"
    write_records(data, [{"prompt": f"Say {i}.", "completion": f"{i} {i}"} for i in range(8)])
    return SFTConfig(
        model=str(tiny_model_dir),
        data=[str(data)],
        output=str(tmp_path / "run"),
        max_steps=3,
        examples_per_step=4,
        tensorboard=False,
        **kw,
    )


def test_wandb_offline_gets_every_step_and_the_config(tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = sft_config(tmp_path, tiny_model_dir, tracker="wandb", lr=2e-4)
    run(cfg)
    out = Path(cfg.output)
    (run_file,) = out.glob("wandb/offline-run-*/run-*.wandb")
    history, config = {}, {}
    for r in wandb_records(run_file):
        kind = r.WhichOneof("record_type")
        if kind == "history":
            items = r.history.item  # "train/loss" may come as the nested key ["train", "loss"]
            history[r.history.step.num] = {
                i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in items
            }
        elif kind == "run":
            config = {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in r.run.config.update}
    steps = read_metrics(out / "metrics.jsonl")
    assert sorted(history) == [s["step"] for s in steps] and len(steps) == 3
    for s in steps:  # the very numbers of metrics.jsonl, under train/
        assert {k: history[s["step"]][f"train/{k}"] for k in ("loss", "lr", "tokens")} == {
            k: s[k] for k in ("loss", "lr", "tokens")
        }
    assert config["lr"] == 2e-4 and config["tracker"] == "wandb" and config["max_steps"] == 3
    assert json.loads((out / "tracker.json").read_text())["id"] in run_file.name


def test_a_missing_tracker_package_is_one_line_naming_the_field(tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "trackio", None)  # as on a machine without it
    with pytest.raises(PonderError) as e:
        run(sft_config(tmp_path, tiny_model_dir, tracker="trackio"))
    assert str(e.value) == (
        "tracker: trackio needs the trackio package, which is not installed: pip install -e '.[trackio]'"
    )
    assert not Path(tmp_path / "run").exists()  # stopped before the run folder was made
    from ponder.recipes.rl.config import RLConfig
    from ponder.recipes.rl.train import run as run_rl

    rl = RLConfig(model=str(tiny_model_dir), data="p.jsonl", output=str(tmp_path / "rl"), tracker="trackio")
    with pytest.raises(PonderError, match="^tracker: trackio needs the trackio package"):
        run_rl(rl)  # the RL trainer too, before anything loads
    assert not Path(tmp_path / "rl").exists()
    check_tracker("none")  # the default needs nothing
    with pytest.raises(ValueError, match="tracker"):
        SFTConfig(model="m", data=["d.jsonl"], output="o", tracker="mlflow")
