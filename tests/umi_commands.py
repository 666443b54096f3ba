"""Check a `umi ...` command line against the real typer app, so docs and scripts that print or
run such lines cannot drift from the CLI.  (A helper for tests, not a test module.)"""

from __future__ import annotations

from typing import Any

import typer

from multiagentllm.cli import app


def resolve(argv: list[str]) -> tuple[list[str], Any, list[str]]:
    """`["umi", "eval", "static", "--data", "X"]` -> (["umi", "eval", "static"], its command, rest).

    (typer ships its own copy of click, so commands are told apart by what they have.)"""
    assert argv and argv[0] == "umi", argv
    command = typer.main.get_command(app)
    path, rest = ["umi"], list(argv[1:])
    while hasattr(command, "commands") and rest and not rest[0].startswith("-"):
        name = rest[0]
        if name not in command.commands:
            if path == ["umi", "train"]:  # `umi train --config F k=v`: the group runs as a command
                break
            raise AssertionError(f"`{' '.join(path)}` has no subcommand {name!r} "
                                 f"(it has: {', '.join(sorted(command.commands))})")
        command, path, rest = command.commands[name], [*path, name], rest[1:]
    return path, command, rest


def _options(command: Any) -> list[Any]:
    return [p for p in command.params if p.param_type_name == "option"]


def options_of(command: Any) -> set[str]:
    return {name for p in _options(command) for name in (*p.opts, *p.secondary_opts)}


def check_umi_command(argv: list[str]) -> list[str]:
    """Fail unless `argv` names an existing `umi` command and only options it has; return the
    arguments that are not options (nor option values) for further checks."""
    path, command, rest = resolve(argv)
    known = options_of(command) | {"--help"}
    takes_value = {name for p in _options(command) if not p.is_flag for name in p.opts}
    loose, i = [], 0
    while i < len(rest):
        token = rest[i]
        if token.startswith("-") and token != "-":
            name = token.split("=", 1)[0]
            if name not in known:
                raise AssertionError(f"`{' '.join(path)}` has no option {name} (it has: "
                                     f"{', '.join(sorted(known))}) in: {' '.join(argv)}")
            i += 2 if name in takes_value and "=" not in token else 1
            continue
        loose.append(token)
        i += 1
    return loose
