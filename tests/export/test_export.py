"""`evolve export`: standalone module, sidecar, replay test; round trip in a fresh virtualenv."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from archive import Archive
from tui_support import evolve, template_db  # noqa: F401


@pytest.mark.slow
def test_module_and_sidecar(template_db, tmp_path):
    archive = Archive(str(template_db))
    best = max(archive.elites(1), key=lambda e: e.score)
    done = evolve("export", "toy", "--best", "--out", tmp_path / "fit.py", "--db", template_db, "--json")
    assert done.returncode == 0, done.stderr
    module = (tmp_path / "fit.py").read_text()
    assert "EVOLVE-BLOCK" not in module
    tree = ast.parse(module)
    doc = ast.get_docstring(tree)
    assert f"program      #{best.program_id}" in doc and "campaign     toy (id 1)" in doc
    assert "Metrics on split 'train'" in doc and "mse" in doc
    assert [n.name for n in tree.body if isinstance(n, ast.FunctionDef)] == ["f"]
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]  # the program imports nothing
    sidecar = json.loads((tmp_path / "fit.json").read_text())
    assert sidecar["program"]["id"] == best.program_id
    assert [r["program_id"] for r in sidecar["lineage"]] == [r["program_id"] for r in archive.lineage_rows(best.program_id)]
    assert sidecar["evaluations"][0]["metrics"] == archive.evaluation(best.program_id, "train").metrics
    namespace = {}
    exec(compile(module, "fit.py", "exec"), namespace)
    assert isinstance(namespace["f"](0.25), float)


@pytest.mark.slow
def test_cell_and_one_line_errors(template_db, tmp_path):
    archive = Archive(str(template_db))
    elite = sorted(archive.elites(1), key=lambda e: e.key)[0]
    done = evolve("export", "toy", "--cell", elite.key, "--out", tmp_path, "--db", template_db, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["program_id"] == elite.program_id
    assert (tmp_path / f"toy_fit_p{elite.program_id}.py").exists()
    bad = evolve("export", "toy", "--cell", "99,99", "--out", tmp_path / "x.py", "--db", template_db)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "cell '99,99'" in bad.stderr
    bad = evolve("export", "toy", "--out", tmp_path / "not-a-name.py", "--db", template_db)
    assert bad.returncode == 2 and "not an importable module name" in bad.stderr


@pytest.mark.slow
def test_replay_test_passes_and_catches_a_change(template_db, tmp_path):
    done = evolve("export", "toy", "--best", "--out", tmp_path / "fit.py", "--with-test", "--db", template_db)
    assert done.returncode == 0, done.stderr
    test_file = tmp_path / "test_fit.py"
    imports = {a.name.split(".")[0] for n in ast.walk(ast.parse(test_file.read_text())) if isinstance(n, ast.Import)
               for a in n.names}
    assert imports <= {"importlib", "json", "math", "pytest", "numpy"}, imports
    run = lambda: subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],  # noqa: E731
                                 capture_output=True, text=True, cwd=tmp_path)
    passed = run()
    assert passed.returncode == 0, passed.stdout
    module = tmp_path / "fit.py"
    module.write_text(module.read_text().replace("return y", "return y + 1e-3", 1))
    failed = run()
    assert failed.returncode == 1 and "returned" in failed.stdout


@pytest.mark.slow
def test_round_trip_in_a_fresh_virtualenv_without_evolve(tmp_path):
    db = tmp_path / "bp.db"
    ran = evolve("run", "binpack_online", "--iterations", "3", "--workers", "1", "--db", db, timeout=600)
    assert ran.returncode == 0, ran.stderr
    out = tmp_path / "take_home"
    out.mkdir()
    done = evolve("export", "1", "--best", "--out", out / "packer.py", "--with-test", "--db", db)
    assert done.returncode == 0, done.stderr
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    python = env_dir / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "numpy", "pytest"], capture_output=True,
                             text=True, timeout=900)
    assert install.returncode == 0, install.stderr
    isolated = subprocess.run([str(python), "-c", "import evolve"], capture_output=True, text=True, cwd=out)
    assert isolated.returncode == 1 and "No module named 'evolve'" in isolated.stderr
    result = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_packer.py"],
                            capture_output=True, text=True, cwd=out, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout
