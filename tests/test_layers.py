"""The package's layers run one way: every import of a project module, at the top of a file or
inside a function, goes to a module on the same floor's own package or a lower floor (the pipeline
order of STYLE.md: data -> train -> agent -> eval -> serve, over models, tools and roles)."""

import ast
from pathlib import Path

import multiagentllm

# floor -> the top-level modules and packages of `multiagentllm` on it
FLOORS = {
    1: ("types", "paths", "configs"),  # configs: the shipped YAML files, no code
    2: ("io", "roles"),
    3: ("checkpoint", "tools"),
    4: ("models",),
    5: ("agent", "data", "train", "export"),
    6: ("eval", "serve"),
    7: ("ab", "demo", "export_cli"),
    8: ("cli",),
}
FLOOR = {name: floor for floor, names in FLOORS.items() for name in names}
ROOT = Path(multiagentllm.__file__).parent


def imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names]
    return [n for n in names if n.startswith("multiagentllm.")]


def unit(path: Path) -> str:
    return path.relative_to(ROOT).with_suffix("").parts[0]


def test_every_module_is_on_a_floor():
    found = {unit(p) for p in ROOT.rglob("*.py") if p.name != "__init__.py" or p.parent != ROOT}
    assert found == set(FLOOR)


def test_imports_run_down_only():
    upward = []
    for path in sorted(ROOT.rglob("*.py")):
        if path.parent == ROOT and path.name == "__init__.py":
            continue
        here = unit(path)
        for name in imports(path):
            there = name.split(".")[1]
            if there != here and FLOOR[there] >= FLOOR[here]:
                upward.append(f"{path.relative_to(ROOT)} (floor {FLOOR[here]}) imports {name} (floor {FLOOR[there]})")
    assert upward == []
