"""Edit parsing and application, config validation of the LLM keys, prompt template errors."""
import pytest

from evolve.config import build_config
from evolve.errors import UserError
from evolve.mutators.edits import EditError, apply_diff, apply_rewrite, check_program, parse_diff, parse_rewrite
from evolve.mutators.prompts import PromptError, Prompts

CODE = '''import math


# EVOLVE-BLOCK-START
def f(x):
    a = 0.5
    if x > 0:
        a = 0.5
    return a * x
# EVOLVE-BLOCK-END


def helper():
    return 1
'''


def diff(*pairs):
    return "".join(f"<<<<<<< SEARCH\n{s}\n=======\n{r}\n>>>>>>> REPLACE\n" for s, r in pairs)


def kind(fn):
    with pytest.raises(EditError) as info:
        fn()
    return info.value.kind


def test_multi_block_exact_and_whitespace_tolerant():
    text = "idea\n" + diff(("    return a * x", "    return a * x + 1"), ("if x > 0:\n  a = 0.5", "if x > 1:\n  a = 0.7"))
    applied = apply_diff(CODE, parse_diff(text))
    assert applied.summary["matches"] == ["exact", "whitespace"]
    assert "    if x > 1:\n        a = 0.7\n" in applied.code and "return a * x + 1" in applied.code
    check_program(applied.code, CODE, "f")


def test_failures_are_reported_never_silent():
    assert kind(lambda: parse_diff("no edit here")) == "no_edit"
    assert kind(lambda: apply_diff(CODE, parse_diff(diff(("    b = 1", "    b = 2"))))) == "unmatched"
    assert kind(lambda: apply_diff(CODE, parse_diff(diff(("a = 0.5", "a = 1"))))) == "ambiguous"
    assert kind(lambda: apply_diff(CODE, parse_diff(diff(("import math", "import os"))))) == "outside_block"
    assert kind(lambda: apply_diff(CODE, parse_diff(diff(("    return 1", "    return 2"))))) == "outside_block"
    assert kind(lambda: apply_diff(CODE, parse_diff(diff(("# EVOLVE-BLOCK-END", ""))))) == "outside_block"
    assert kind(lambda: apply_diff(CODE, parse_diff(diff(("", "x = 1"))))) == "unmatched"
    broken = apply_diff(CODE, parse_diff(diff(("    return a * x", "    return a * (x")))).code
    assert kind(lambda: check_program(broken, CODE, "f")) == "syntax"
    renamed = apply_diff(CODE, parse_diff(diff(("def f(x):", "def g(x):")))).code
    assert kind(lambda: check_program(renamed, CODE, "f")) == "contract"
    assert kind(lambda: check_program(CODE, CODE, "f")) == "noop"


def test_substring_inside_a_line_is_not_an_exact_match():
    # "  a = 0.5" is a substring of "    a = 0.5": it must not splice mid-line
    applied = apply_diff(CODE, parse_diff(diff(("def f(x):\n  a = 0.5", "def f(x):\n  a = 0.6"))))
    assert "    a = 0.6\n" in applied.code and applied.summary["matches"] == ["whitespace"]


def test_full_rewrite_keeps_markers_and_outside_code():
    new = CODE.replace("a * x", "a * x * x")
    assert apply_rewrite(CODE, parse_rewrite(f"better:\n```python\n{new}```\n")).code == new
    assert kind(lambda: apply_rewrite(CODE, new.replace("# EVOLVE-BLOCK-START\n", "").replace("# EVOLVE-BLOCK-END\n", ""))) == "contract"
    assert kind(lambda: apply_rewrite(CODE, new.replace("return 1", "return 2"))) == "outside_block"
    assert kind(lambda: parse_rewrite("```python\ndef f(x):\n    return")) == "no_edit"


@pytest.mark.parametrize("overrides, message", [
    ({"llm": ["gemini:pro"]}, "llm: ['gemini:pro'] is not allowed: 'gemini:pro' is not a model spec; use offline or PROVIDER:MODEL with PROVIDER one of openai, anthropic"),
    ({"llm": ["openai:m@abc"]}, "weight 'abc' after @ is not a number"),
    ({"llm": ["openai:m@0"]}, "weight: 0.0 is not allowed: Input should be greater than 0"),
    ({"llm": [{"provider": "openai", "model": "m", "key": "x"}]}, "unknown key 'key'; allowed: provider, model, weight"),
    ({"llm": ["offline", "openai:m"]}, "offline cannot be listed with LLM models"),
    ({"llm": ["openai:m"], "budget": {"usd": 1}}, "prices: no price for openai:m"),
    ({"budget": {"usd": 0}}, "budget.usd: 0 is not allowed: Input should be greater than 0"),
    ({"budget": {"dollars": 1}}, "budget.dollars: unknown key; allowed keys: usd, tokens"),
    ({"mix": {"diff": 1}}, "mix: diff, full_rewrite and crossover need an LLM"),
    ({"llm_options": {"edit_retries": 7}}, "llm_options.edit_retries: 7 is not allowed"),
    ({"prices": {"m": {"input": -1, "output": 1}}}, "prices.m.input: -1 is not allowed"),
])
def test_config_errors_are_one_line_and_name_key_value_and_allowed(overrides, message):
    with pytest.raises(UserError) as info:
        build_config(None, {"task": "binpack_online", **overrides})
    assert message in str(info.value) and "\n" not in str(info.value)


def test_cli_shorthand_builds_a_weighted_ensemble():
    config = build_config(None, {"task": "binpack_online", "llm": ["openai:gpt-4o-mini@0.7", "anthropic:claude@0.3"]})
    assert [(m.name, m.weight, m.key_env) for m in config.models()] == [
        ("openai:gpt-4o-mini", 0.7, "OPENAI_API_KEY"), ("anthropic:claude", 0.3, "ANTHROPIC_API_KEY")]
    assert config.operator_mix().diff > 0
    assert build_config(None, {"task": "binpack_online"}).operator_mix().offline == 1  # offline stays the default


def test_template_errors_name_the_file_and_line(tmp_path):
    (tmp_path / "diff.j2").write_text("line one\n{% if parent %}\nunclosed\n")
    with pytest.raises(PromptError, match=r"diff\.j2 line 3: .*endif"):
        Prompts(tmp_path)
    (tmp_path / "diff.j2").write_text("fine\n{{ parent.code }}\n{{ no_such_variable }}\n")
    prompts = Prompts(tmp_path)
    with pytest.raises(PromptError, match=r"diff\.j2 line 3: UndefinedError: 'no_such_variable' is undefined"):
        prompts.render("diff", parent={"code": "x"})
    with pytest.raises(PromptError, match="not a directory"):
        Prompts(tmp_path / "missing")
