"""Lower layers never import higher ones: the store knows nothing of the sync or the page."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "crmsync"


def _imports(path: Path) -> set[str]:
    """Every module an import statement in ``path`` names, at any depth (functions included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _offences(layer: str, higher: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(PACKAGE.parent)} imports {name}"
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for name in sorted(_imports(path))
        if any(name == h or name.startswith(f"{h}.") for h in higher)
    ]


@pytest.mark.parametrize(
    ("layer", "higher"),
    [
        ("store", ("crmsync.sync", "crmsync.page")),
        ("sync", ("crmsync.page",)),
    ],
)
def test_a_layer_does_not_import_a_higher_one(layer, higher):
    assert _offences(layer, higher) == []


def test_the_check_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from crmsync.sync.plan import PARENT_SYNCED\n    import crmsync.page\n")
    assert {"crmsync.sync.plan", "crmsync.page"} <= _imports(module)
