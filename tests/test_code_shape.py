"""The shape the code keeps: no function over 50 lines outside migrations and tests."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("crmsync", "flows", "tasks")
MAX_LINES = 50


def _functions(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def test_no_function_is_longer_than_fifty_lines():
    too_long = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
        for node in _functions(path)
        if node.end_lineno - node.lineno + 1 > MAX_LINES
    ]
    assert not too_long, "functions over 50 lines:\n" + "\n".join(too_long)
