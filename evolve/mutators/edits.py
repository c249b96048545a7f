"""Turning an LLM answer into a child program: SEARCH/REPLACE diffs and full rewrites.

Every failure raises EditError with a `kind` and a message meant to be shown to the model
on the retry: nothing fails silently, nothing outside the EVOLVE-BLOCK regions changes.
"""
from __future__ import annotations

import ast
import dataclasses
import re

from ..code import CodeError, find_blocks

_DIFF = re.compile(
    r"^[ \t]*<{5,9}[ \t]*SEARCH[ \t]*\n(?P<search>.*?)^[ \t]*={5,9}[ \t]*\n(?P<replace>.*?)^[ \t]*>{5,9}[ \t]*REPLACE[ \t]*$",
    re.DOTALL | re.MULTILINE)
_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(?P<body>.*?)^[ \t]*```", re.DOTALL | re.MULTILINE)
_MARKER_TEXT = re.compile(r"EVOLVE-BLOCK-(START|END)")


class EditError(ValueError):
    """An answer that does not yield a valid child. kinds: no_edit, unmatched, ambiguous, outside_block,
    syntax, contract, noop."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


@dataclasses.dataclass(frozen=True)
class SearchReplace:
    search: str
    replace: str


@dataclasses.dataclass
class Applied:
    code: str
    summary: dict  # what was parsed and how it matched (recorded in the program row)


def parse_diff(text: str) -> list[SearchReplace]:
    blocks = [SearchReplace(m.group("search"), m.group("replace")) for m in _DIFF.finditer(text)]
    if not blocks:
        if "SEARCH" in text and "REPLACE" in text:
            raise EditError("no_edit", "the SEARCH/REPLACE blocks are malformed; use exactly the lines "
                                       "'<<<<<<< SEARCH', '=======', '>>>>>>> REPLACE'")
        raise EditError("no_edit", "the answer contains no SEARCH/REPLACE block")
    return blocks


def parse_rewrite(text: str) -> str:
    """The program of a full rewrite: the longest ```python fenced block (or the whole answer if unfenced)."""
    fences = [m.group("body") for m in _FENCE.finditer(text)]
    if fences:
        return max(fences, key=len)
    if "```" in text:
        raise EditError("no_edit", "the ```python code block is not closed (was the answer cut off?)")
    if "def " in text or "class " in text:
        return text
    raise EditError("no_edit", "the answer contains no ```python code block with the program")


def _block_ranges(code: str) -> list[tuple[int, int]]:
    try:
        return [(b.start, b.end) for b in find_blocks(code)]
    except CodeError as exc:
        raise EditError("contract", f"the EVOLVE-BLOCK markers are broken: {exc}") from None


def _line_of(code: str, offset: int) -> int:
    return code.count("\n", 0, offset)


def _inside(ranges, first: int, last: int) -> bool:
    return any(start <= first and last < end for start, end in ranges)


def _describe_ranges(ranges) -> str:
    return ", ".join(f"lines {s + 1}-{e}" for s, e in ranges) or "none"


def _exact_matches(code: str, search: str) -> list[tuple[int, int]]:
    """Character spans of every exact occurrence that starts at the beginning of a line."""
    spans, start = [], code.find(search)
    while start != -1:
        if start == 0 or code[start - 1] == "\n":
            spans.append((start, start + len(search)))
        start = code.find(search, start + 1)
    return spans


def _strip_blank_edges(lines: list[str]) -> list[str]:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def _indent(line: str) -> str:
    return line[:len(line) - len(line.lstrip())]


def _reindent(lines: list[str], pairs: list[tuple[str, str]]) -> list[str]:
    """Move `lines` from the SEARCH text's indentation to the program's.

    `pairs` are (search line, matched program line). Each indentation width seen in the SEARCH text maps to
    the program's; other widths are placed by the ratio of the two styles (e.g. 2-space vs 4-space).
    """
    mapping: dict[int, str] = {}
    for search_line, code_line in pairs:
        if search_line.strip():
            mapping.setdefault(len(_indent(search_line)), _indent(code_line))
    widths = sorted(mapping)
    base = widths[0]
    ratio = 1.0
    if len(widths) > 1 and widths[-1] != base:
        ratio = (len(mapping[widths[-1]]) - len(mapping[base])) / (widths[-1] - base)
    unit = " " if " " in "".join(mapping.values()) or not "".join(mapping.values()) else "\t"
    out = []
    for line in lines:
        if not line.strip():
            out.append("")
            continue
        width = len(_indent(line))
        if width in mapping:
            indent = mapping[width]
        else:
            indent = unit * max(0, round(len(mapping[base]) + (width - base) * ratio))
        out.append(indent + line.lstrip())
    return out


def apply_diff(code: str, blocks: list[SearchReplace]) -> Applied:
    """Apply SEARCH/REPLACE blocks in order: exact match first, then a whitespace-tolerant line match.

    A block must match exactly one place, inside an EVOLVE-BLOCK region, and must not touch the markers.
    """
    matches = []
    for number, block in enumerate(blocks, 1):
        label = f"SEARCH block {number} of {len(blocks)}"
        if not block.search.strip():
            raise EditError("unmatched", f"{label} is empty; quote the lines to replace")
        if _MARKER_TEXT.search(block.search) or _MARKER_TEXT.search(block.replace):
            raise EditError("outside_block", f"{label} touches an EVOLVE-BLOCK marker line; edit only between the markers")
        ranges = _block_ranges(code)
        spans = _exact_matches(code, block.search)
        how = "exact"
        if spans:
            inside = [sp for sp in spans if _inside(ranges, _line_of(code, sp[0]), _line_of(code, max(sp[0], sp[1] - 1)))]
            if not inside:
                first = _line_of(code, spans[0][0]) + 1
                raise EditError("outside_block", f"{label} matches line {first}, outside the EVOLVE-BLOCK regions "
                                                 f"({_describe_ranges(ranges)}); only code between the markers may change")
            if len(inside) > 1:
                raise EditError("ambiguous", f"{label} matches {len(inside)} places; include more surrounding lines")
            start, end = inside[0]
            code = code[:start] + block.replace + code[end:]
        else:
            how = "whitespace"
            code = _apply_tolerant(code, block, ranges, label)
        matches.append(how)
    return Applied(code, {"blocks": len(blocks), "matches": matches})


def _apply_tolerant(code: str, block: SearchReplace, ranges, label: str) -> str:
    search = _strip_blank_edges(block.search.splitlines())
    key = [line.strip() for line in search]
    lines = code.splitlines()
    found = [i for i in range(len(lines) - len(key) + 1)
             if [line.strip() for line in lines[i:i + len(key)]] == key]
    if not found:
        preview = search[0].strip()[:80] if search else ""
        raise EditError("unmatched", f"{label} does not match the program (first line {preview!r}), not even "
                                     f"ignoring whitespace; copy the lines to replace exactly from the current program")
    inside = [i for i in found if _inside(ranges, i, i + len(key) - 1)]
    if not inside:
        raise EditError("outside_block", f"{label} matches line {found[0] + 1}, outside the EVOLVE-BLOCK regions "
                                         f"({_describe_ranges(ranges)}); only code between the markers may change")
    if len(inside) > 1:
        raise EditError("ambiguous", f"{label} matches {len(inside)} places; include more surrounding lines")
    at = inside[0]
    replacement = _reindent(_strip_blank_edges(block.replace.splitlines()), list(zip(search, lines[at:at + len(key)])))
    trailing = "\n" if code.endswith("\n") else ""
    return "\n".join(lines[:at] + replacement + lines[at + len(key):]) + trailing


def apply_rewrite(parent: str, program: str) -> Applied:
    """A full rewrite keeps the markers (same number of regions) and leaves the code outside them unchanged."""
    parent_ranges, new_ranges = _block_ranges(parent), _block_ranges(program)
    has_markers = bool(_MARKER_TEXT.search(parent))
    if has_markers and not _MARKER_TEXT.search(program):
        raise EditError("contract", "the rewrite dropped the EVOLVE-BLOCK-START / EVOLVE-BLOCK-END markers; "
                                    "return the whole program with the markers kept")
    if len(parent_ranges) != len(new_ranges):
        raise EditError("contract", f"the rewrite has {len(new_ranges)} EVOLVE-BLOCK regions; the program has "
                                    f"{len(parent_ranges)}")
    outside_old = _outside(parent, parent_ranges)
    outside_new = _outside(program, new_ranges)
    if outside_old != outside_new:
        differing = next((i for i, (a, b) in enumerate(zip(outside_old, outside_new)) if a != b),
                         min(len(outside_old), len(outside_new)))
        shown = outside_new[differing] if differing < len(outside_new) else "(missing)"
        raise EditError("outside_block", f"the rewrite changes code outside the EVOLVE-BLOCK regions "
                                         f"(around {shown!r}); only code between the markers may change")
    if not program.endswith("\n"):
        program += "\n"
    return Applied(program, {"rewrite_lines": len(program.splitlines())})


def _outside(code: str, ranges) -> list[str]:
    lines = code.splitlines()
    inside = set()
    for start, end in ranges:
        inside.update(range(start, end))
    return [line.rstrip() for i, line in enumerate(lines) if i not in inside and line.strip()]


def check_program(code: str, parent: str, entry_point: str) -> None:
    """The child parses, still defines the entry point at module level, and differs from its parent."""
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        line = (exc.text or "").strip()
        raise EditError("syntax", f"the edited program does not parse: line {exc.lineno}: {exc.msg}"
                                  + (f": {line[:80]!r}" if line else "")) from None
    defined = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    defined |= {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)}
    if entry_point not in defined:
        raise EditError("contract", f"the edited program no longer defines {entry_point!r} at module level")
    if code.strip() == parent.strip():
        raise EditError("noop", "the edit leaves the program unchanged")
