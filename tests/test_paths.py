"""Repository paths from a checkout, and from an installed wheel where no checkout surrounds the package."""

from __future__ import annotations

from pathlib import Path

from multiagentllm import paths
from multiagentllm.paths import default_data_root

REPO = Path(__file__).resolve().parents[1]


def test_a_checkout_is_found_from_the_package():
    assert paths.repo_root() == REPO
    assert paths.repo_path("checkpoints", "cpu-full") == REPO / "checkpoints" / "cpu-full"
    assert (paths.PACKAGE_DIR / "roles" / "templates").is_dir()


def test_an_installed_wheel_falls_back_to_the_current_directory(tmp_path, monkeypatch):
    site = tmp_path / "venv" / "lib" / "python3.12" / "site-packages"
    monkeypatch.setattr(paths, "PACKAGE_DIR", site / "multiagentllm")
    work = tmp_path / "project" / "work"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    assert paths.repo_root() is None
    assert paths.repo_path("checkpoints") == work / "checkpoints"

    monkeypatch.delenv("UMI_DATA_ROOT", raising=False)
    assert default_data_root() == (work / ".." / "shared" / "datasets").resolve()
    (tmp_path / "project" / "shared" / "datasets").mkdir(parents=True)
    assert default_data_root() == tmp_path / "project" / "shared" / "datasets"


def test_portable_paths_are_relative_to_the_checkout_or_its_neighbours(tmp_path, monkeypatch):
    from multiagentllm import paths

    root = tmp_path / "main"
    (root / "checkpoints" / "cpu-full").mkdir(parents=True)
    (tmp_path / "shared" / "datasets").mkdir(parents=True)
    monkeypatch.setattr(paths, "repo_root", lambda: root)
    assert paths.portable(root / "checkpoints" / "cpu-full") == "checkpoints/cpu-full"
    assert paths.portable(tmp_path / "shared" / "datasets") == "../shared/datasets"
    assert paths.portable("/usr/share") == "/usr/share"  # nothing in common but the root


def test_the_recorded_command_names_no_folder_of_this_machine(tmp_path, monkeypatch):
    root = tmp_path / "main"
    root.mkdir()
    monkeypatch.setattr(paths, "repo_root", lambda: root)
    argv = [str(root / "src" / "multiagentllm" / "cli.py"), "eval", "suite", "--checkpoint",
            str(root / "checkpoints" / "cpu-full"), f"--data={root / 'out' / 'data'}",
            "--synth", str(tmp_path / "shared" / "synth.jsonl"), "--limit-bfcl", "50", "--plain",
            "name with space"]
    assert paths.command_line(argv) == (
        "umi eval suite --checkpoint checkpoints/cpu-full --data=out/data "
        "--synth ../shared/synth.jsonl --limit-bfcl 50 --plain 'name with space'")
