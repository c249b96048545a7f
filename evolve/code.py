"""Program text utilities: EVOLVE-BLOCK regions, normalised hashes, built-in code descriptors."""
from __future__ import annotations

import ast
import dataclasses
import hashlib
import re

START = "EVOLVE-BLOCK-START"
END = "EVOLVE-BLOCK-END"
_MARKER = re.compile(r"^[ \t]*#\s*(EVOLVE-BLOCK-START|EVOLVE-BLOCK-END)\b.*$")


class CodeError(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class Block:
    """An editable region: lines [start, end) of the program, excluding the marker lines."""
    start: int
    end: int


def find_blocks(code: str) -> list[Block]:
    """EVOLVE-BLOCK regions of a program; the whole program when it has no markers."""
    lines = code.splitlines()
    blocks, open_at = [], None
    for number, line in enumerate(lines):
        match = _MARKER.match(line)
        if not match:
            continue
        if match.group(1) == START:
            if open_at is not None:
                raise CodeError(f"line {number + 1}: {START} inside an open block")
            open_at = number + 1
        else:
            if open_at is None:
                raise CodeError(f"line {number + 1}: {END} without {START}")
            blocks.append(Block(open_at, number))
            open_at = None
    if open_at is not None:
        raise CodeError(f"{START} at line {open_at} is never closed")
    if not blocks and not any(_MARKER.match(line) for line in lines):
        return [Block(0, len(lines))]
    return blocks


def block_text(code: str, block: Block) -> str:
    return "\n".join(code.splitlines()[block.start:block.end])


def replace_block(code: str, block: Block, new_text: str) -> str:
    lines = code.splitlines()
    new_lines = new_text.rstrip("\n").splitlines()
    trailing = "\n" if code.endswith("\n") else ""
    return "\n".join(lines[:block.start] + new_lines + lines[block.end:]) + trailing


def evolvable_text(code: str) -> str:
    """The concatenated text of all editable regions."""
    return "\n".join(block_text(code, b) for b in find_blocks(code))


def strip_markers(code: str) -> str:
    return "\n".join(line for line in code.splitlines() if not _MARKER.match(line)) + "\n"


class _DropDocstrings(ast.NodeTransformer):
    def _strip(self, node):
        self.generic_visit(node)
        body = getattr(node, "body", None)
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = visit_Module = _strip


def normalized_hash(code: str) -> str:
    """Hash of the program's AST: comments, formatting and docstrings do not change it."""
    try:
        tree = _DropDocstrings().visit(ast.parse(code))
        canonical = ast.dump(tree, annotate_fields=False, include_attributes=False)
    except SyntaxError:
        canonical = "\n".join(line.rstrip() for line in code.strip().splitlines())
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def builtin_descriptors(code: str) -> dict[str, float]:
    """Descriptors every task offers: size of the evolvable code in characters, lines and AST nodes."""
    text = evolvable_text(code)
    meaningful = [line for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    try:
        nodes = sum(1 for _ in ast.walk(ast.parse(code)))
    except SyntaxError:
        nodes = 0
    return {"code_size": float(sum(len(line.strip()) for line in meaningful)),
            "code_lines": float(len(meaningful)), "ast_nodes": float(nodes)}


BUILTIN_DESCRIPTORS = ("code_size", "code_lines", "ast_nodes")
