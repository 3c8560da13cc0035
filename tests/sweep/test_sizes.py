"""The developers' guide keeps functions under 60 lines; the sweep's are held to it here,
since a function that grows past it is the sign of a rule that should have its own name."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import ROOT

LIMIT = 60


def test_every_function_of_the_sweep_is_under_60_lines() -> None:
    long = []
    for path in sorted((ROOT / "daemon" / "sweep").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines >= LIMIT:
                    long.append(f"{Path(path).name}:{node.lineno} {node.name}: {lines} lines")
    assert long == [], "\n".join(long)
