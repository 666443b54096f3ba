"""Math: a safe arithmetic evaluator (an AST walk, never eval) and descriptive statistics."""

from __future__ import annotations

import ast
import math
import operator
import statistics as st

from multiagentllm.tools.registry import ToolError, tool

_BIN = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCS = {"sqrt": math.sqrt, "abs": abs, "round": round, "log": math.log, "log10": math.log10,
          "sin": math.sin, "cos": math.cos, "tan": math.tan, "min": min, "max": max, "exp": math.exp,
          "floor": math.floor, "ceil": math.ceil}
_CONSTS = {"pi": math.pi, "e": math.e}


def evaluate(expression: str) -> float:
    try:
        tree = ast.parse(expression.replace("^", "**").replace("×", "*").replace("÷", "/"), mode="eval")
    except SyntaxError:
        raise ToolError(f"cannot parse expression {expression!r}") from None

    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _BIN:
            left, right = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > 1000:
                raise ToolError("exponent too large")
            return _BIN[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](ev(node.operand))
        if isinstance(node, ast.Name) and node.id in _CONSTS:
            return _CONSTS[node.id]
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS
                and not node.keywords):
            return _FUNCS[node.func.id](*[ev(a) for a in node.args])
        raise ToolError(f"unsupported element in expression: {ast.unparse(node)!r}")

    try:
        return ev(tree)
    except ZeroDivisionError:
        raise ToolError("division by zero") from None
    except (ValueError, OverflowError, TypeError) as e:
        raise ToolError(f"math error: {e}") from None


def tidy(x: float) -> float | int:
    """Integers stay integers; other results keep 6 significant decimals."""
    if isinstance(x, int) or float(x).is_integer():
        return int(x)
    return round(x, 6)


@tool(domain="math")
def calculate(expression: str) -> dict:
    """Evaluate an arithmetic expression: + - * / ** %, parentheses, sqrt, log, sin, pi, ...

    Args:
        expression: The expression, e.g. "(12.5 + 7) * 3".
    """
    return {"expression": expression, "result": tidy(evaluate(expression))}


@tool(domain="math")
def describe_numbers(numbers: list[float]) -> dict:
    """Count, sum, mean, median, minimum, maximum and standard deviation of a list of numbers.

    Args:
        numbers: The numbers, e.g. [3, 5, 8].
    """
    if not numbers:
        raise ToolError("numbers is empty")
    return {"count": len(numbers), "sum": tidy(sum(numbers)), "mean": tidy(round(st.fmean(numbers), 4)),
            "median": tidy(st.median(numbers)), "min": tidy(min(numbers)), "max": tidy(max(numbers)),
            "stdev": tidy(round(st.pstdev(numbers), 4))}


@tool(domain="math")
def percentage(part: float, whole: float) -> dict:
    """What percentage one number is of another.

    Args:
        part: The part.
        whole: The whole (not zero).
    """
    if whole == 0:
        raise ToolError("whole must not be zero")
    return {"part": tidy(part), "whole": tidy(whole), "percent": tidy(round(part / whole * 100, 2))}


TOOLS = [calculate, describe_numbers, percentage]
