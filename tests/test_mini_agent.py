"""`--agent mini`: mini-swe-agent's own DefaultAgent and its SWE-bench configuration, with
commands in our sandboxes (Docker and local) and model calls through litellm over real HTTP to
the scripted OpenAI-compatible server playing its side of the conversation; the real runner,
ledger, response cache and evaluation."""

from __future__ import annotations

import json

import pytest
from fake_openai import FakeOpenAI, Reply, mini_swe_commands, mini_swe_conversation
from llm_helpers import BACKENDS, MODEL, attempts, backend_factory, demo_task, price_file, run

pytest.importorskip("minisweagent", reason="pip install 'harness[mini]'")

from harness.agents.mini.agent import outcome_of  # noqa: E402
from harness.agents.mini.trajectory import mini_trajectory  # noqa: E402
from harness.agents.registry import AgentBuildError, AgentOptions, build_agent  # noqa: E402
from harness.models.ledger import Ledger  # noqa: E402
from harness.store import Store  # noqa: E402

TASK = demo_task(0)
K = 3


@pytest.fixture(scope="module", params=BACKENDS)
def factory(request, tmp_path_factory):
    return backend_factory(request, TASK, tmp_path_factory)


@pytest.fixture
def store(tmp_path):
    opened = Store(tmp_path / "harness.db")
    yield opened
    opened.close()


def mini(tmp_path, server, store, *overrides: str, **options):
    agent = build_agent("mini", AgentOptions(
        model=MODEL, api_base=server.base_url, prices=str(price_file(tmp_path)),
        max_connections=2, store=store, agent_overrides=list(overrides), **options,
    ))
    agent.llm.check_environment()  # the run makes it before its first call (the key)
    return agent


def test_mini_submits_the_gold_change_which_is_resolved_and_billed_exactly(
    tmp_path, factory, store
):
    with FakeOpenAI(responder=mini_swe_conversation({TASK.problem_statement[:200]: TASK.patch})
                    ) as server:
        agent = mini(tmp_path, server, store)
        assert run(store, agent, factory, "mini", K, [TASK]) == "finished"
        bill = server.bill
        sent = server.completions
    rows = attempts(store, "mini")
    assert len(rows) == K
    assert {row["status"] for row in rows} == {"resolved"}
    assert all(row["error_kind"] is None for row in rows)
    # Four turns per attempt: look, fix, write patch.txt, submit; each a bash tool call.
    assert bill.calls == 4 * K
    assert all(body["tools"][0]["function"]["name"] == "bash" for body in sent)
    expected = [command for _, command in mini_swe_commands(TASK.patch)]
    for row in rows:
        assert row["details"]["exit_status"] == "Submitted"
        assert row["details"]["commands"] == expected
        assert row["details"]["steps"] == 4
        # The trajectory is its own messages: system, task, then answers and tool results.
        roles = [message["role"] for message in row["trajectory"]]
        assert roles[:3] == ["system", "user", "assistant"] and roles[-1] == "exit"
        assert row["trajectory"][-1]["extra"]["submission"] == row["patch"]
    # The ledger is the stand-in's bill: same calls, same tokens, same dollars.
    ledger_dollars, ledger_calls = Ledger(store).spent("mini")
    assert ledger_calls == bill.calls
    assert ledger_dollars == pytest.approx(bill.dollars, rel=1e-9)
    assert sum(row["model_dollars"] for row in rows) == pytest.approx(bill.dollars, rel=1e-9)
    assert sum(row["input_tokens"] for row in rows) == bill.prompt_tokens
    # mini-swe-agent's own cost figure is the same money.
    assert sum(row["details"]["mini_cost"] for row in rows) == pytest.approx(bill.dollars)


def test_a_rerun_is_answered_by_the_response_cache_tool_calls_included(tmp_path, factory,
                                                                         store):
    with FakeOpenAI(responder=mini_swe_conversation({TASK.problem_statement[:200]: TASK.patch})
                    ) as server:
        first = mini(tmp_path, server, store)
        assert run(store, first, factory, "first", 2, [TASK]) == "finished"
        calls = server.bill.calls
        again = mini(tmp_path, server, store)
        assert run(store, again, factory, "again", 2, [TASK]) == "finished"
        assert server.bill.calls == calls  # no new call: every answer came from the cache
    before, after = attempts(store, "first"), attempts(store, "again")
    assert [row["patch"] for row in after] == [row["patch"] for row in before]
    assert {row["status"] for row in after} == {"resolved"}
    assert all(row["model_dollars"] == 0 for row in after)
    assert [row["details"]["commands"] for row in after] == [
        row["details"]["commands"] for row in before]


def test_its_step_limit_is_the_budget_outcome_and_format_errors_the_format_one(
    tmp_path, factory, store
):
    with FakeOpenAI(responder=mini_swe_conversation({TASK.problem_statement[:200]: TASK.patch})
                    ) as server:
        limited = mini(tmp_path, server, store, "agent.step_limit=2")
        assert run(store, limited, factory, "limited", 1, [TASK]) == "finished"
    (row,) = attempts(store, "limited")
    assert row["error_kind"] == "budget" and row["details"]["exit_status"] == "LimitsExceeded"
    assert row["details"]["steps"] == 2 and row["patch"] == ""
    # It had applied the fix when the limit came: kept for the record, never graded.
    added = next(line for line in TASK.patch.splitlines() if line.startswith("+ "))
    assert added in row["details"]["partial_diff"]

    with FakeOpenAI(responder=lambda body: Reply(texts=["I will just think."])) as server:
        chatty = mini(tmp_path, server, store, "agent.max_consecutive_format_errors=2")
        assert run(store, chatty, factory, "chatty", 1, [TASK]) == "finished"
    (row,) = attempts(store, "chatty")
    assert row["error_kind"] == "format"
    assert row["details"]["exit_status"] == "RepeatedFormatError"


def test_a_failing_endpoint_is_infra_and_a_run_budget_cuts(tmp_path, factory, store):
    from harness.models.budget import Budget, Limits
    from harness.models.llm import RetryPolicy

    with FakeOpenAI(responder=lambda body: Reply(texts=[], status=503)) as server:
        agent = mini(tmp_path, server, store)
        # One try per attempt: the runner's three tries stay below the shared breaker's five.
        agent.llm.retry = RetryPolicy(tries=1)
        # Left for the next invocation, never counted as the agent's failure.
        assert run(store, agent, factory, "down", 1, [TASK]) == "incomplete"
    (row,) = attempts(store, "down")
    assert row["error_kind"] == "infra" and "503" in row["error_message"]

    with FakeOpenAI(responder=mini_swe_conversation({TASK.problem_statement[:200]: TASK.patch})
                    ) as server:
        budget = Budget(per_attempt=Limits(steps=1))
        capped = mini(tmp_path, server, store, budget=budget)
        assert run(store, capped, factory, "capped", 1, [TASK]) == "budget_exhausted"
    (row,) = attempts(store, "capped")
    # Our --attempt-max-steps cut it: not counted, made again when the budget allows.
    assert (row["error_kind"], row["status"]) == ("budget_cut", None)
    assert row["details"]["exit_status"] == "BudgetExhausted"
    assert row["details"]["model_calls"] == 1  # the second was refused before it was sent


def test_the_definition_hash_follows_version_and_configuration(tmp_path, store):
    with FakeOpenAI() as server:
        default = mini(tmp_path, server, store)
        same = mini(tmp_path, server, store)
        prompt = mini(tmp_path, server, store,
                      "agent.system_template=You fix bugs. Be brief.")
        limit = mini(tmp_path, server, store, "agent.step_limit=40")
    assert default.definition_hash == same.definition_hash
    assert len({default.definition_hash, prompt.definition_hash, limit.definition_hash}) == 3
    assert default.info.record["mini_version"] == "2.4.6"
    assert prompt.setup.config["agent"]["system_template"] == "You fix bugs. Be brief."
    # Values are parsed as JSON where they can be, as mini-swe-agent parses them.
    assert limit.setup.config["agent"]["step_limit"] == 40


def test_bad_configurations_are_one_clear_line(tmp_path, store, monkeypatch):
    with FakeOpenAI() as server:
        with pytest.raises(AgentBuildError, match="expected KEY=VALUE"):
            mini(tmp_path, server, store, "agent.step_limit")
        missing = tmp_path / "nope.yaml"
        with pytest.raises(AgentBuildError, match="no mini-swe-agent configuration"):
            mini(tmp_path, server, store, config=str(missing))
        with pytest.raises(AgentBuildError, match="rejects the configuration.*step_limit"):
            mini(tmp_path, server, store, "agent.step_limit=many")
        with pytest.raises(AgentBuildError, match="Unknown agent type"):
            mini(tmp_path, server, store, "agent.agent_class=no_such.Agent")
        with pytest.raises(AgentBuildError, match="makes its own HTTP calls"):
            mini(tmp_path, server, store, "model.model_class=openrouter")
        from harness.agents.mini import config

        monkeypatch.setattr(config, "installed_version", lambda: "3.0.0")
        with pytest.raises(AgentBuildError, match="outside the tested range"):
            mini(tmp_path, server, store)
        allowed = AgentOptions(model=MODEL, api_base=server.base_url,
                               prices=str(price_file(tmp_path)), store=store,
                               allow_untested_version=True)
        agent = build_agent("mini", allowed)
    assert any("outside the tested range" in warning for warning in allowed.warnings)
    assert agent.info.record["warnings"]


def test_exit_statuses_map_to_outcomes():
    assert outcome_of("Submitted") is None
    assert outcome_of("LimitsExceeded").value == "budget"
    assert outcome_of("TimeExceeded").value == "budget"
    assert outcome_of("RepeatedFormatError").value == "format"
    assert outcome_of("UserInterruption").value == "agent"


def test_its_traj_json_is_rebuilt_from_the_store(tmp_path, factory, store):
    with FakeOpenAI(responder=mini_swe_conversation({TASK.problem_statement[:200]: TASK.patch})
                    ) as server:
        agent = mini(tmp_path, server, store)
        assert run(store, agent, factory, "traj", 1, [TASK]) == "finished"
    attempt = store.task_attempts("traj", TASK.instance_id)[0]
    data = mini_trajectory(attempt, TASK.instance_id)
    assert data["trajectory_format"] == "mini-swe-agent-1.1"
    assert data["info"]["exit_status"] == "Submitted"
    assert data["info"]["submission"] == attempt.patch
    assert data["info"]["mini_version"] == "2.4.6"
    assert data["info"]["config"]["agent"]["step_limit"] == 250
    assert data["messages"][-1]["role"] == "exit"
    json.dumps(data)


def test_an_agent_class_of_ones_own_runs_by_import_path(tmp_path, factory, store, monkeypatch):
    examples = __import__("pathlib").Path(__file__).resolve().parent.parent / "examples"
    monkeypatch.syspath_prepend(str(examples / "mini_agent_class"))
    template = ("<returncode>{{output.returncode}}</returncode>\n<output>{{output.output}}"
                "</output> ({{steps_left}} steps left)")
    with FakeOpenAI(responder=mini_swe_conversation({TASK.problem_statement[:200]: TASK.patch})
                    ) as server:
        agent = mini(tmp_path, server, store, "agent.agent_class=steps_left_agent.StepsLeftAgent",
                     f"model.observation_template={template}")
        assert run(store, agent, factory, "own-class", 1, [TASK]) == "finished"
        last = server.completions[-1]["messages"]
    (row,) = attempts(store, "own-class")
    assert row["status"] == "resolved"
    assert row["details"]["mini_info"]["config"]["agent_type"] == "steps_left_agent.StepsLeftAgent"
    # Its template variable reached the model: 250 steps, 3 made when the last call was sent.
    assert last[-1]["content"].endswith("(247 steps left)")


def test_the_command_line_refuses_bad_input_with_one_line_and_exit_2(tmp_path, monkeypatch,
                                                                      capsys):
    from harness.agents.mini import config
    from harness.cli import main

    base = ["run", "--agent", "mini", "--k", "1", "--db", str(tmp_path / "h.db"),
            "--model", MODEL, "--prices", str(price_file(tmp_path))]
    assert main([*base, "--agent-set", "agent.step_limit"]) == 2
    monkeypatch.setattr(config, "installed_version", lambda: "2.9.0")
    assert main(base) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("error: ") for line in lines)
    assert "expected KEY=VALUE" in lines[0]
    assert "mini-swe-agent 2.9.0 is outside the tested range" in lines[1]
