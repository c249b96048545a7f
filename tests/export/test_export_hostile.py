"""`export --with-test` never runs the archived program in the evolve process (keys in its environment,
the archive open): the conversation is recorded at the candidate handle while the program runs jailed."""
from __future__ import annotations

import importlib.util
import json
import os

import pytest

from archive import Archive, ProgramState
from evolve.campaign import Campaign
from evolve.config import build_config
from evolve.export.module import export_program
from sandbox.jail import bwrap_available

SECRET = "sk-test-not-a-real-key-7f3a"


@pytest.mark.skipif(not bwrap_available() and os.environ.get("CI") != "true",
                    reason="the jail needs bubblewrap (CI installs it; there this test never skips)")
def test_hostile_program_is_recorded_jailed_not_run_here(tmp_path, toy_task_dir, monkeypatch):
    marker = tmp_path / "ran-in-the-evolve-process"
    code = f'''import os
# EVOLVE-BLOCK-START
def f(x):
    try:
        with open({str(marker)!r}, "w") as out:
            out.write(os.environ.get("OPENAI_API_KEY", "no key"))
    except OSError:
        pass
    return float(len(os.environ.get("OPENAI_API_KEY", "")))
# EVOLVE-BLOCK-END
'''
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    archive = Archive(str(tmp_path / "a.db"))
    config = build_config(None, {"task_dir": str(toy_task_dir), "iterations": 1, "workers": 1, "jail": "bwrap",
                                 "name": "hostile-export"})
    campaign = Campaign.create(archive, config)
    program_id = archive.add_program(campaign.id, iteration=1, code=code, code_hash="x", parent_id=None,
                                     inspiration_ids=[], mutator="test", operator="hostile", edit={}, generation=1,
                                     island=0, state=ProgramState.PENDING)
    done = export_program(campaign, program_id, tmp_path / "policy.py", with_test=True)

    assert not marker.exists(), "the program ran in the exporting process"
    test_text = done.test.read_text()
    assert SECRET not in test_text and SECRET not in done.module.read_text()
    spec = importlib.util.spec_from_file_location("recorded", done.test)  # loading it runs no program
    recorded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recorded)
    messages = recorded.MESSAGES
    assert messages and all(r == 0.0 for m in messages for r in (m["result"] if m["op"] == "batch" else [m["result"]]))
    assert json.loads(done.sidecar.read_text())["test"]["messages"] == len(messages)
