"""The way from `evolve run` to its first LLM request (bench/bench_loop.py times it): the command imports
only its own module, the LLM provider (SDK import, client) is built on a thread of its own while the
campaign starts, and garbage collection, paused while the command starts, is back on for the loop.
Real subprocesses, real SQLite files, the real openai SDK talking to the local fake server."""
import asyncio
import json
import subprocess
import sys
import textwrap

import pytest

from core_support import TOY_TASK
from evolve import cli
from evolve.config import ModelConfig
from evolve.errors import UserError
from evolve.mutators import preload
from llm_server import FakeLLM

# Runs `evolve run ARGS` through the CLI's own entry point in a fresh interpreter and prints what it saw.
PROBE = textwrap.dedent("""
    import gc, json, sys, threading
    from evolve import cli
    import evolve.loop.controller as controller
    import evolve.mutators.providers as providers

    seen = {"gc_in_loop": set()}
    propose = controller.Controller._propose
    async def observed_propose(self, prepared, rng):  # as each proposal ends (an LLM one waited for the provider)
        try:
            return await propose(self, prepared, rng)
        finally:
            seen["gc_in_loop"].add(gc.isenabled())
    controller.Controller._propose = observed_propose
    build = providers.OpenAIProvider.__init__
    def observed_build(self, model):
        seen["sdk_thread"], seen["gc_during_sdk_build"] = threading.current_thread().name, gc.isenabled()
        build(self, model)
    providers.OpenAIProvider.__init__ = observed_build
    request = providers.OpenAIProvider._request
    async def observed_request(self, system, messages):
        seen.setdefault("gc_at_first_request", gc.isenabled())
        return await request(self, system, messages)
    providers.OpenAIProvider._request = observed_request

    code = cli.main(sys.argv[1:])
    seen.update(code=code, gc_after=gc.isenabled(), gc_in_loop=sorted(seen["gc_in_loop"]), modules=sorted(sys.modules))
    print("PROBE " + json.dumps(seen))
""")

NOT_FOR_RUN = ["textual", "pygments", "evolve.tui", "evolve.commands.inspect", "evolve.commands.tasks",
               "evolve.commands.evaluate", "evolve.commands.export", "evolve.commands.tui", "evolve.commands.sandbox",
               "evolve.commands.config", "evolve.config_doc"]


def _probe(cli_env, tmp_path, *args) -> dict:
    command = [sys.executable, "-c", PROBE, "run", "--task-dir", str(TOY_TASK), "--iterations", "3", "--workers", "1",
               "--db", str(tmp_path / "a.db"), "--json", *args]
    result = subprocess.run(command, env=cli_env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("PROBE "))
    return json.loads(line[len("PROBE "):])


@pytest.mark.slow
def test_offline_run_imports_only_its_command_and_collects_garbage_in_the_loop(tmp_path, cli_env):
    seen = _probe(cli_env, tmp_path)
    assert seen["code"] == 0
    loaded = [m for m in seen["modules"] if any(m == bad or m.startswith(bad + ".") for bad in
                                                NOT_FOR_RUN + ["jinja2", "openai", "anthropic"])]
    assert loaded == []
    assert seen["gc_in_loop"] == [True] and seen["gc_after"] is True


@pytest.mark.slow
def test_llm_run_builds_the_sdk_on_its_own_thread_with_collection_paused(tmp_path, cli_env):
    with FakeLLM() as fake:
        config = tmp_path / "c.yaml"
        config.write_text(json.dumps({"llm": [{"provider": "openai", "model": "fake-model", "timeout": 30}],
                                      "mix": {"diff": 1, "full_rewrite": 0, "crossover": 0, "offline": 0}}))
        env = dict(cli_env, OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=fake.openai_url)
        seen = _probe(env, tmp_path, "--config", str(config))
        assert len(fake.served()) >= 3
    assert seen["code"] == 0
    assert seen["sdk_thread"] == "evolve-sdk-import" and seen["gc_during_sdk_build"] is False
    assert seen["gc_at_first_request"] is True and seen["gc_in_loop"] == [True] and seen["gc_after"] is True
    assert [m for m in seen["modules"] if any(m == bad or m.startswith(bad + ".") for bad in NOT_FOR_RUN)] == []


def test_command_owners_name_the_module_that_adds_each_command():
    owners = {}
    for module in cli.COMMAND_MODULES + cli.OPTIONAL_COMMAND_MODULES:
        parser = cli.OneLineParser(prog="evolve")
        sub = parser.add_subparsers(dest="command")
        __import__(module, fromlist=["add_parser"]).add_parser(sub)
        owners.update({name: module for name in sub.choices})
    assert owners == cli.COMMAND_OWNERS
    for command in owners:  # each command's own parser knows it, and the full one knows them all
        assert command in cli.build_parser(command)._subparsers._group_actions[0].choices
    assert set(cli.build_parser()._subparsers._group_actions[0].choices) == set(owners)


def test_a_provider_whose_build_failed_on_the_thread_is_built_again_at_the_first_call(monkeypatch):
    monkeypatch.delenv("EVOLVE_TEST_NO_SUCH_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    model = ModelConfig(provider="openai", model="m", api_key_env="EVOLVE_TEST_NO_SUCH_KEY")
    pending = preload.provider(model)
    with pytest.raises(UserError, match="EVOLVE_TEST_NO_SUCH_KEY"):
        asyncio.run(pending.complete("system", [{"role": "user", "content": "hi"}]))


def test_a_provider_built_on_the_thread_answers(monkeypatch):
    with FakeLLM() as fake:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        model = ModelConfig(provider="openai", model="fake-model", base_url=fake.openai_url, timeout=30)
        preload.start([model])
        pending = preload.provider(model)

        async def ask():
            try:
                return await pending.complete("system", [{"role": "user", "content": "say something"}])
            finally:
                await pending.close()

        reply = asyncio.run(ask())
        assert reply.response_id and reply.tokens_out > 0
        assert len(fake.served()) == 1
        assert pending._future.result() is pending._provider  # the thread's build, not a second one
