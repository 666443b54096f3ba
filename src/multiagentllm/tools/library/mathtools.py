"""Math: a safe arithmetic evaluator (an AST walk, never eval) and descriptive statistics.

The evaluator bounds every intermediate result, not only the input: an integer has at most
`MAX_DIGITS` digits and a float must be finite.  A power is refused before it is computed when its
size (exponent x digits of the base) is over the bound -- checking the exponent alone let powers
chain, and `((10**1000)**1000)**20` held the interpreter for 18 s in one C call.  With every
operand bounded, each operation takes microseconds and the expression's length bounds their
number.  The tools still run in a worker process (`cpu_bound=True`), so a cost missed here is
ended by the timeout instead of stalling the caller's process.
"""

from __future__ import annotations

import ast
import math
import operator
import statistics as st

from multiagentllm.tools.registry import ToolError, tool

MAX_DIGITS = 1000  # of any integer the evaluator makes (2**3000 has 904)
MAX_LENGTH = 2000  # characters of an expression
_TOO_BIG = 10 ** MAX_DIGITS


def _bounded(x: object) -> float:
    """`x` itself when it is a real number within the bounds; otherwise a ToolError."""
    if isinstance(x, int):
        if abs(x) >= _TOO_BIG:
            raise ToolError(f"result too large: more than {MAX_DIGITS} digits")
        return x
    if isinstance(x, float):
        if math.isinf(x):
            raise ToolError("result too large for a floating-point number (overflow)")
        if math.isnan(x):
            raise ToolError("result is not a number (NaN)")
        return x
    raise ToolError("result is not a real number")  # complex, from (-8) ** 0.5


def _power(base: float, exp: float) -> float:
    """`base ** exp`, refused before the work when an integer result would be too large."""
    if isinstance(base, int) and isinstance(exp, int) and exp > 0 and abs(base) > 1:
        # |base| >= 2, so an exponent over 4 * MAX_DIGITS is too large whatever the base
        if exp > 4 * MAX_DIGITS or exp * math.log10(abs(base)) > MAX_DIGITS + 1:
            raise ToolError(f"result too large: more than {MAX_DIGITS} digits")
    return base ** exp


def _round(x: float, ndigits: int | None = None) -> float:
    # round(n, -k) computes 10**k: bound k as a power is bounded
    if isinstance(ndigits, int) and abs(ndigits) > MAX_DIGITS:
        raise ToolError(f"round: ndigits must be between -{MAX_DIGITS} and {MAX_DIGITS}")
    return round(x, ndigits)


_BIN = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: _power}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCS = {"sqrt": math.sqrt, "abs": abs, "round": _round, "log": math.log, "log10": math.log10,
          "sin": math.sin, "cos": math.cos, "tan": math.tan, "min": min, "max": max, "exp": math.exp,
          "floor": math.floor, "ceil": math.ceil}
_CONSTS = {"pi": math.pi, "e": math.e}


def evaluate(expression: str) -> float:
    if len(expression) > MAX_LENGTH:
        raise ToolError(f"expression too long: {len(expression)} characters (the limit is {MAX_LENGTH})")
    try:
        tree = ast.parse(expression.replace("^", "**").replace("×", "*").replace("÷", "/"), mode="eval")
    except (SyntaxError, ValueError, RecursionError):
        raise ToolError(f"cannot parse expression {expression!r}") from None

    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return _bounded(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in _BIN:
            return _bounded(_BIN[type(node.op)](ev(node.left), ev(node.right)))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _bounded(_UNARY[type(node.op)](ev(node.operand)))
        if isinstance(node, ast.Name) and node.id in _CONSTS:
            return _CONSTS[node.id]
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS
                and not node.keywords):
            return _bounded(_FUNCS[node.func.id](*[ev(a) for a in node.args]))
        raise ToolError(f"unsupported element in expression: {ast.unparse(node)!r}")

    try:
        return ev(tree)
    except ZeroDivisionError:
        raise ToolError("division by zero") from None
    except OverflowError as e:
        raise ToolError(f"result too large for a floating-point number ({e})") from None
    except RecursionError:
        raise ToolError("expression nested too deeply") from None
    except (ValueError, TypeError) as e:
        raise ToolError(f"math error: {e}") from None


def tidy(x: float) -> float | int:
    """Integers stay integers; other results keep 6 significant decimals."""
    if isinstance(x, int) or float(x).is_integer():
        return int(x)
    return round(x, 6)


@tool(domain="math", cpu_bound=True)
def calculate(expression: str) -> dict:
    """Evaluate an arithmetic expression: + - * / ** %, parentheses, sqrt, log, sin, pi, ...

    Args:
        expression: The expression, e.g. "(12.5 + 7) * 3".
    """
    return {"expression": expression, "result": tidy(evaluate(expression))}


@tool(domain="math", cpu_bound=True)
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


@tool(domain="math", cpu_bound=True)
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
