"""The data users bring, end to end: a TRL pair file without ids trains with ``ponder train dpo``; a local
dataset folder with its own column names feeds ``ponder generate`` (and resumes: ids come from content)."""

import json
import subprocess

import datasets

from tests.helpers import THREADS_ENV, lines_of, ponder_cmd, subprocess_env


def ponder(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ponder_cmd(*args), capture_output=True, text=True, env=subprocess_env(**THREADS_ENV)
    )


def test_trl_pairs_without_ids_train_with_dpo(tmp_path, tiny_model_dir):
    def turn(role, content):
        return {"role": role, "content": content}

    rows = [  # implicit prompt (whole conversations), then TRL's standard format; no ids anywhere
        {
            "chosen": [turn("user", f"What is {i} + 1?"), turn("assistant", str(i + 1))],
            "rejected": [turn("user", f"What is {i} + 1?"), turn("assistant", str(i + 2))],
        }
        for i in range(3)
    ] + [{"prompt": "Say 7.", "chosen": " 7", "rejected": " 8"}]
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "dpo"
    r = ponder(
        "train", "dpo", "--model", str(tiny_model_dir), "--data", str(data), "--output", str(out),
        "max_steps=2", "pairs_per_step=2",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("step 2: loss ")
    steps = [json.loads(line) for line in lines_of(out / "metrics.jsonl")]
    assert [s["step"] for s in steps if "loss" in s] == [1, 2]
    assert (out / "model" / "model.safetensors").exists()


def test_a_dataset_folder_with_its_own_columns_feeds_generate_and_resumes(tmp_path, tiny_model_dir):
    rows = [{"question": f"What is {i} + {i}?", "solution": str(2 * i)} for i in range(3)]
    datasets.DatasetDict({"train": datasets.Dataset.from_list(rows)}).save_to_disk(tmp_path / "set")
    out = tmp_path / "samples.jsonl"
    args = (
        "generate", "--model", str(tiny_model_dir), "--input", str(tmp_path / "set"), "--output", str(out),
        "--n", "1", "--max-new-tokens", "3", "--columns", "prompt=question,answer=solution",
    )  # fmt: skip
    r = ponder(*args)
    assert r.returncode == 0, r.stderr
    samples = [json.loads(line) for line in lines_of(out)]
    assert [(s["prompt"], s["answer"]) for s in samples] == [
        ([{"role": "user", "content": q["question"]}], q["solution"]) for q in rows
    ]
    assert all("question" not in s and "solution" not in s for s in samples)
    r = ponder(*args)
    assert r.returncode == 0 and "(0 new, 3 resumed)" in r.stdout, r.stderr
    assert [json.loads(line) for line in lines_of(out)] == samples
    # Without the mapping the rows have no prompt: one line naming the row and the field.
    r = ponder(*args[:-2])
    assert r.returncode == 2 and r.stderr == f"ponder: error: {tmp_path / 'set'}:1: field 'prompt': missing\n"


def test_columns_may_follow_the_command():
    from ponder.cli import lift_columns

    argv = [
        "generate",
        "--input",
        "x",
        "--columns=a=b",
        "-o",
        "y",
        "--columns",
        "c=d",
        "--",
        "--columns",
        "e",
    ]
    assert lift_columns(argv) == [
        "--columns=a=b", "--columns", "c=d", "generate", "--input", "x", "-o", "y", "--", "--columns", "e",
    ]  # fmt: skip
    assert lift_columns(["check", "--help", "--columns", "a=b"]) == ["check", "--help", "--columns", "a=b"]
