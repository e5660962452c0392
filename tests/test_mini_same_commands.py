"""The adapter changes where commands run, not what the agent does: the same configuration run
through mini-swe-agent's own batch command (`mini-extra swebench`, its local environment on a
checkout of the task) and through `--agent mini` at k = 1 (our sandbox), against the same
stand-in, makes the same commands in the same order and submits the same patch."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI, mini_swe_commands, mini_swe_conversation
from llm_helpers import BACKENDS, MODEL, attempts, backend_factory, demo_task, price_file, run

pytest.importorskip("minisweagent", reason="pip install 'harness[mini]'")

from harness.agents.registry import AgentOptions, build_agent  # noqa: E402
from harness.repos import RepoSource  # noqa: E402
from harness.store import Store  # noqa: E402

TASK = demo_task(0)


@pytest.fixture(scope="module", params=BACKENDS)
def factory(request, tmp_path_factory):
    return backend_factory(request, TASK, tmp_path_factory)


def checkout(folder: Path) -> Path:
    """The task's repository at its base commit, on this host."""
    dest = folder / "checkout"
    RepoSource(None, folder / "cache").checkout_testbed(TASK.repo, TASK.base_commit, dest)
    return dest


def commands_in(messages: list[dict]) -> list[str]:
    return [action["command"] for message in messages if message.get("role") == "assistant"
            for action in (message.get("extra") or {}).get("actions", [])]


def shape(requests: list[dict]) -> list[list[tuple]]:
    """Each request as the model saw it, tool outputs left out (paths differ): roles, the
    prompts, the assistant's tool calls, and the tools offered."""
    return [
        [(m["role"], m["content"] if m["role"] in ("system", "user") else None,
          json.dumps(m.get("tool_calls"), sort_keys=True)) for m in body["messages"]]
        + [("tools", json.dumps(body.get("tools"), sort_keys=True))]
        for body in requests
    ]


def own_batch_command(server: FakeOpenAI, folder: Path) -> dict:
    """mini-extra swebench on a one-row dataset, its local environment in a checkout."""
    data = folder / "data"
    data.mkdir()
    (data / "test.jsonl").write_text(json.dumps(TASK.to_row()) + "\n")
    repo = checkout(folder)
    env = {**os.environ, "OPENAI_API_KEY": "no-key", "MSWEA_SILENT_STARTUP": "1",
           "MSWEA_COST_TRACKING": "ignore_errors", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    out = folder / "out"
    done = subprocess.run(
        ["mini-extra", "swebench", "--subset", str(data), "--split", "test", "-o", str(out),
         "--environment-class", "local", "-m", MODEL, "-c", "swebench.yaml",
         "-c", f"environment.cwd={repo}", "-c", f"model.model_kwargs.api_base={server.base_url}"],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads((out / TASK.instance_id / f"{TASK.instance_id}.traj.json").read_text())


def test_its_batch_command_and_the_harness_make_the_same_commands(tmp_path, factory):
    conversation = mini_swe_conversation({TASK.problem_statement[:200]: TASK.patch})
    with FakeOpenAI(responder=conversation) as server:
        theirs = own_batch_command(server, tmp_path)
        their_requests = list(server.completions)
    with FakeOpenAI(responder=conversation) as server:
        store = Store(tmp_path / "harness.db")
        agent = build_agent("mini", AgentOptions(
            model=MODEL, api_base=server.base_url, prices=str(price_file(tmp_path)),
            store=store))
        agent.llm.check_environment()
        assert run(store, agent, factory, "same", 1, [TASK]) == "finished"
        our_requests = list(server.completions)
        (ours,) = attempts(store, "same")
        store.close()

    expected = [command for _, command in mini_swe_commands(TASK.patch)]
    assert commands_in(theirs["messages"]) == expected
    assert commands_in(ours["trajectory"]) == expected
    assert ours["details"]["commands"] == expected  # what our sandbox actually ran
    assert theirs["info"]["exit_status"] == ours["details"]["exit_status"] == "Submitted"
    assert ours["patch"] == theirs["info"]["submission"]
    assert ours["status"] == "resolved"
    assert shape(our_requests) == shape(their_requests)
    assert [m["role"] for m in ours["trajectory"]] == [m["role"] for m in theirs["messages"]]
