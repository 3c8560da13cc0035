"""A module's underscored names are its own: another module that needs one gets a public
name in a module both import (agents/formats.py for the agents' output formats), so a
change inside one module cannot break another that reached into it."""

from __future__ import annotations

import ast

from tests.helpers import ROOT

PACKAGES = ("daemon", "config", "state")


def _module(path: str) -> str:
    return "agentd." + path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def test_no_module_imports_another_modules_private_names() -> None:
    reached = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for node in ast.walk(ast.parse(path.read_text(), rel)):
                if not isinstance(node, ast.ImportFrom) or node.module is None:
                    continue
                if node.module == _module(rel):
                    continue
                private = [a.name for a in node.names if a.name.startswith("_")]
                private = [n for n in private if not n.startswith("__")]  # __version__
                if private:
                    reached.append(f"{rel}: {node.module} {private}")
    assert reached == []
