"""Rules the code keeps that no linter checks for us."""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[1] / "bulkimport"
LONGEST = 60  # lines of a function, from its `def` to its last line, docstring included


def long_functions(root: Path) -> list[str]:
    """Functions over LONGEST lines under `root`, the emulator left out: its route tables are
    long lists of routes, not logic."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if "emulator" in path.relative_to(root).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > LONGEST:
                    found.append(f"{path.relative_to(root)}:{node.lineno} {node.name}: {lines}")
    return found


def test_no_engine_function_is_longer_than_60_lines():
    assert long_functions(ENGINE) == []


def test_the_measure_sees_a_long_method_and_spares_the_emulator(tmp_path):
    body = "\n".join(f"        x{i} = {i}" for i in range(60))
    source = f"class C:\n    async def f(self):\n{body}\n"
    (tmp_path / "stage.py").write_text(source)
    (tmp_path / "emulator").mkdir()
    (tmp_path / "emulator" / "routes.py").write_text(source)
    assert long_functions(tmp_path) == ["stage.py:2 f: 61"]
