"""Agents are chosen by short name or by import path; a bad name is one clear line."""

from __future__ import annotations

import sys

import pytest

from harness.agents.registry import AgentBuildError, AgentOptions, build_agent, factory_for
from harness.cli import main

USER_AGENT = '''
class Empty:
    name = "empty"
    definition_hash = "0" * 64
    uses_sandbox = False
    changes_sandbox = False

    def __init__(self, options):
        self.options = options

    def max_attempts(self, task):
        return None

    def attempt(self, context, sandbox):
        from harness.agents.base import Candidate
        return Candidate(patch="")


def make(options):
    return Empty(options)
'''


def test_built_in_agents_by_short_name():
    agent = build_agent("mutation", AgentOptions())
    assert agent.name == "mutation" and len(agent.definition_hash) >= 16


def test_a_users_agent_by_import_path(tmp_path, monkeypatch):
    (tmp_path / "my_agents.py").write_text(USER_AGENT)
    monkeypatch.syspath_prepend(str(tmp_path))
    options = AgentOptions(model="whatever")
    agent = build_agent("my_agents:make", options)
    assert agent.name == "empty" and agent.options is options
    sys.modules.pop("my_agents", None)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("nope", "unknown agent 'nope'; built in: mutation, replay, oneshot, bash"),
        ("no_such_module_here:make", "cannot import no_such_module_here"),
        ("harness.agents.registry:NOT_THERE", "has no callable 'NOT_THERE'"),
    ],
)
def test_bad_agent_names_say_what_is_wrong(name, message):
    with pytest.raises(AgentBuildError, match=message):
        factory_for(name)


def test_cli_unknown_agent_is_one_line_and_exit_2(tmp_path, capsys):
    code = main(["run", "--agent", "nope", "--k", "1", "--db", str(tmp_path / "h.db")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == [
        "error: unknown agent 'nope'; built in: mutation, replay, oneshot, bash, mini, or give an "
        "import path such as my_package.my_module:make_agent"
    ]
