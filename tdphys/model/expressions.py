"""Arithmetic expressions over a robot file's `vars` (docs/robot-format.md#vars).

    evaluate("0.03 + shin + thigh", {"shin": 0.145, "thigh": 0.145})   # -> 0.32

Allowed: numbers, var names, + - * / ** and parentheses, `pi`, and the functions in FUNCTIONS.
Nothing else is evaluated (no attribute access, no calls of anything else), so a robot file
cannot run code. Errors are ValueError (Refused for what is not allowed) with a message the
loader puts next to the key path.
"""

from __future__ import annotations

import ast
import math
import operator

FUNCTIONS = {
    "sqrt": math.sqrt,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "asin": math.asin,
    "acos": math.acos,
    "atan": math.atan,
    "atan2": math.atan2,
    "abs": abs,
    "min": min,
    "max": max,
}
CONSTANTS = {"pi": math.pi}
RESERVED = frozenset(FUNCTIONS) | frozenset(CONSTANTS)

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}


class Refused(ValueError):
    """The expression uses something that is not allowed (a name it does not know, a call or
    an operator outside the list): the message says what."""


def parse(text: str) -> ast.Expression:
    """The expression's syntax tree; ValueError when `text` is not an expression at all."""
    try:
        return ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        raise ValueError(f"'{text}' is not an arithmetic expression") from None


def names_in(tree: ast.Expression) -> set[str]:
    """The names a parsed expression refers to (vars, constants and functions)."""
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def evaluate(
    text: str | ast.Expression, variables: dict[str, float], shown: str | None = None
) -> float:
    """The value of an expression (text, or parse()'s tree) with `variables`; Refused or
    ValueError saying what is wrong otherwise (quoting `shown`, default the text)."""
    tree = parse(text) if isinstance(text, str) else text
    shown = shown or (text if isinstance(text, str) else ast.unparse(tree))
    try:
        value = float(_eval(tree.body, variables))
    except Refused:
        raise
    except OverflowError:
        raise ValueError(f"'{shown}' cannot be evaluated (its value is too large)") from None
    except (ZeroDivisionError, TypeError, ValueError) as exc:
        raise ValueError(f"'{shown}' cannot be evaluated ({exc})") from None
    if not math.isfinite(value):
        raise ValueError(f"'{shown}' is not finite ({value})")
    return value


def _eval(node: ast.AST, variables: dict[str, float]):
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, (int, float))
        and not isinstance(node.value, bool)
    ):
        return float(node.value)  # floats: 9**9**9 overflows at once instead of hanging
    if isinstance(node, ast.Name):
        if node.id in variables:
            return variables[node.id]
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        raise Refused(f"unknown name '{node.id}'")
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_eval(node.left, variables), _eval(node.right, variables))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand, variables))
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in FUNCTIONS
        and not node.keywords
    ):
        return FUNCTIONS[node.func.id](*(_eval(a, variables) for a in node.args))
    raise Refused(
        "only numbers, vars, + - * / ** ( ), pi and "
        f"{', '.join(sorted(FUNCTIONS))}(...) are allowed"
    )
