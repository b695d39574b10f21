"""Small tools shipped with GWA: arithmetic without ``eval``, and reading a text file inside
one folder (for scenarios whose goal needs numbers from a local file)."""

from __future__ import annotations

import ast
import operator
from pathlib import Path
from typing import Any

_OPS: dict[type, Any] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}
MAX_FILE_BYTES = 64 * 1024


def _value(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _value(node.left), _value(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 64:
            raise ValueError("exponent too large")
        return float(_OPS[type(node.op)](left, right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
        return float(_OPS[type(node.op)](_value(node.operand)))
    raise ValueError(f"only numbers and + - * / // % ** ( ) are allowed, not {ast.dump(node)[:40]}")


def calculate(expression: str) -> float:
    """Evaluate an arithmetic expression such as "12.5 + 7 * 3" (numbers, + - * / // % **,
    parentheses)."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"not an arithmetic expression: {exc.msg}") from None
    return round(_value(tree.body), 10)


def read_file(path: str, root: str = ".") -> str:
    """Read a text file (at most 64 kB) by its path inside the tool's folder."""
    base = Path(root).resolve()
    target = (base / path).resolve()
    if not target.is_relative_to(base):
        raise ValueError(f"{path}: outside the folder this tool may read")
    if not target.is_file():
        names = sorted(p.name for p in base.iterdir() if p.is_file())[:20]
        raise ValueError(f"{path}: no such file; files here: {', '.join(names) or 'none'}")
    data = target.read_bytes()[:MAX_FILE_BYTES]
    return data.decode("utf-8", errors="replace")
