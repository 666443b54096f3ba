import json

import pytest

from multiagentllm.io import DataError, SkipReport, atomic_dir, atomic_open, read_trajectories, write_jsonl


def test_bad_rows_name_file_and_line(tmp_path, trajectories):
    path = tmp_path / "t.jsonl"
    good = trajectories[0].to_json()
    bad_next = json.loads(good)
    bad_next["steps"][0]["next"] = "planner"
    path.write_text("\n".join([good, "{not json", json.dumps(bad_next), good]) + "\n")
    with pytest.raises(DataError, match=r"t\.jsonl:2: invalid JSON"):
        list(read_trajectories(path))
    report = SkipReport()
    got = list(read_trajectories(path, skip_bad=True, report=report))
    assert len(got) == 2 and report.skipped == 2
    assert "t.jsonl:3: steps[0].next is 'planner'" in report.examples[1]


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        list(read_trajectories(tmp_path / "nope.jsonl"))


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    path = tmp_path / "rows.jsonl"
    write_jsonl(path, [{"a": 1}])

    def rows():
        yield {"a": 2}
        raise KeyboardInterrupt  # an interrupted build

    with pytest.raises(KeyboardInterrupt):
        write_jsonl(path, rows())
    assert path.read_text() == '{"a": 1}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["rows.jsonl"]  # no temp file left behind


def test_atomic_open_creates_parents(tmp_path):
    with atomic_open(tmp_path / "a" / "b.txt") as f:
        f.write("x")
    assert (tmp_path / "a" / "b.txt").read_text() == "x"


def test_atomic_dir_swaps_the_folder_or_leaves_it(tmp_path):
    target = tmp_path / "d"
    with atomic_dir(target) as new:
        (new / "a").write_text("1")
    assert [p.name for p in target.iterdir()] == ["a"]
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as new:
            (new / "b").write_text("2")
            raise RuntimeError("failed half-way")
    assert [p.name for p in target.iterdir()] == ["a"] and [p.name for p in tmp_path.iterdir()] == ["d"]
    with atomic_dir(target) as new:
        (new / "b").write_text("2")
    assert [p.name for p in target.iterdir()] == ["b"] and [p.name for p in tmp_path.iterdir()] == ["d"]


def test_atomic_dir_restores_the_old_folder_after_a_kill_between_the_renames(tmp_path):
    target = tmp_path / "d"
    (tmp_path / ".d.old-0123456789ab").mkdir()
    (tmp_path / ".d.old-0123456789ab" / "a").write_text("old")
    (tmp_path / ".d.new-0123456789ab").mkdir()  # complete or not: it cannot be told, so it goes
    with pytest.raises(RuntimeError):
        with atomic_dir(target):
            raise RuntimeError
    assert (target / "a").read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["d"]
