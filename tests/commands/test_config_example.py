"""`evolve config`: the campaign file with every key, generated from the config model, valid as printed and
with every commented example uncommented; the README's copy is that file; a user's file is checked whole."""
import re
import subprocess
import sys

import pytest
import yaml

from core_support import ROOT
from evolve.config import CampaignConfig, build_config
from evolve.config_doc import README_BEGIN, README_END, example_yaml, readme_block

REGENERATE = "python -m evolve.config_doc --update-readme"


def _evolve(cli_env, *args, cwd=None):
    return subprocess.run([sys.executable, "-m", "evolve", *args], env=cli_env, capture_output=True, text=True,
                          timeout=120, cwd=cwd)


def test_the_readme_carries_the_generated_campaign_example():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert README_BEGIN in readme and README_END in readme, f"README.md lost its campaign-example markers; restore " \
                                                            f"them and run `{REGENERATE}`"
    start, end = readme.index(README_BEGIN), readme.index(README_END) + len(README_END)
    assert readme[start:end] == readme_block(), f"README.md's campaign example is out of date; run `{REGENERATE}`"


def test_the_example_is_valid_and_holds_the_defaults(tmp_path):
    path = tmp_path / "campaign.yaml"
    path.write_text(example_yaml())
    loaded = build_config(path).model_dump()
    expected = CampaignConfig(task="binpack_online").model_dump()
    assert loaded == expected


def test_every_key_of_the_model_is_in_the_example():
    text = example_yaml()
    keys = {m.group(1) for line in text.splitlines() if (m := re.match(r"[# ]*(?:- )?([a-z_]+):", line))}

    def fields(model):
        for name, field in model.model_fields.items():
            yield name
            for arg in _models(field.annotation):
                yield from fields(arg)

    missing = set(fields(CampaignConfig)) - keys
    assert not missing, f"keys missing from the example: {sorted(missing)}"


def _models(annotation):
    import typing

    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def test_every_commented_example_is_valid_once_uncommented(tmp_path):
    lines = example_yaml().splitlines()
    body = lines[next(i for i, line in enumerate(lines) if not line.startswith("#")):]
    uncommented = "\n".join(line[2:] if line.startswith("# ") else line for line in body)
    data = yaml.safe_load(uncommented)  # a later key replaces the default shown above it
    assert data["llm"][0]["provider"] == "openai" and data["mix"]["diff"] == 0.7 and data["operators"]
    path = tmp_path / "all.yaml"
    path.write_text(uncommented)
    config = build_config(path)
    assert config.workers == 2 and config.descriptors[0].name == "code_size"
    assert [m.name for m in config.models()] == ["openai:gpt-4o-mini", "anthropic:claude-3-5-haiku-latest"]


@pytest.mark.slow
def test_evolve_config_prints_the_example_and_checks_a_file(cli_env, tmp_path):
    example = _evolve(cli_env, "config", "--example")
    assert example.returncode == 0, example.stderr
    assert example.stdout == example_yaml()
    path = tmp_path / "mine.yaml"
    path.write_text("task: spot_scheduling\nllm: openai:gpt-4o-mini@0.5\niterations: 7\n")
    shown = _evolve(cli_env, "config", str(path), "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    resolved = yaml.safe_load(shown.stdout)
    assert resolved["iterations"] == 7 and resolved["llm"][0]["weight"] == 0.5 and resolved["islands"]["count"] == 2
    schema = _evolve(cli_env, "config", "--example", "--json")
    assert schema.returncode == 0 and '"CampaignConfig"' in schema.stdout


@pytest.mark.slow
def test_evolve_config_bad_input_is_one_line_exit_2(cli_env, tmp_path):
    (tmp_path / "typo.yaml").write_text("task: spot_schedulin\n")
    (tmp_path / "bad.yaml").write_text("task: binpack_online\nislands: {count: 0}\n")
    for args, message in ((["config"], "give --example, or a campaign FILE"),
                          (["config", "--example", "typo.yaml"], "give --example, or a campaign FILE"),
                          (["config", "typo.yaml"], "unknown task 'spot_schedulin'"),
                          (["config", "bad.yaml"], "islands.count: 0 is not allowed"),
                          (["config", "missing.yaml"], "config file missing.yaml does not exist")):
        result = _evolve(cli_env, *args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1 and message in result.stderr, args
