"""The ledger of spend against the provider's own bill.

Each test runs the real runner, litellm over real HTTP to the OpenAI-compatible stand-in on
127.0.0.1 (which keeps its own tally of the tokens and dollars it billed), a real Docker
sandbox holding a demo task, and a real SQLite store. In every case the store's ledger equals
the stand-in's bill exactly (tokens and calls; dollars to float rounding), and the run's
attempts plus its recorded overhead add up to it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_openai import Bill, FakeOpenAI, error_reply, text_reply
from llm_helpers import (
    MODEL,
    attempts,
    build_image,
    definition_file,
    demo_task,
    price_file,
    run,
    sandbox_factory,
)
from sqlalchemy import func, select

from harness.agents.llm_factory import build_llm_agent
from harness.models import backoff
from harness.models.budget import Budget, Limits
from harness.models.llm import RetryPolicy
from harness.reports.analysis import analyze
from harness.reports.render import build_report, render_analyses, render_json, render_table
from harness.reports.rundata import load_run
from harness.reports.show import render_attempt
from harness.store import RunRecord, Store
from harness.store.schema import ModelCallRecord
from harness.store.spend import run_spend

pytestmark = pytest.mark.docker

TASK = demo_task(0)
FAST_RETRY = RetryPolicy(tries=2, first_wait=0.01, max_wait=0.05, breaker_wait=0.1)
GARBAGE = "I am not sure what the issue is."
# One answer: 2000 prompt tokens and 100 output tokens per sample.
ANSWER = text_reply(GARBAGE, prompt_tokens=2000, completion_tokens=100)


def per_sample(body):
    """Output tokens grow with n, as a provider bills them."""
    n = int(body.get("n") or 1)
    return text_reply(GARBAGE, prompt_tokens=2000, completion_tokens=100 * n)


@pytest.fixture(scope="module")
def factory(docker_client, tmp_path_factory):
    image = build_image(docker_client, TASK, tmp_path_factory.mktemp("repos"))
    return sandbox_factory(docker_client, image)


@pytest.fixture
def store(tmp_path):
    opened = Store(tmp_path / "harness.db")
    yield opened
    opened.close()


def oneshot(tmp_path, server, store, budget=None, retry=FAST_RETRY, **changes):
    changes.setdefault("samples_per_call", 4)
    return build_llm_agent(
        str(definition_file(tmp_path, "oneshot", **changes)), model=MODEL,
        api_base=server.base_url, prices_path=price_file(tmp_path), max_connections=2,
        store=store, budget=budget, retry=retry,
    )


def total(*bills: Bill) -> Bill:
    out = Bill()
    for bill in bills:
        for name in vars(out):
            setattr(out, name, getattr(out, name) + getattr(bill, name))
    return out


def assert_ledger_is_the_bill(store: Store, run_ids: list[str], bill: Bill) -> None:
    calls = ModelCallRecord.__table__.c
    with store.reading() as session:
        paid = session.execute(
            select(func.count(), func.coalesce(func.sum(calls.samples), 0),
                   func.coalesce(func.sum(calls.input_tokens), 0),
                   func.coalesce(func.sum(calls.output_tokens), 0),
                   func.coalesce(func.sum(calls.cache_read_tokens), 0),
                   func.coalesce(func.sum(calls.dollars), 0.0))
            .where(calls.run_id.in_(run_ids), calls.outcome == "ok")
        ).one()
        errors = session.scalar(
            select(func.count()).where(calls.run_id.in_(run_ids), calls.outcome == "error")
        )
    assert paid[:5] == (bill.calls, bill.samples, bill.prompt_tokens, bill.completion_tokens,
                        bill.cached_tokens)
    assert paid[5] == pytest.approx(bill.dollars, abs=1e-12)
    assert errors == bill.errors
    billed = 0.0
    for run_id in run_ids:
        spend = run_spend(store, run_id)
        billed += spend.billed
        # Attempts plus overhead are the bill, and attempts' dollars come from the ledger.
        assert spend.counted + spend.not_counted + spend.unused == pytest.approx(
            spend.billed, abs=1e-12)
        stored = sum(row["model_dollars"] or 0.0 for row in attempts(store, run_id))
        assert stored == pytest.approx(spend.counted + spend.not_counted, abs=1e-12)
    assert billed == pytest.approx(bill.dollars, abs=1e-12)


def run_row(store: Store, run_id: str) -> RunRecord:
    with store.reading() as session:
        row = session.get(RunRecord, run_id)
        assert row is not None
        return row


def test_k_not_a_multiple_of_n_asks_only_for_what_is_left_then_a_cached_rerun(
        tmp_path, factory, store):
    with FakeOpenAI(responder=per_sample) as server:
        assert run(store, oneshot(tmp_path, server, store), factory, "k6", 6, [TASK]) == (
            "finished")
        asked = [body["n"] if "n" in body else 1 for body in server.completions]
        bill = server.bill
    assert asked == [4, 2]  # min(samples_per_call, attempts left), never 4 + 4
    assert_ledger_is_the_bill(store, ["k6"], bill)
    spend = run_spend(store, "k6")
    assert spend.unused == pytest.approx(0.0, abs=1e-15)
    rows = attempts(store, "k6")
    assert [row["index"] for row in rows] == list(range(6))
    # 2000 prompt tokens over 4 samples, then over 2: each sample carries its batch's share.
    assert rows[0]["model_dollars"] == pytest.approx((2000 + 2 * 400) / 1e6 / 4)
    assert rows[5]["model_dollars"] == pytest.approx((2000 + 2 * 200) / 1e6 / 2)

    # A fully cached rerun: nothing billed now; the report says what the samples cost when
    # they were made, beside what was spent.
    with FakeOpenAI(responder=per_sample) as server:
        assert run(store, oneshot(tmp_path, server, store), factory, "k6-again", 6,
                   [TASK]) == "finished"
        assert server.completions == []
        assert_ledger_is_the_bill(store, ["k6-again"], server.bill)
    again = run_spend(store, "k6-again")
    assert (again.billed, again.calls, again.cached_calls) == (0.0, 0, 2)
    assert again.cached_when_made == pytest.approx(bill.dollars)
    report = build_report(store, "k6-again")
    assert report.model_dollars == 0.0  # dollars at k hold sandbox compute only
    analysis = report.analysis
    assert analysis.dollars_when_made[-1] == pytest.approx(analysis.dollars[-1] + bill.dollars)
    text = render_table(report)
    assert "at cost when made" in text and "cost $0 now" in text
    shown = render_attempt(store, "k6-again", TASK.instance_id, 5)
    assert "ledger: 1 samples of model calls" in shown and "1 from the response cache" in shown
    # `harness report` says the same, from the same ledger.
    full = render_analyses([analyze(load_run(store, "k6-again"))])
    assert f"those samples cost ${bill.dollars:.4f} when they were made" in full


def test_run_budget_stops_persists_and_a_resume_with_a_larger_cap_goes_on(
        tmp_path, factory, store):
    # A batch of 4 bills 2000 + 4 * 100 * 2 = $0.0028.
    bills = []
    for cap, status in ((0.002, "budget_exhausted"), (0.005, "budget_exhausted"),
                        (1.0, "finished")):
        with FakeOpenAI(responder=per_sample) as server:
            agent = oneshot(tmp_path, server, store, budget=Budget(max_cost=cap))
            assert run(store, agent, factory, "capped", 12, [TASK]) == status
            bills.append(server.bill)
        if status == "budget_exhausted":
            assert "run budget exhausted" in run_row(store, "capped").note
    # The resume at $0.005 counted the $0.0028 already spent: one more batch, not two.
    assert [bill.calls for bill in bills] == [1, 1, 1]
    assert_ledger_is_the_bill(store, ["capped"], total(*bills))
    assert [row["index"] for row in attempts(store, "capped")] == list(range(12))
    assert run_spend(store, "capped").unused == pytest.approx(0.0, abs=1e-15)


def test_instance_budget_persists_and_ends_as_budget_exhausted(tmp_path, factory, store):
    bills = []
    for _ in range(2):
        with FakeOpenAI(responder=per_sample) as server:
            budget = Budget(per_instance=Limits(dollars=0.002))
            agent = oneshot(tmp_path, server, store, budget=budget)
            assert run(store, agent, factory, "per-task", 8, [TASK]) == "budget_exhausted"
            bills.append(server.bill)
        note = run_row(store, "per-task").note
        assert "instance budget exhausted" in note and TASK.instance_id in note
    # The same command again spends nothing more: the task's budget is read from the ledger.
    assert [bill.calls for bill in bills] == [1, 0]
    assert_ledger_is_the_bill(store, ["per-task"], total(*bills))
    assert len(attempts(store, "per-task")) == 4


def bash_agent(tmp_path, server, store, budget):
    return build_llm_agent(
        str(definition_file(tmp_path, "bash", command_timeout=5.0)), model=MODEL,
        api_base=server.base_url, prices_path=price_file(tmp_path), max_connections=2,
        store=store, budget=budget, retry=FAST_RETRY,
    )


def bash_turns(body):
    turn = sum(1 for message in body["messages"] if message["role"] == "assistant")
    answer = "Looking.\n```bash\nls\n```" if turn == 0 else "Done.\n```bash\nsubmit\n```"
    return text_reply(answer, prompt_tokens=1000, completion_tokens=50)


def test_attempt_budget_cuts_an_attempt_which_is_redone_with_a_larger_cap(
        tmp_path, factory, store):
    # Each turn bills 1000 + 50 * 2 = $0.0011; the attempt may spend $0.001: cut after one.
    with FakeOpenAI(responder=bash_turns) as server:
        budget = Budget(per_attempt=Limits(dollars=0.001))
        assert run(store, bash_agent(tmp_path, server, store, budget), factory, "cut", 1,
                   [TASK]) == "budget_exhausted"
        first = server.bill
    assert "attempt budget exhausted" in run_row(store, "cut").note
    rows = attempts(store, "cut")
    assert [(row["error_kind"], row["status"]) for row in rows] == [("budget_cut", None)]
    report = build_report(store, "cut")
    assert (report.budget_cut, report.attempts_counted) == (1, 0)  # not a failure
    assert_ledger_is_the_bill(store, ["cut"], first)
    assert run_spend(store, "cut").not_counted == pytest.approx(first.dollars)

    with FakeOpenAI(responder=bash_turns) as server:
        budget = Budget(per_attempt=Limits(dollars=0.01))
        assert run(store, bash_agent(tmp_path, server, store, budget), factory, "cut", 1,
                   [TASK]) == "finished"
        second = server.bill
    # The redo replayed the first turn from the cache and paid only for the second; the
    # attempt carries both (the first turn's call is charged where it was paid).
    assert second.calls == 1
    rows = attempts(store, "cut")
    assert [row["error_kind"] for row in rows] == [None]
    assert rows[0]["model_dollars"] == pytest.approx(first.dollars + second.dollars)
    assert_ledger_is_the_bill(store, ["cut"], total(first, second))
    assert run_spend(store, "cut").unused == pytest.approx(0.0, abs=1e-15)


def test_persistent_429_pauses_every_worker_honours_retry_after_then_recovers(
        tmp_path, factory, store, capfd):
    heard: list[str] = []
    backoff.add_listener(heard.append)
    limited = [error_reply(429, "slow down", headers={"Retry-After": "1"})] * 4
    retry = RetryPolicy(tries=6, first_wait=0.01, max_wait=5, breaker_after=3,
                        breaker_wait=1.5)
    try:
        with FakeOpenAI(limited, responder=per_sample) as server:
            agent = oneshot(tmp_path, server, store, retry=retry)
            assert run(store, agent, factory, "limited", 4, [TASK]) == "finished"
            times = server.request_times
            bill = server.bill
    finally:
        backoff.remove_listener(heard.append)
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    assert len(times) == 5 and bill.errors == 4
    assert all(gap >= 0.95 for gap in gaps), gaps  # Retry-After: 1, never 0.02 s
    assert gaps[-1] >= 1.45  # the breaker opened after 3 in a row: at least 1.5 s
    assert any(message.startswith("rate-limited by the model") for message in heard)
    assert any("answers again" in message for message in heard)
    # The progress line (stderr) said so while every worker waited.
    out, err = capfd.readouterr()
    assert "rate-limited by the model" in err and "every worker waits 2 s" in err
    assert "rate-limited" not in out
    assert_ledger_is_the_bill(store, ["limited"], bill)


def test_500_mid_batch_keeps_the_infra_error_visible_until_redone(tmp_path, factory, store):
    script = [per_sample({"n": 4})] + [error_reply(500, "boom")] * 6
    with FakeOpenAI(script, responder=per_sample) as server:
        agent = oneshot(tmp_path, server, store)
        assert run(store, agent, factory, "flaky", 8, [TASK]) == "incomplete"
        first = server.bill
    assert first.errors == 6
    rows = attempts(store, "flaky")
    assert [(row["index"], row["error_kind"]) for row in rows][4] == (4, "infra")
    report = build_report(store, "flaky")
    assert report.infra_errors == 1 and report.attempts_counted == 7
    assert json.loads(render_json(report))["infra_errors"] == 1
    assert "1 infrastructure errors" in render_table(report)
    assert "outcome: infra" in render_attempt(store, "flaky", TASK.instance_id, 4)
    assert "attempts to redo" in run_row(store, "flaky").note
    assert_ledger_is_the_bill(store, ["flaky"], first)
    # Attempt 5 fetched the batch planned for 4..7: the sample meant for 4 was paid, unused.
    overhead = run_spend(store, "flaky").unused
    assert overhead == pytest.approx((2000 + 4 * 100 * 2) / 1e6 / 4)

    with FakeOpenAI(responder=per_sample) as server:
        agent = oneshot(tmp_path, server, store)
        assert run(store, agent, factory, "flaky", 8, [TASK]) == "finished"
        second = server.bill
    assert [body.get("n", 1) for body in server.completions] == [1]
    assert build_report(store, "flaky").infra_errors == 0
    assert_ledger_is_the_bill(store, ["flaky"], total(first, second))
    assert run_spend(store, "flaky").unused == pytest.approx(overhead)


def cli(tmp_path, server, *extra: str, run_id: str = "cli") -> subprocess.CompletedProcess:
    """`python -m harness run ... --json` in a subprocess of this worktree's code; says on
    stderr whether litellm was imported."""
    definition = definition_file(tmp_path, "oneshot", samples_per_call=2)
    argv = ["run", "--dataset", "demo", "--instances", TASK.instance_id, "--agent", "oneshot",
            "--agent-config", str(definition), "--model", MODEL, "--api-base",
            server.base_url, "--prices", str(price_file(tmp_path)), "--k", "2", "--run-id",
            run_id, "--db", str(tmp_path / "cli.db"), "--cache-dir", str(tmp_path / "cache"),
            "--max-sandboxes", "1", "--json", *extra]
    code = (
        "import sys\nfrom harness.cli import main\ncode = main(sys.argv[1:])\n"
        "print('litellm imported:', 'litellm' in sys.modules, file=sys.stderr)\n"
        "raise SystemExit(code)\n"
    )
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": root}
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300)


def test_cli_json_is_one_document_on_stdout_and_a_noop_rerun_skips_litellm(tmp_path, factory):
    with FakeOpenAI(responder=per_sample) as server:
        first = cli(tmp_path, server)
        assert first.returncode == 0, first.stderr
        assert json.loads(first.stdout)["status"] == "finished"
        assert "litellm imported: True" in first.stderr
        again = cli(tmp_path, server)
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["attempts_counted"] == 2
        # Nothing to do: no model call, so litellm (seconds to import) is never imported.
        assert "litellm imported: False" in again.stderr
        assert server.bill.calls == 1
        # A run stopped by its budget (its first batch comes from the cache, its second is
        # paid, its third refused): the stop goes to stderr, the JSON alone to stdout.
        stopped = cli(tmp_path, server, "--k", "6", "--max-cost", "0.0001", run_id="cli-cap")
        assert stopped.returncode == 1, stopped.stderr
        report = json.loads(stopped.stdout)
        assert report["status"] == "budget_exhausted"
        assert "stopping: run budget exhausted" in stopped.stderr
        assert report["spend"]["billed"] == pytest.approx(
            server.bill.dollars - (2000 + 2 * 200) / 1e6)
