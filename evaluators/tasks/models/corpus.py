"""The text the target and draft language models learn: docstrings of Python's standard library.

Every Python install ships its standard library's sources; their docstrings are real English
prose about programming. `build()` extracts the module, class and function docstrings of the
modules in `MODULES` (in that order) from the running interpreter, keeps printable ASCII,
and `data/stdlib_docstrings.txt` ships the result (built from CPython 3.11.7, PSF License) so
training does not depend on which Python is installed. Rebuild it with
`python -m evaluators.tasks.models.corpus`.

Tokens are characters: the 95 printable ASCII characters plus newline.
"""
from __future__ import annotations

import ast
import functools
import importlib.util
import re
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
CORPUS_FILE = DATA / "stdlib_docstrings.txt"
MODULES = (
    "argparse", "ast", "asyncio.events", "asyncio.tasks", "base64", "bisect", "calendar", "collections",
    "contextlib", "copy", "csv", "dataclasses", "datetime", "decimal", "difflib", "email.message",
    "enum", "fractions", "ftplib", "functools", "getopt", "gettext", "glob", "gzip", "heapq", "hmac",
    "html.parser", "http.client", "http.server", "imaplib", "inspect", "ipaddress", "json.decoder",
    "json.encoder", "locale", "logging", "mailbox", "mimetypes", "multiprocessing.pool", "nntplib",
    "numbers", "optparse", "os", "pathlib", "pdb", "pickle", "pkgutil", "platform", "plistlib",
    "poplib", "pprint", "pydoc", "queue", "random", "re", "sched", "secrets", "selectors", "shelve",
    "shlex", "shutil", "smtplib", "socket", "socketserver", "statistics", "string", "subprocess",
    "tarfile", "tempfile", "textwrap", "threading", "timeit", "tokenize", "trace", "traceback",
    "typing", "unittest.case", "urllib.parse", "urllib.request", "uuid", "warnings", "wave",
    "weakref", "xml.dom.minidom", "zipfile", "zipimport",
)
CHARS = "\n" + "".join(chr(c) for c in range(32, 127))
STOI = {c: i for i, c in enumerate(CHARS)}
VOCAB_SIZE = len(CHARS)
HELDOUT_FRACTION = 0.05


def _docstrings(module: str) -> list[str]:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return []
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=True)
            if doc and len(doc) >= 40:
                out.append(doc)
    return out


def build() -> str:
    texts = []
    for module in MODULES:
        for doc in _docstrings(module):
            doc = "".join(c for c in doc if c in STOI)
            texts.append(re.sub(r"\n{3,}", "\n\n", doc).strip())
    return "\n\n".join(texts) + "\n"


@functools.lru_cache(maxsize=1)
def text() -> str:
    return CORPUS_FILE.read_text(encoding="ascii")


def encode(s: str) -> list[int]:
    return [STOI[c] for c in s if c in STOI]


def decode(tokens) -> str:
    return "".join(CHARS[int(t)] for t in tokens)


def splits() -> tuple[str, str]:
    """(training text, held-out text): the last 5 % is never trained on."""
    full = text()
    cut = full.rfind("\n\n", 0, int(len(full) * (1 - HELDOUT_FRACTION))) + 2
    return full[:cut], full[cut:]


def main() -> int:
    DATA.mkdir(exist_ok=True)
    corpus = build()
    CORPUS_FILE.write_text(corpus, encoding="ascii")
    print(f"wrote {CORPUS_FILE} ({len(corpus)} characters) from Python {sys.version.split()[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
