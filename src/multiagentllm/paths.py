"""Where things live: the package's own folder, and the checkout it runs from when there is one.

Files shipped inside the package (role templates, training configs) are read with
`importlib.resources`, which works the same in a checkout and in an installed wheel. A few
defaults are paths of the repository, not of the package (`checkpoints/`, `../shared/datasets`):
`repo_root()` finds the checkout, and `repo_path()` falls back to the current directory when the
package is installed as a wheel, where no checkout surrounds it.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent  # .../multiagentllm


def repo_root() -> Path | None:
    """The checkout holding this package (`<root>/src/multiagentllm`, beside `<root>/pyproject.toml`),
    or None when the package is installed elsewhere (a wheel in site-packages)."""
    src = PACKAGE_DIR.parent
    root = src.parent
    if src.name == "src" and (root / "pyproject.toml").is_file():
        return root
    return None


def repo_path(*parts: str) -> Path:
    """`parts` under the checkout, or under the current directory when there is no checkout."""
    return (repo_root() or Path.cwd()).joinpath(*parts)


def portable(path: str | os.PathLike) -> str:
    """`path` as written into committed results: relative to the checkout (or the current
    directory), with `..` for a neighbour such as `../shared/datasets`; unchanged when it shares
    no folder with the checkout but the file system's root."""
    base = (repo_root() or Path.cwd()).resolve()
    full = Path(path).expanduser().resolve()
    common = Path(os.path.commonpath([base, full]))
    if common == Path(common.anchor):
        return str(path)
    return os.path.relpath(full, base)


def command_line(argv: list[str] | None = None) -> str:
    """The running `umi` command as written into committed results: `umi` and its arguments,
    absolute paths made portable (also the value of `--key=/abs/path`), so the file names no
    folder of the machine that ran it."""
    args = list(sys.argv if argv is None else argv)[1:]

    def one(arg: str) -> str:
        key, eq, value = arg.partition("=") if arg.startswith("--") else ("", "", arg)
        return key + eq + portable(value) if os.path.isabs(value) else arg

    return shlex.join(["umi", *map(one, args)])


def default_data_root() -> Path:
    """The public datasets: $UMI_DATA_ROOT, else `../shared/datasets` beside the current
    directory or beside the checkout, whichever exists (the former if neither does)."""
    env = os.environ.get("UMI_DATA_ROOT")
    if env:
        return Path(env)
    for base in filter(None, (Path.cwd(), repo_root())):  # no checkout when installed as a wheel
        candidate = (base / ".." / "shared" / "datasets").resolve()
        if candidate.exists():
            return candidate
    return (Path.cwd() / ".." / "shared" / "datasets").resolve()
