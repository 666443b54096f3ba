"""Inputs that do not read: every reading fault names its file and line and is skipped with
`skip_bad` like invalid JSON, whichever reader meets it; an input that gives nothing is an error."""

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from multiagentllm.cli import app
from multiagentllm.data.build import build
from multiagentllm.data.loaders.apibench import load_apibench
from multiagentllm.data.loaders.jsonfiles import convert_each, read_json
from multiagentllm.io import DataError, SkipReport, read_trajectories

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "trajectories.jsonl"
GOOD = FIX.read_text(encoding="utf-8").splitlines()  # two trajectories, one per line


def latin1(line: str) -> bytes:
    """`line` with a non-ASCII letter, written in latin-1."""
    return line.replace('"instruction": "', '"instruction": "Caf\xe9 ', 1).encode("latin-1")


def deep(line: str) -> bytes:
    return b"[" * 100_000 + b"]" * 100_000


def lone_surrogate(line: str) -> bytes:
    return line.replace('"instruction": "', '"instruction": "x\\ud800 ', 1).encode()


FAULTS = {"latin-1": (latin1, "not UTF-8: byte 0xe9"), "nested 100k deep": (deep, "nested too deeply"),
          "lone surrogate": (lone_surrogate, "lone surrogate '\\ud800'")}


def jsonl(path: Path, *lines: bytes | str) -> Path:
    path.write_bytes(b"".join((x.encode() if isinstance(x, str) else x) + b"\n" for x in lines))
    return path


@pytest.mark.parametrize("fault", FAULTS)
def test_trajectory_files_name_the_line_and_skip_it(tmp_path, fault):
    make, reason = FAULTS[fault]
    path = jsonl(tmp_path / "t.jsonl", GOOD[0], make(GOOD[1]), GOOD[1])
    with pytest.raises(DataError, match=re.escape(reason)) as e:
        list(read_trajectories(path))
    assert e.value.path == str(path) and e.value.line == 2
    report = SkipReport()
    assert len(list(read_trajectories(path, skip_bad=True, report=report))) == 2  # the line after it reads
    assert report.skipped == 1 and report.examples[0].startswith(f"{path}:2: ")


@pytest.mark.parametrize("fault", FAULTS)
def test_jsonl_and_json_array_loaders_name_the_line_and_skip_it(tmp_path, fault):
    """The loop of the API-Bank, Seal-Tools, NESTFUL, ToolAlpaca, StableToolBench loaders."""
    make, reason = FAULTS[fault]
    bad = make(json.dumps({"instruction": "v"}))
    convert = lambda rec, i: [rec["instruction"]]  # noqa: E731
    lines = jsonl(tmp_path / "x.jsonl", '{"instruction": "a"}', bad, '{"instruction": "b"}')
    with pytest.raises(DataError, match=re.escape(reason)) as e:
        list(convert_each(lines, convert))
    assert e.value.line == 2
    report = SkipReport()
    assert list(convert_each(lines, convert, skip_bad=True, report=report)) == ["a", "b"]
    assert report.examples[0].startswith(f"{lines}:2: ")
    array = tmp_path / "x.json"
    array.write_bytes(b'[\n{"instruction": "a"},\n' + bad + b',\n{"instruction": "b"}\n]\n')
    with pytest.raises(DataError, match=re.escape(reason)) as e:
        list(convert_each(array, convert))
    assert e.value.line == 3
    report = SkipReport()
    got = list(convert_each(array, convert, skip_bad=True, report=report))
    assert report.skipped == 1 and report.examples[0].startswith(f"{array}:3: ")
    # a record with a lone surrogate parses, so the records after it still read; a record nested
    # too deeply stops the array, as invalid JSON does, and bytes that are not UTF-8 the whole file
    assert got == {"lone surrogate": ["a", "b"], "nested 100k deep": ["a"], "latin-1": []}[fault]


@pytest.mark.parametrize("fault", FAULTS)
def test_whole_json_documents_name_the_line(tmp_path, fault):
    """The reader of ToolBench answer files, ToolTalk conversations, ToolAlpaca's API list."""
    make, reason = FAULTS[fault]
    path = tmp_path / "doc.json"
    path.write_bytes(b'{"a": 1,\n "b":\n' + make(json.dumps({"instruction": "v"})) + b"}\n")
    with pytest.raises(DataError, match=re.escape(reason)) as e:
        read_json(path)
    # the line of the byte or the escape; for nesting, where the document starts
    assert e.value.path == str(path) and e.value.line == (1 if fault == "nested 100k deep" else 3)


def test_apibench_rows_name_the_line_and_skip_it(tmp_path):
    row = {"code": "###Instruction: Classify videos.\n###Output: x", "provider": "PyTorch",
           "api_call": "torch.hub.load(repo_or_dir='a/b', model='m')", "api_data": {"domain": "Video"}}
    bad = json.dumps(dict(row, code="###Instruction: Caf\xe9 videos.\n###Output: x"), ensure_ascii=False)
    path = jsonl(tmp_path / "torchhub_eval.json", json.dumps(row), bad.encode("latin-1"), json.dumps(row))
    with pytest.raises(DataError, match=r"torchhub_eval\.json:2: not UTF-8"):
        list(load_apibench(path))
    report = SkipReport()
    assert len(list(load_apibench(path, skip_bad=True, report=report))) == 2 and report.skipped == 1


def test_utf16_and_bom_files(tmp_path):
    wide = tmp_path / "wide.jsonl"
    wide.write_bytes("\n".join(GOOD).encode("utf-16"))
    with pytest.raises(DataError, match=r"wide\.jsonl:1: the file is UTF-16"):
        list(read_trajectories(wide))
    no_bom = jsonl(tmp_path / "le.jsonl", GOOD[0].encode("utf-16-le"))
    with pytest.raises(DataError, match=r"le\.jsonl:1: not UTF-8.*NUL bytes"):
        list(read_trajectories(no_bom))
    with_bom = jsonl(tmp_path / "bom.jsonl", b"\xef\xbb\xbf" + GOOD[0].encode(), GOOD[1])
    assert len(list(read_trajectories(with_bom))) == 2  # a UTF-8 byte-order mark is fine
    emoji = jsonl(tmp_path / "emoji.jsonl", GOOD[0].replace('"instruction": "', '"instruction": "\\ud83d\\ude00 ', 1))
    (traj,) = read_trajectories(emoji)  # an escaped surrogate pair is a character, not a fault
    assert traj.instruction.startswith("\U0001F600 ")


@pytest.mark.parametrize("fault", [*FAULTS, "utf-16"])
def test_data_build_names_the_file_and_skip_bad_skips_it(tmp_path, fault):
    path = tmp_path / "synth.jsonl"
    if fault == "utf-16":
        path.write_bytes(("\n".join(GOOD) + "\n").encode("utf-16"))
        reason = "the file is UTF-16"
    else:
        make, reason = FAULTS[fault]
        jsonl(path, GOOD[0], make(GOOD[1]))
    args = ["data", "build", "--out", str(tmp_path / "out"), "--sources", "", "--synthetic", str(path),
            "--tokenizer", "none"]
    failed = CliRunner().invoke(app, args, env={"COLUMNS": "1000"})
    assert failed.exit_code == 2 and failed.exception.__class__ is SystemExit  # an error message, no traceback
    assert f"{path}:" in failed.output and reason in failed.output
    skipped = CliRunner().invoke(app, [*args, "--skip-bad"], env={"COLUMNS": "1000"})
    if fault == "utf-16":  # nothing of the file can be read: an error even with --skip-bad
        assert skipped.exit_code == 2 and "no trajectories: all 1 were bad" in skipped.output
    else:
        assert skipped.exit_code == 0, skipped.output
        assert "skipped 1 bad records" in skipped.output
        assert json.loads((tmp_path / "out" / "stats.json").read_text())["trajectories_loaded"] == 1


def test_an_empty_input_or_one_with_only_bad_records_is_an_error(tmp_path):
    empty = jsonl(tmp_path / "empty.jsonl")
    with pytest.raises(DataError, match=r"empty\.jsonl: no trajectories: the input is empty"):
        build(tmp_path / "out", sources=[], synthetic=[empty], tokenizer=None)
    bad = jsonl(tmp_path / "bad.jsonl", "{oops", latin1(GOOD[0]))
    with pytest.raises(DataError, match=r"bad\.jsonl: no trajectories: all 2 were bad; the first: .*bad\.jsonl:1"):
        build(tmp_path / "out", sources=[], synthetic=[bad], tokenizer=None, skip_bad=True)
    # one input with nothing in it fails the build even when the others are fine
    with pytest.raises(DataError, match="the input is empty"):
        build(tmp_path / "out", sources=[], synthetic=[FIX, empty], tokenizer=None)
    with pytest.raises(DataError, match="nothing to build"):
        build(tmp_path / "out", sources=[], synthetic=[], tokenizer=None)
    assert not (tmp_path / "out").exists()


def test_a_source_whose_every_file_is_bad_is_an_error(tmp_path):
    folder = tmp_path / "root" / "ToolTalk" / "data" / "easy"
    folder.mkdir(parents=True)
    (folder / "a.json").write_bytes(b'{"name": "Caf\xe9"}')
    (folder / "b.json").write_text("")
    with pytest.raises(DataError, match=r"no records from source 'tooltalk': all 2 were bad; the first: .*a\.json:1: "
                                        r"not UTF-8"):
        build(tmp_path / "out", sources=["tooltalk"], data_root=tmp_path / "root", tokenizer=None, skip_bad=True)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_build_killed_midway_leaves_the_previous_build_whole(tmp_path, monkeypatch):
    import multiagentllm.data.build as build_module

    out = tmp_path / "out"
    build(out, sources=[], synthetic=[FIX], tokenizer=None)
    before = _files(out)
    one = jsonl(tmp_path / "one.jsonl", GOOD[0])
    real_write, writes = build_module.write_jsonl, []

    def write_then_die(path, rows):
        writes.append(path)
        if len(writes) == 4:
            raise KeyboardInterrupt  # Ctrl-C, or any failure, part-way through the writing
        return real_write(path, rows)

    monkeypatch.setattr(build_module, "write_jsonl", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        build(out, sources=[], synthetic=[one], tokenizer=None)
    assert _files(out) == before  # not a mix of the old build and the new one
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.jsonl", "out"]  # no temporary folder left


def test_a_new_build_replaces_the_old_one_whole_and_cleans_up_after_a_killed_run(tmp_path):
    out = tmp_path / "out"
    build(out, sources=[], synthetic=[FIX], tokenizer=None)
    (out / "items" / "old_source.jsonl").parent.mkdir()
    (out / "items" / "old_source.jsonl").write_text("{}\n")  # from an earlier build with other sources
    killed = tmp_path / ".out.new-0123456789ab"  # what a build killed with SIGKILL leaves
    (killed / "planner").mkdir(parents=True)
    (killed / "planner" / ".train.jsonl.x.tmp").write_text("half a row")
    report = build(out, sources=[], synthetic=[FIX], tokenizer=None)
    assert not (out / "items").exists() and (out / "stats.json").exists()
    assert report.counts["trajectories_after_dedup"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_folder_holding_other_files_is_not_replaced(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="holds notes.txt, which a build does not write"):
        build(out, sources=[], synthetic=[FIX], tokenizer=None)
    assert _files(out) == {"notes.txt": b"mine"}
