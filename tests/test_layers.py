"""The engine (``tandem/``) imports no layer above it: no Prefect, blocks, flows, tasks, web or operator code."""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[1] / "tandem"
ABOVE = {"prefect", "blocks", "flows", "tasks", "web", "ops"}


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_engine_imports_nothing_above_it() -> None:
    offending = {
        str(path.relative_to(ENGINE.parent)): sorted(_imported(path) & ABOVE) for path in sorted(ENGINE.rglob("*.py"))
    }
    assert {path: names for path, names in offending.items() if names} == {}
