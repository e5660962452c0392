"""The LLM selectors `repro` and `judge` end to end: a stored run of a demo task whose attempts
made three distinct candidates (a wrong one with 3 votes, a partial fix with 2, the real fix
with 1), litellm over real HTTP to the OpenAI-compatible stand-in (tests/fake_openai.py, whose
selector modes write reproduction tests from the issue and answer judge prompts), the task's
sandbox (local bubblewrap, and Docker where it runs), and a real SQLite store.

Asserted: the ranking follows the kept tests passed; garbage answers get their recorded
outcome; the ledger bills the selection's calls exactly as the stand-in billed them, apart
from the run's own spend; a budget stops the calls with a recorded outcome and a deterministic
fallback; a rerun makes no model call and no test run; refused credentials are recorded as the
task's error and redone by the next invocation, rate limits are waited out and retried.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from fake_openai import FakeOpenAI, error_reply, judge_responder, repro_responder
from llm_helpers import BACKENDS, MODEL, backend_factory, demo_task, price_file
from local_backend import ScriptedAgent
from sqlalchemy import func, select

from harness.agents.base import Candidate
from harness.patches import patch_hash
from harness.runner import Runner, RunPlan
from harness.selection.llm.access import ledger_run_id, model_access
from harness.selection.registry import SelectorOptions, build_selector
from harness.selection.run import select_run
from harness.store import Store
from harness.store.schema import ModelCallRecord
from harness.store.spend import billed, run_spend

TASK = demo_task(0)  # demo__textkit-1: slugify() mangles accented letters
RUN = "run-1"

PATCHES_DIR = Path(__file__).resolve().parent / "data" / "selection_llm"
# The real fix's half (three letters mapped), and a change that fixes nothing (a docstring).
PARTIAL = (PATCHES_DIR / "partial.diff").read_text(encoding="utf-8")
WRONG = (PATCHES_DIR / "wrong.diff").read_text(encoding="utf-8")
GOLD = TASK.patch
# Attempt i makes PATCHES[i]: votes wrong 3, partial 2, gold 1 (and one empty attempt).
PATCHES = [WRONG, PARTIAL, WRONG, "", GOLD, PARTIAL, WRONG]
WRONG_H, PARTIAL_H, GOLD_H = patch_hash(WRONG), patch_hash(PARTIAL), patch_hash(GOLD)


@pytest.fixture(scope="module", params=BACKENDS)
def factory(request, tmp_path_factory):
    return backend_factory(request, TASK, tmp_path_factory)


def make_run(store, factory) -> None:
    agent = ScriptedAgent(lambda context: Candidate(PATCHES[context.index]))
    plan = RunPlan(run_id=RUN, k=len(PATCHES), seed=0, max_sandboxes=1, vcpu_hour_dollars=0.04)
    Runner(store, agent, factory, plan, log=lambda line: None).run([TASK])


@pytest.fixture
def store(tmp_path, factory):
    opened = Store(tmp_path / "harness.db")
    make_run(opened, factory)
    yield opened
    opened.close()


def options(tmp_path, server, store, **sections) -> SelectorOptions:
    config = tmp_path / f"selectors-{len(list(tmp_path.iterdir()))}.yaml"
    config.write_text(yaml.safe_dump(sections))
    return SelectorOptions(model=MODEL, api_base=server.base_url, prices=str(price_file(tmp_path)),
                           store=store, config=str(config))


def choose(store, factory, name, opts, redo=False):
    chain = build_selector(name, opts)
    summary = select_run(store, RUN, chain, factory, model_access(chain, RUN), redo=redo)
    [record] = store.selections(RUN, chain.name)
    stages = {stage["name"]: stage["data"] for stage in record.evidence["stages"]}
    return summary, record, stages


def ledger(store, ledger_run):
    calls = ModelCallRecord.__table__.c
    with store.reading() as session:
        return session.execute(
            select(func.count(), func.coalesce(func.sum(calls.input_tokens), 0),
                   func.coalesce(func.sum(calls.output_tokens), 0))
            .where(calls.run_id == ledger_run, calls.outcome == "ok")
        ).one()


def test_repro_ranks_by_kept_tests_bills_exactly_and_a_rerun_costs_nothing(
    tmp_path, factory, store
):
    # Six tests asked for, in two calls (4 + 2): two reproduce the issue (the whole expected
    # output; its first line only), the other four are garbage of each kind.
    kinds = ("reproduce", "first_line", "passes", "prose", "syntax", "no_test")
    with FakeOpenAI(responder=repro_responder(kinds)) as server:
        opts = options(tmp_path, server, store, repro={"tests": 6, "samples_per_call": 4})
        summary, record, stages = choose(store, factory, "repro", opts)
        data = stages["repro"]
        assert summary.errors == []
        assert [test["outcome"] for test in data["tests"]] == [
            "kept", "kept", "passes_at_base", "no_code_block", "syntax_error",
            "no_test_function",
        ]
        # The real fix passes both kept tests, the partial one the first-line test, the wrong
        # one none: the ranking follows, although the vote prefers the wrong patch.
        assert data["scores"] == {GOLD_H: 2, PARTIAL_H: 1, WRONG_H: 0}
        assert data["results"][PARTIAL_H] == {"0": "fail", "1": "pass"}
        assert record.patch_hash == GOLD_H
        _, vote, _ = choose(store, factory, "vote", opts)
        assert vote.patch_hash == WRONG_H

        # The ledger holds exactly what the stand-in billed, under the selection's own id.
        bill = server.bill
        ledger_run = ledger_run_id(RUN, "repro")
        assert bill.calls == 2 and bill.samples == 6
        assert ledger(store, ledger_run) == (2, bill.prompt_tokens, bill.completion_tokens)
        dollars, calls = billed(store, ledger_run)
        assert calls == 2 and dollars == pytest.approx(bill.dollars, rel=1e-12)
        assert data["model"]["dollars"] == pytest.approx(bill.dollars, rel=1e-12)
        assert record.dollars >= dollars  # model dollars plus the test runs' compute
        assert run_spend(store, RUN).billed == 0.0  # the run's own spend is untouched

        # Test runs: 3 usable tests at the base commit, then 2 kept ones on 3 candidates.
        assert record.test_runs == 3 + 2 * 3
        runs_before = store.selection_test_runs_count()
        requests_before = len(server.completions)

        # A rerun from scratch (a new selector, the stored selection redone): the response
        # cache answers, the stored test runs are reused, and the decision is the same.
        summary, again, stages = choose(store, factory, "repro", opts, redo=True)
        assert len(server.completions) == requests_before
        assert store.selection_test_runs_count() == runs_before
        assert again.test_runs == 0 and again.patch_hash == GOLD_H
        assert stages["repro"]["model"]["calls"] == 0
        assert stages["repro"]["model"]["cached_calls"] == 2
        assert stages["repro"]["scores"] == data["scores"]
        assert billed(store, ledger_run)[0] == pytest.approx(bill.dollars, rel=1e-12)


def test_judge_picks_what_the_model_chose_and_falls_back_on_garbage(tmp_path, factory, store):
    with FakeOpenAI(responder=judge_responder(prefer="unicodedata")) as server:
        opts = options(tmp_path, server, store, judge={"top": 3})
        _, record, stages = choose(store, factory, "judge", opts)
        data = stages["judge"]
        assert data["shown"] == [WRONG_H, PARTIAL_H, GOLD_H]  # by votes
        assert data["outcome"] == "chosen" and data["number"] == 3
        assert record.patch_hash == GOLD_H
        prompt = server.completions[0]["messages"][1]["content"]
        assert TASK.problem_statement.strip() in prompt
        # Never the hidden parts of the task.
        assert TASK.test_patch not in prompt and TASK.FAIL_TO_PASS[0] not in prompt
        dollars, calls = billed(store, ledger_run_id(RUN, "judge"))
        assert calls == 1 and dollars == pytest.approx(server.bill.dollars, rel=1e-12)

    # A model that names no candidate: a recorded outcome, and the largest cluster.
    with FakeOpenAI(responder=judge_responder(prefer="no candidate has this")) as server:
        opts = options(tmp_path, server, store, judge={"top": 2})
        _, record, stages = choose(store, factory, "judge", opts, redo=True)
        assert stages["judge"]["outcome"] == "no_choice"
        assert stages["judge"]["shown"] == [WRONG_H, PARTIAL_H]
        assert record.patch_hash == WRONG_H


def test_a_budget_stops_the_calls_with_a_recorded_outcome_and_a_fallback(
    tmp_path, factory, store
):
    # repro may spend $0.000001 per task, the selection as a whole as much: the first call
    # (about $0.0005) is let through, every later one is refused before it is sent.
    cap = 0.000001
    kinds = ("passes", "reproduce", "first_line")
    with FakeOpenAI(responder=repro_responder(kinds)) as server:
        opts = options(
            tmp_path, server, store,
            repro={"tests": 3, "samples_per_call": 1, "task_max_cost": cap},
            judge={"max_cost": cap},
        )
        summary, record, stages = choose(store, factory, "repro+judge", opts)
        assert summary.errors == []
        assert server.bill.calls == 1
        repro, judge = stages["repro"], stages["judge"]
        assert repro["model"]["outcome"] == "budget_stopped"
        assert "instance budget exhausted" in repro["model"]["message"]
        assert [test["outcome"] for test in repro["tests"]] == [
            "passes_at_base", "not_asked", "not_asked"
        ]
        # No kept test, so repro passes all three on; the judge's call is refused by the
        # selection's cap (the ledger holds repro's call), and it falls back to the largest
        # cluster.
        assert judge["outcome"] == "budget_stopped"
        assert "run budget exhausted" in judge["model"]["message"]
        assert record.patch_hash == WRONG_H
        dollars, calls = billed(store, ledger_run_id(RUN, "repro+judge"))
        assert calls == 1 and dollars == pytest.approx(server.bill.dollars, rel=1e-12)

        # With the caps raised, the next invocation goes on where the budget stopped (as a
        # budget-cut attempt is made again): the first test comes from the response cache,
        # the two others are asked for now; both reproduce, only the real fix passes both,
        # and the judge has nothing left to choose among (no call).
        opts = options(tmp_path, server, store,
                       repro={"tests": 3, "samples_per_call": 1, "task_max_cost": 1.0},
                       judge={"max_cost": 1.0})
        summary, record, stages = choose(store, factory, "repro+judge", opts)
        assert summary.reused == 0 and server.bill.calls == 3
        assert stages["repro"]["model"]["cached_calls"] == 1
        assert stages["repro"]["kept"] == [1, 2] and not stages["repro"]["incomplete"]
        assert stages["judge"]["outcome"] == "single_candidate"
        assert record.patch_hash == GOLD_H
        ledger_run = ledger_run_id(RUN, "repro+judge")
        bill = server.bill
        assert ledger(store, ledger_run) == (3, bill.prompt_tokens, bill.completion_tokens)
        assert billed(store, ledger_run)[0] == pytest.approx(bill.dollars, rel=1e-12)
        # Complete now: a further invocation keeps the stored decision.
        summary, _, _ = choose(store, factory, "repro+judge", opts)
        assert summary.reused == 1 and server.bill.calls == 3


def test_a_failing_model_api_is_the_tasks_error_redone_next_time(tmp_path, factory, store):
    # Refused credentials: the task's recorded error. Then two rate limits (Retry-After 0),
    # which the model layer waits out and retries, as for agents.
    limited = error_reply(429, "slow down", headers={"Retry-After": "0"})
    with FakeOpenAI(script=[error_reply(401, "bad key"), limited, limited],
                    responder=repro_responder(("reproduce",))) as server:
        opts = options(tmp_path, server, store, repro={"tests": 1})
        summary, record, _ = choose(store, factory, "repro", opts)
        assert len(summary.errors) == 1 and "credentials" in record.error
        assert record.patch_hash is None
        # The next invocation redoes the task (its stored selection is an error).
        summary, record, stages = choose(store, factory, "repro", opts)
        assert summary.errors == [] and record.error == ""
        assert record.patch_hash == GOLD_H
        assert stages["repro"]["scores"] == {GOLD_H: 1, PARTIAL_H: 0, WRONG_H: 0}
        assert server.bill.errors == 3 and server.bill.calls == 1
        # Every try is in the ledger: three failed (billed nothing), one paid.
        calls = ModelCallRecord.__table__.c
        with store.reading() as session:
            outcomes = session.execute(
                select(calls.outcome, calls.http_status)
                .where(calls.run_id == ledger_run_id(RUN, "repro")).order_by(calls.id)
            ).all()
        assert [tuple(row) for row in outcomes] == [
            ("error", 401), ("error", 429), ("error", 429), ("ok", None)
        ]
        assert billed(store, ledger_run_id(RUN, "repro"))[0] == pytest.approx(server.bill.dollars)


def test_llm_selectors_hold_no_way_to_a_hidden_field(tmp_path):
    # Built as `select` builds them, with a store for the response cache and the ledger: the
    # walk of tests/test_selection_isolation.py finds no Store, Task or hidden patch.
    from test_selection_isolation import _assert_clean

    store = Store(tmp_path / "walk.db")
    with FakeOpenAI() as server:
        chain = build_selector("repro+judge", options(tmp_path, server, store))
        assert _assert_clean(chain, TASK) > 20
        assert _assert_clean(model_access(chain, RUN), TASK) > 10
    store.close()


@pytest.mark.docker
@pytest.mark.slow
def test_the_select_command_runs_llm_selectors_and_report_shows_them(
    tmp_path, docker_client, capsys
):
    from llm_helpers import build_image, sandbox_factory

    from harness.cli import main

    image = build_image(docker_client, TASK, tmp_path / "repos")
    store = Store(tmp_path / "harness.db")
    make_run(store, sandbox_factory(docker_client, image))
    kinds = ("reproduce", "first_line")
    with FakeOpenAI(responder=repro_responder(kinds)) as server:
        config = tmp_path / "selectors.yaml"
        config.write_text(yaml.safe_dump({"repro": {"tests": 2}, "judge": {"top": 3}}))
        argv = ["select", RUN, "--selector", "repro+judge", "--model", MODEL,
                "--api-base", server.base_url, "--prices", str(price_file(tmp_path)),
                "--selector-config", str(config), "--db", str(tmp_path / "harness.db"),
                "--cache-dir", str(tmp_path / "cache")]
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert "repro+judge: chose a patch on 1 of 1 tasks" in out
        [record] = store.selections(RUN, "repro+judge")
        assert record.patch_hash == GOLD_H and record.error == ""
        dollars, _ = billed(store, ledger_run_id(RUN, "repro+judge"))
        assert server.bill.calls == 1 and dollars == pytest.approx(server.bill.dollars)
        assert main(["report", RUN, "--db", str(tmp_path / "harness.db")]) == 0
        assert "repro+judge" in capsys.readouterr().out
    store.close()
