"""The layering the README states: evolve -> archive, evaluators, prompts, and sandbox through its public API
(`sandbox/__init__`) only; evaluators -> sandbox; archive, sandbox and prompts import none of the others;
the TUI uses no CLI command."""
from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("import_graph", ROOT / "bench" / "import_graph.py")
import_graph = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(import_graph)

ALLOWED = {
    "evolve": {"archive", "evaluators", "sandbox", "prompts"},
    "evaluators": {"sandbox"},
    "sandbox": set(),
    "archive": set(),
    "prompts": set(),
}


def test_top_level_packages_import_only_downwards():
    wrong = {f"{a} -> {b}: {sites[0]}" for (a, b), sites in import_graph.edges().items() if b not in ALLOWED[a]}
    assert not wrong, sorted(wrong)


def test_evolve_reaches_the_sandbox_only_through_its_public_api():
    inside = []
    for path in sorted((ROOT / "evolve").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
            inside += [f"{path.relative_to(ROOT)}:{node.lineno} {n}" for n in names if n.startswith("sandbox.")]
    assert not inside, inside


def test_the_tui_imports_no_cli_command():
    offenders = []
    for path in sorted((ROOT / "evolve" / "tui").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if (module and ("commands" in module.split(".") or module == "evolve.cli")) or \
                    any(n.startswith("evolve.commands") for n in names):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders

