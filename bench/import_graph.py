"""Print the import graph between the project's top-level packages, and module sizes.

    python bench/import_graph.py            # edges "a -> b (n imports)" and the largest modules
    python bench/import_graph.py --sizes 0  # edges only

Every `import x` / `from x import` in a package's modules (including imports inside functions)
counts; relative imports resolve to their own package.
"""
from __future__ import annotations

import argparse
import ast
import collections
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("evolve", "evaluators", "sandbox", "archive", "prompts")


def edges() -> dict[tuple[str, str], list[str]]:
    found: dict[tuple[str, str], list[str]] = collections.defaultdict(list)
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    target = name.split(".")[0]
                    if target in PACKAGES and target != package:
                        found[(package, target)].append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, default=15, help="how many of the largest modules to list")
    args = parser.parse_args()
    graph = edges()
    print("imports between top-level packages:")
    for (source, target), sites in sorted(graph.items()):
        print(f"  {source:10s} -> {target:10s} {len(sites):3d}   e.g. {sites[0]}")
    cycles = sorted({tuple(sorted(pair)) for pair in graph if (pair[1], pair[0]) in graph})
    print("cycles:", ", ".join(f"{a} <-> {b}" for a, b in cycles) or "none")
    if args.sizes:
        sizes = sorted(((len(p.read_text().splitlines()), p.relative_to(ROOT)) for package in PACKAGES
                        for p in (ROOT / package).rglob("*.py")), reverse=True)
        print(f"largest modules (lines), of {len(sizes)}:")
        for lines, path in sizes[: args.sizes]:
            print(f"  {lines:5d}  {path}")


if __name__ == "__main__":
    main()
