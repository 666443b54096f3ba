"""Evaluation inputs that do not read: a bad item is counted with its file and line, never a crash;
a file that gives no item at all (empty, or every item bad) is an error, not an n=0 report."""

import json
from pathlib import Path

import pytest

from multiagentllm.eval.benchmarks.apibench import evaluate_apibench
from multiagentllm.eval.benchmarks.bfcl import evaluate_bfcl
from multiagentllm.eval.generate import Generator, System
from multiagentllm.eval.benchmarks.static import evaluate_static
from multiagentllm.io import DataError

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "trajectories.jsonl"
GOOD = FIX.read_text(encoding="utf-8").splitlines()

BAD_LINES = [  # (bytes of the line, what the report says about it)
    (GOOD[1].replace('"instruction": "', '"instruction": "Caf\xe9 ', 1).encode("latin-1"), "not UTF-8"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (GOOD[1].replace('"instruction": "', '"instruction": "\\udc00 ', 1).encode(), "lone surrogate"),
]


def _write(path: Path, *lines: bytes | str) -> Path:
    path.write_bytes(b"".join((x.encode() if isinstance(x, str) else x) + b"\n" for x in lines))
    return path


def _gen(scripted, respond=lambda role, prompt: "Rationale: done\nNext: Give up"):
    return Generator(System(scripted(respond)), progress=False)


def test_static_counts_unreadable_items_with_file_and_line(tmp_path, scripted):
    path = _write(tmp_path / "test.jsonl", GOOD[0], *(line for line, _ in BAD_LINES))
    report, _ = evaluate_static(path, _gen(scripted))
    assert report["n"] == 1 and report["bad_items"] == 3
    for k, (_, reason) in enumerate(BAD_LINES, 2):
        assert report["bad_examples"][k - 2].startswith(f"{path}:{k}: ") and reason in report["bad_examples"][k - 2]


@pytest.mark.parametrize("content, message", [
    (b"", "no test trajectories: the input is empty"),
    (b"\n \n", "no test trajectories: the input is empty"),
    (("\n".join(GOOD) + "\n").encode("utf-16"), "no test trajectories: all 1 were bad; the first: {path}:1: the file is UTF-16"),
    (b'{"id": "x"}\n' + BAD_LINES[0][0] + b"\n", "no test trajectories: all 2 were bad; the first: {path}:1: missing field"),
])
def test_static_with_nothing_to_evaluate_is_an_error(tmp_path, scripted, content, message):
    path = tmp_path / "test.jsonl"
    path.write_bytes(content)
    with pytest.raises(DataError) as e:
        evaluate_static(path, _gen(scripted))
    assert str(e.value).startswith(f"{path}: " + message.format(path=path))


def _question(i: int) -> str:
    return json.dumps({"id": f"irrelevance_{i}", "question": [[{"role": "user", "content": f"Question {i}?"}]],
                       "function": [{"name": "f", "description": "F.", "parameters": {"type": "dict", "properties": {}}}]})


def test_bfcl_counts_unreadable_questions_and_refuses_an_empty_file(tmp_path, scripted):
    latin1 = _question(1).replace("Question", "Caf\xe9").encode("latin-1")
    surrogate = _question(2).replace("Question", "\\ud800")
    path = _write(tmp_path / "BFCL_v4_irrelevance.json", _question(0), latin1, BAD_LINES[1][0], surrogate)
    report, records = evaluate_bfcl(path, _gen(scripted))
    assert report["n"] == 1 and report["accuracy"] == 1.0 and report["bad_items"] == 3
    assert [x.split(": ", 1)[0] for x in report["bad_examples"]] == [f"{path}:{k}" for k in (2, 3, 4)]
    (tmp_path / "empty").mkdir()
    empty = _write(tmp_path / "empty" / "BFCL_v4_irrelevance.json")
    with pytest.raises(DataError, match="no questions: the input is empty"):
        evaluate_bfcl(empty, _gen(scripted))
    _write(empty, latin1)
    with pytest.raises(DataError, match="no questions: all 1 were bad; the first: .*:1: not UTF-8"):
        evaluate_bfcl(empty, _gen(scripted))


def test_apibench_refuses_a_split_with_no_question(tmp_path, scripted):
    path = _write(tmp_path / "torchhub_eval.json", "{oops")
    with pytest.raises(DataError, match=r"torchhub_eval\.json: no questions: all 1 were bad"):
        evaluate_apibench([path], _gen(scripted))


def test_the_cli_reports_a_bad_file_without_a_traceback(tmp_path):
    from typer.testing import CliRunner

    from multiagentllm.cli import app

    empty = tmp_path / "questions.json"  # the file is read before any request reaches the endpoint
    empty.write_text("")
    result = CliRunner().invoke(app, ["eval", "bfcl", "--questions", str(empty),
                                      "--endpoint", "http://127.0.0.1:9/v1", "--model", "m"])
    assert result.exit_code == 2, result.output
    flat = "".join(result.output.replace("│", "").split())  # the error box wraps long paths
    assert "questions.json" in flat and "Traceback" not in result.output
