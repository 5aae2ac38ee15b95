"""``ponder tasks convert``: each public schema (fixtures in tests/tasks/fixtures, invented rows with the data
sets' field names) becomes ponder's records, which read back; code problems' tests pass their reference
solutions in the sandbox and fail wrong ones; a bad row is one line naming file, row and field."""

import json
import subprocess
from pathlib import Path

import pytest

from ponder.errors import InputError
from ponder.io import write_records
from ponder.jsonl import content_hash
from ponder.records import Problem, load_records
from ponder.tasks.convert import convert_file, convert_rows
from ponder.train.data import Conversation, read_sft_records
from ponder.verify.code import run_tests
from tests.helpers import ponder_cmd, subprocess_env

FIXTURES = Path(__file__).parent / "fixtures"
FILES = {"r1-sft": "r1_sft", "math": "math", "gsm8k": "gsm8k", "aime": "aime", "mbpp": "mbpp", "apps": "apps"}
FILES["livecodebench"] = "livecodebench"


def fixture(fmt: str) -> Path:
    return FIXTURES / f"{FILES[fmt]}.jsonl"


def rows(fmt: str) -> list[dict]:
    return [json.loads(line) for line in fixture(fmt).read_text().splitlines()]


@pytest.mark.parametrize("fmt", list(FILES))
@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_each_format_round_trips_its_fixture(tmp_path, fmt, suffix):
    out = tmp_path / f"out{suffix}"
    assert convert_file(fmt, fixture(fmt), out).startswith("wrote 2 ")
    records = convert_rows(fmt, fixture(fmt))
    if fmt == "r1-sft":
        back = [rec.to_dict() for _, rec in read_sft_records(out)]
        assert all(isinstance(Conversation.from_dict(r), Conversation) for r in back)
    else:
        back = [p.to_dict() for p in load_records(out, Problem)]
    assert back == records


def test_math_formats_take_the_gold_answer_from_each_schema():
    got = {
        fmt: [(r["id"], r["answer"]) for r in convert_rows(fmt, fixture(fmt))]
        for fmt in ("math", "gsm8k", "aime")
    }
    math_rows, gsm8k_rows = rows("math"), rows("gsm8k")
    assert got == {
        "math": [
            ("test/algebra/9001.json", "25"),
            (content_hash(math_rows[1]), "\\frac{3}{4}"),
        ],  # from \boxed{}
        "gsm8k": [(content_hash(gsm8k_rows[0]), "7"), (content_hash(gsm8k_rows[1]), "3000")],
        "aime": [("60", "401"), ("2099-I-3", "9")],
    }
    gsm8k = convert_rows("gsm8k", fixture("gsm8k"))[0]
    assert gsm8k["prompt"] == gsm8k_rows[0]["question"]
    assert gsm8k["meta"] == {"rule": "math", "solution": "She keeps 12 - 5 = <<12-5=7>>7 muffins."}


def test_r1_sft_keeps_the_system_prompt_and_markers_and_boxes_the_answer():
    first, second = convert_rows("r1-sft", fixture("r1-sft"))
    row = rows("r1-sft")[0]
    assert [m["role"] for m in first["messages"]] == ["system", "user", "assistant"]
    assert [m["content"] for m in first["messages"]] == [row["system"]] + [
        t["value"] for t in row["conversations"]
    ]
    assert first["answer"] == "7" and "answer" not in second  # no box: no answer


LCB_SOLUTIONS = [
    "print(sum(c in 'aeiou' for c in input().strip()))",
    "class Solution:\n    def rotate(self, nums, k):\n        k %= len(nums)\n        return nums[-k:] + nums[:-k] if k else nums",
]


@pytest.mark.parametrize("fmt", ["mbpp", "apps", "livecodebench"])
def test_code_tests_pass_the_reference_and_fail_a_wrong_program(fmt, code_pool):
    problems = convert_rows(fmt, fixture(fmt))
    modes = [p["meta"]["mode"] for p in problems]
    assert (
        modes
        == {"mbpp": ["assert", "assert"], "apps": ["stdio", "call"], "livecodebench": ["stdio", "call"]}[fmt]
    )
    for i, p in enumerate(problems):
        meta = p["meta"]
        reference = meta.get("reference") or LCB_SOLUTIONS[i]
        kw = {
            "mode": meta["mode"],
            "entry_point": meta.get("entry_point"),
            "pool": code_pool,
            "timeout_s": 10,
        }
        results = run_tests(reference, p["tests"], **kw)
        assert [r.status for r in results] == ["passed"] * len(p["tests"]), (p["id"], results)
        wrong = "print(0)" if meta["mode"] == "stdio" else f"def {meta['entry_point']}(*args):\n    return 0"
        assert not all(r.passed for r in run_tests(wrong, p["tests"], **kw)), p["id"]
    if (
        fmt == "livecodebench"
    ):  # public and compressed private tests, functional inputs one JSON argument per line
        assert problems[0]["tests"][1:] == [
            {"input": "rhythm\n", "output": "0\n"},
            {"input": "aeiou\n", "output": "5\n"},
        ]
        assert problems[1]["tests"] == [
            {"input": [[1, 2, 3, 4], 1], "output": [4, 1, 2, 3]},
            {"input": [[5, 6], 4], "output": [5, 6]},
        ]


BAD_ROWS = [
    ("gsm8k", {"question": "Q?", "answer": "no final mark"}, "field 'answer': no final answer after '####'"),
    ("gsm8k", {"answer": "#### 1"}, "field 'question': missing"),
    ("math", {"problem": "P", "solution": "no box here"}, "field 'solution': no 'answer' and no \\boxed{} answer"),
    ("aime", {"problem": "P", "answer": "12.5"}, "field 'answer': expected an AIME answer, an integer from 0 to 999"),
    ("aime", {"Problem": "P", "Answer": 1000}, "field 'Answer': expected an AIME answer"),
    ("r1-sft", {"system": "S", "conversations": [{"from": "user", "value": "Q"}, {"from": "assistant", "value": "A"}]},
     "field 'conversations': the assistant's turn has no <|begin_of_thought|> marker"),
    ("r1-sft", {"conversations": [{"from": "robot", "value": "Q"}]}, "field 'conversations': turn 0: expected"),
    ("mbpp", {"task_id": 1, "text": "T", "test_list": []}, "field 'test_list': expected a non-empty list"),
    ("mbpp", {"task_id": 1, "text": "T", "test_list": ["print(1)"]}, "field 'test_list': cannot tell the function"),
    ("apps", {"problem_id": 1, "question": "Q", "input_output": "{bad"}, "field 'input_output': not valid JSON text"),
    ("apps", {"problem_id": 1, "question": "Q", "input_output": '{"inputs": ["1"], "outputs": []}'},
     "field 'input_output': 'inputs' and 'outputs' must be lists of the same, non-zero length"),
    ("livecodebench", {"question_id": "x", "question_content": "Q", "public_test_cases": "[]", "private_test_cases": "eJzz"},
     "field 'private_test_cases': neither JSON text nor the compressed form"),
    ("livecodebench", {"question_id": "x", "question_content": "Q", "metadata": "{}",
     "public_test_cases": json.dumps([{"input": "1", "output": "1", "testtype": "functional"}])},
     "field 'metadata': functional tests need 'func_name'"),
]  # fmt: skip


@pytest.mark.parametrize("fmt, row, message", BAD_ROWS, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD_ROWS)])
def test_a_bad_row_names_the_file_row_and_field(tmp_path, fmt, row, message):
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(rows(fmt)[0]) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(InputError) as e:
        convert_rows(fmt, path)
    assert str(e.value).startswith(f"{path}:2: {message}"), str(e.value)


def test_the_command_converts_any_source_and_fails_in_one_line(tmp_path):
    write_records(tmp_path / "set" / "data" / "test-00000-of-00001.parquet", rows("gsm8k"))
    out = tmp_path / "gsm8k.jsonl"
    env = subprocess_env()
    r = subprocess.run(
        ponder_cmd("tasks", "convert", "--format", "gsm8k", f"{tmp_path / 'set'}@test", str(out)),
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert r.returncode == 0 and r.stdout == f"wrote 2 problems (gsm8k) to {out}\n", r.stderr
    assert [p.answer for p in load_records(out, Problem)] == ["7", "3000"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(rows("gsm8k")[0]) + "\n" + json.dumps({"question": "Q", "answer": 5}) + "\n")
    r = subprocess.run(
        ponder_cmd("tasks", "convert", "--format", "gsm8k", str(bad), str(tmp_path / "no.jsonl")),
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert r.returncode == 2
    assert r.stderr == f"ponder: error: {bad}:2: field 'answer': expected a non-empty string, got int\n"
    assert not (tmp_path / "no.jsonl").exists()
    r = subprocess.run(
        ponder_cmd("tasks", "convert", "--format", "gsm9k", str(bad), str(tmp_path / "no.jsonl")),
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert r.returncode == 2 and r.stderr.startswith(
        "ponder: error: --format: unknown format 'gsm9k'; choose one of"
    )
