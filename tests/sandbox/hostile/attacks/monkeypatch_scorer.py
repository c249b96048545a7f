# expect: ok score=6
# Imports the scorer (by module name and by path) to monkeypatch it into reporting a perfect
# score; answers wrongly if any import works.
import importlib
import importlib.util
import os
import sys
import ctypes
ctypes.CDLL(None).prctl(15, b"hostile", 0, 0, 0)  # PR_SET_NAME: the test looks for leftovers by this name

TASK_DIR = __TASK_DIR__


def patch():
    reached = False
    for name in ("evaluators.api", "sandbox.candidate", "evaluators.host", "scorer"):
        try:
            module = importlib.import_module(name)
            module.evaluate = lambda *a, **k: {"score": 1e9}
            reached = True
        except Exception:
            pass
    try:
        spec = importlib.util.spec_from_file_location("scorer_copy", os.path.join(TASK_DIR, "scorer.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        reached = True
    except Exception:
        pass
    for module in list(sys.modules.values()):
        if hasattr(module, "evaluate"):
            module.evaluate = lambda *a, **k: {"score": 1e9}
    return reached


def solve(x):
    return -1.0 if patch() else 2 * x
