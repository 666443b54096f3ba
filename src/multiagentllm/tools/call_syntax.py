"""Calls written as source text (`torch.hub.load(repo_or_dir='pytorch/vision', model='resnet50')`,
or a command line) <-> `ToolCall`s with JSON arguments.

Gorilla's APIBench writes its reference calls and its API documentation this way; the APIBench
loader, the Gorilla hub tools and the APIBench evaluator all read them with this one scanner, so
the three read a call the same way.

Python's own parser rejects a few reference calls (`torch.hub.load(repo_or_dir='x', 'y', ...)`,
a trailing `.`), while Gorilla's tree-sitter parser tolerates them, so calls are read here by a
small tolerant scanner (`find_calls`): a dotted name, `(`, top-level comma-separated arguments,
the matching `)` (or the end of the text).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Any

from multiagentllm.types import ToolCall

# Names for positional arguments, so a call becomes JSON arguments; others become arg0, arg1...
POSITIONAL_NAMES = {
    "torch.hub.load": ("repo_or_dir", "model"),
    "pipeline": ("task", "model"),
    "hub.load": ("handle",),
    "hub.KerasLayer": ("handle",),
    "SentenceTransformer": ("model_name_or_path",),
}
_FROM_PRETRAINED = ("pretrained_model_name_or_path",)
_NAME = re.compile(r"(?<![\w.])([A-Za-z_]\w*(?:\s*\.\s*[A-Za-z_]\w*)*)\s*\(")
_KEYWORD = re.compile(r"([A-Za-z_]\w*)\s*=(?!=)\s*(.*)", re.S)


@dataclass
class CallExpr:
    """One call found in source text: dotted name, (keyword or None, raw value) arguments, text."""

    name: str
    args: list[tuple[str | None, str]]
    text: str


def _string_mask(code: str) -> list[bool]:
    """True at every character inside a string literal (quotes included)."""
    mask = [False] * len(code)
    quote, i = None, 0
    while i < len(code):
        ch = code[i]
        if quote is None and ch in "'\"":
            quote = ch
            mask[i] = True
        elif quote is not None:
            mask[i] = True
            if ch == "\\":
                if i + 1 < len(code):
                    mask[i + 1] = True
                i += 1
            elif ch == quote:
                quote = None
        i += 1
    return mask


def _split_args(code: str, start: int) -> tuple[list[str], int]:
    """Split the argument text after the `(` at `start`; return (pieces, end index after `)`)."""
    pieces, depth, quote, current, i = [], 0, None, [], start + 1
    while i < len(code):
        ch = code[i]
        if quote is not None:
            current.append(ch)
            if ch == "\\" and i + 1 < len(code):
                current.append(code[i + 1])
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            current.append(ch)
        elif ch in "([{":
            depth += 1
            current.append(ch)
        elif ch in ")]}" and depth > 0:
            depth -= 1
            current.append(ch)
        elif ch == ")":
            pieces.append("".join(current))
            return [p.strip() for p in pieces if p.strip()], i + 1
        elif ch == "," and depth == 0:
            pieces.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    pieces.append("".join(current))  # unclosed call: the arguments run to the end of the text
    return [p.strip() for p in pieces if p.strip()], len(code)


def find_calls(code: str) -> list[CallExpr]:
    """Every call in `code` in source order, nested calls included (outer before inner)."""
    mask = _string_mask(code)
    calls = []
    for m in _NAME.finditer(code):
        if mask[m.start()]:
            continue
        pieces, end = _split_args(code, m.end() - 1)
        args: list[tuple[str | None, str]] = []
        for piece in pieces:
            kw = _KEYWORD.fullmatch(piece)
            args.append((kw.group(1), kw.group(2).strip()) if kw else (None, piece))
        calls.append(CallExpr(re.sub(r"\s+", "", m.group(1)), args, code[m.start():end]))
    return calls


def calls_in(code: str) -> list[CallExpr]:
    """`find_calls`, looking inside the quotes when the whole text is one quoted string (a few
    reference calls are written as `'Model.from_pretrained(x)'`)."""
    calls = find_calls(code)
    text = code.strip()
    if not calls and len(text) > 1 and text[0] == text[-1] and text[0] in "'\"":
        calls = find_calls(text[1:-1])
    return calls


def parse_command(text: str) -> CallExpr | None:
    """A command line (`mlagents-load-from-hf --repo-id='x' --local-dir=y`) as a call: the
    program is the name, `--key=value` / `--key value` are keyword arguments.  A handful of
    Hugging Face references are command lines rather than Python calls."""
    tokens = text.strip().split()
    if not tokens:
        return None
    args: list[tuple[str | None, str]] = []
    i = 1
    while i < len(tokens):
        tok = tokens[i]
        if tok.startswith("--") and "=" in tok:
            key, value = tok[2:].split("=", 1)
            args.append((key, value))
        elif tok.startswith("--") and i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
            args.append((tok[2:], tokens[i + 1]))
            i += 1
        else:
            args.append((None, tok))
        i += 1
    return CallExpr(tokens[0], args, text.strip())


def reference_calls(code: str) -> list[CallExpr]:
    """The calls of a reference answer: Python calls, or else the text read as a command line."""
    command = parse_command(code)
    return calls_in(code) or ([command] if command else [])


def literal(text: str) -> Any:
    """A Python literal's value (`'x'` -> "x", `True` -> true); anything else stays source text."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    if isinstance(value, tuple):
        value = list(value)
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return text
    return value


def positional_names(name: str) -> tuple[str, ...]:
    if name in POSITIONAL_NAMES:
        return POSITIONAL_NAMES[name]
    return _FROM_PRETRAINED if name.endswith(".from_pretrained") else ()


def json_type(value: Any) -> str:
    """The JSON schema type of an argument value read from a call (text is a "string")."""
    return {bool: "boolean", int: "integer", float: "number", list: "array", dict: "object"}.get(
        type(value), "string")


def call_to_toolcall(call: CallExpr) -> ToolCall:
    """JSON arguments for a call; positional arguments get their conventional names."""
    keywords = {key for key, _ in call.args if key is not None}
    free = [n for n in positional_names(call.name) if n not in keywords]
    args: dict[str, Any] = {}
    position = 0
    for key, raw in call.args:
        if key is None:
            key = free[position] if position < len(free) else f"arg{position}"
            position += 1
        args[key] = literal(raw)
    return ToolCall(call.name, args)


def toolcall_to_code(call: ToolCall) -> str:
    """Python source for a tool call: conventional positional names first, the rest as keywords."""
    if not re.fullmatch(r"[A-Za-z_][\w.]*", call.name):  # a command line
        return " ".join([call.name] + [_flag(k, v) for k, v in call.arguments.items()])
    names = list(positional_names(call.name))
    extra = sorted((k for k in call.arguments if re.fullmatch(r"arg\d+", k)), key=lambda k: int(k[3:]))
    positional = []  # a contiguous prefix only: `pipeline(model='m')` must not become `pipeline('m')`
    for name in names:
        if name not in call.arguments:
            break
        positional.append(name)
    if len(positional) == len(names):
        positional += extra
    parts = [_py(call.arguments[k]) for k in positional]
    parts += [f"{k}={_py(v)}" for k, v in call.arguments.items() if k not in positional]
    return f"{call.name}({', '.join(parts)})"


def _py(value: Any) -> str:
    return repr(value)


def _flag(key: str, value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if re.fullmatch(r"arg\d+", key) else f"--{key}={text}"
