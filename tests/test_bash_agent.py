"""The bash agent end to end: litellm over real HTTP to a scripted OpenAI-compatible server on
127.0.0.1, commands run in a real Docker sandbox holding a demo task, the real runner and
evaluation, and the stored trajectory shown by `harness.reports.show`."""

from __future__ import annotations

import pytest
from fake_openai import FakeOpenAI, text_reply
from llm_helpers import (
    BACKENDS,
    MODEL,
    attempts,
    backend_factory,
    definition_file,
    demo_task,
    price_file,
    run,
)

from harness.agents.llm_factory import build_llm_agent
from harness.cli.show import main as show_main
from harness.models.llm import RetryPolicy
from harness.reports.show import render_attempt
from harness.store import Store

TASK = demo_task(0)


def fix_script(patch: str) -> list[str]:
    """A conversation that looks, makes two format mistakes, runs too long, fixes, submits."""
    return [
        "Let me read the slug module first.\n```bash\ncat textkit/slug.py\n```",
        "I think the problem is clear now, but I will not run anything yet.",
        "Two options:\n```bash\nls\n```\nor\n```bash\npwd\n```",
        "Let me wait for something.\n```bash\nsleep 30\n```",
        f"Applying the fix.\n```bash\ncat > /tmp/fix.diff <<'PATCH'\n{patch}PATCH\n"
        "git apply /tmp/fix.diff && git diff --stat\n```",
        "Done.\n```bash\nsubmit\n```",
    ]


def scripted(answers: list[str]):
    """Answers by turn: the number of assistant messages already in the conversation."""

    def respond(body):
        turn = sum(1 for message in body["messages"] if message["role"] == "assistant")
        return text_reply(answers[min(turn, len(answers) - 1)], prompt_tokens=1000 + 100 * turn,
                          completion_tokens=50)

    return respond


@pytest.fixture(scope="module", params=BACKENDS)
def factory(request, tmp_path_factory):
    return backend_factory(request, TASK, tmp_path_factory)


@pytest.fixture
def store(tmp_path):
    opened = Store(tmp_path / "harness.db")
    yield opened
    opened.close()


def agent_for(tmp_path, server, store, **changes):
    changes.setdefault("command_timeout", 1.0)
    return build_llm_agent(
        str(definition_file(tmp_path, "bash", **changes)), model=MODEL,
        api_base=server.base_url, prices_path=price_file(tmp_path), max_connections=2,
        store=store, retry=RetryPolicy(tries=2, first_wait=0.01),
    )


def test_bash_agent_fixes_submits_and_its_trajectory_is_stored(tmp_path, factory, store, capsys):
    with FakeOpenAI(responder=scripted(fix_script(TASK.patch))) as server:
        agent = agent_for(tmp_path, server, store)
        assert run(store, agent, factory, "bash", 2, [TASK]) == "finished"
        assert len(server.completions) == 12  # 6 turns, 2 attempts (the cache keeps them apart)
    rows = attempts(store, "bash")
    # The second attempt applied the same fix: the sandbox was reset in between.
    assert [(row["error_kind"], row["status"]) for row in rows] == [(None, "resolved")] * 2
    first = rows[0]
    assert first["details"]["exit"] == "submitted" and first["details"]["steps"] == 6
    assert first["input_tokens"] == sum(1000 + 100 * turn for turn in range(6))
    assert first["output_tokens"] == 6 * 50
    assert first["model_dollars"] == pytest.approx(
        (first["input_tokens"] * 1.0 + first["output_tokens"] * 2.0) / 1e6)
    steps = first["trajectory"]
    commands = [entry for entry in steps if "command" in entry]
    assert [entry["command"] for entry in commands][0] == "cat textkit/slug.py"
    assert "def slugify" in commands[0]["content"]
    assert commands[1]["timed_out"] is True and "timed out" in commands[1]["content"]
    assert sum(1 for entry in steps if entry.get("format_error")) == 2
    assert steps[-1] == {"role": "harness", "content": "submitted"}

    text = render_attempt(store, "bash", TASK.instance_id, 0)
    assert "evaluation: resolved" in text and "cat textkit/slug.py" in text
    assert "--- patch" in text and "_to_ascii" in text
    assert show_main(["bash", TASK.instance_id, "1", "--db", store.url]) == 0
    assert "submitted" in capsys.readouterr().out
    assert show_main(["bash", TASK.instance_id, "7", "--db", store.url]) == 2
    assert "attempts: 0, 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    "limits, what",
    [({"step_limit": 3}, "steps"), ({"cost_limit": 0.0025}, "dollars")],
)
def test_attempt_limits_end_attempts_as_budget_failures(tmp_path, factory, store, limits,
                                                         what):
    # A model that never submits; each call costs (1000 + 100 t) * 1e-6 + 50 * 2e-6 dollars.
    with FakeOpenAI(responder=scripted(["```bash\necho hi >> notes.txt\n```"])) as server:
        agent = agent_for(tmp_path, server, store, **limits)
        assert run(store, agent, factory, "limited", 1, [TASK]) == "finished"
        calls = len(server.completions)
    (row,) = attempts(store, "limited")
    assert row["error_kind"] == "budget" and row["status"] == "empty_patch"
    assert f"attempt budget exhausted: {what}" in row["error_message"]
    assert row["details"]["steps"] == calls == (3 if what == "steps" else 3)
    assert "notes.txt" in row["details"]["partial_diff"]
