"""Budgets read from the ledger, at the model layer (no Docker): the overshoot bound with
concurrent slow calls, and a limit that holds for a new process on the same store."""

import threading

import pytest
from fake_openai import FakeOpenAI, error_reply, text_reply

from harness.models.budget import Budget, BudgetExhausted, Limits
from harness.models.ledger import Ledger
from harness.models.limits import ConnectionLimiter
from harness.models.llm import LLM, RetryPolicy
from harness.models.pricing import Price
from harness.store import Store
from harness.store.spend import billed

CONNECTIONS = 3
# 1000 prompt + 100 output tokens at $1 / $2 per million: $0.0012 a call.
CALL = 0.0012


def llm_for(server) -> LLM:
    llm = LLM("openai/fake-model", api_base=server.base_url,
              price=Price(input=1e-6, output=2e-6), limiter=ConnectionLimiter(CONNECTIONS),
              retry=RetryPolicy(tries=1))
    llm._api_key = "no-key"
    return llm


def spend_until_refused(llm: LLM, budget: Budget, workers: int, run_id: str) -> None:
    def worker(number: int) -> None:
        for call in range(200):
            attempt = budget.start_attempt(f"t{number}", run_id=run_id, index=call)
            try:
                llm.complete([{"role": "user", "content": f"{number}/{call}"}],
                             budget=attempt, use_cache=False)
            except BudgetExhausted:
                return

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_overshoot_is_at_most_the_calls_in_flight_and_the_limit_persists(tmp_path):
    store = Store(tmp_path / "h.db")
    reply = text_reply("ok", prompt_tokens=1000, completion_tokens=100, delay=0.2)
    limit = 0.01
    with FakeOpenAI(responder=lambda body: reply) as server:
        budget = Budget(max_cost=limit, ledger=Ledger(store))
        spend_until_refused(llm_for(server), budget, workers=8, run_id="r")
        bill = server.bill.dollars
        assert budget.max_in_flight == CONNECTIONS  # the bound is reached, not just kept
        # A new process (new Budget, same store) starts from the ledger: no call at all.
        again = Budget(max_cost=limit, ledger=Ledger(store))
        with pytest.raises(BudgetExhausted, match="run budget exhausted"):
            llm_for(server).complete([{"role": "user", "content": "more"}],
                                     budget=again.start_attempt("t0", run_id="r"))
        assert server.bill.dollars == bill
    spent, calls = billed(store, "r")
    assert spent == pytest.approx(bill, abs=1e-12)
    assert limit <= spent < limit + CONNECTIONS * CALL + 1e-12
    store.close()


def test_instance_limit_in_steps_persists_across_budgets(tmp_path):
    store = Store(tmp_path / "h.db")
    reply = text_reply("ok", prompt_tokens=10, completion_tokens=1)
    with FakeOpenAI(responder=lambda body: reply) as server:
        llm = llm_for(server)
        for call in range(2):
            budget = Budget(per_instance=Limits(steps=2), ledger=Ledger(store))
            llm.complete([{"role": "user", "content": str(call)}], use_cache=False,
                         budget=budget.start_attempt("t", run_id="r", index=call))
        third = Budget(per_instance=Limits(steps=2), ledger=Ledger(store))
        with pytest.raises(BudgetExhausted, match="instance budget exhausted"):
            llm.complete([{"role": "user", "content": "x"}],
                         budget=third.start_attempt("t", run_id="r", index=2))
        assert server.bill.calls == 2
    store.close()


def test_a_429_pauses_every_worker_of_the_endpoint_for_its_retry_after():
    replies = iter([None, None, "429"])  # the third request is rate-limited
    lock = threading.Lock()

    def respond(body):
        with lock:
            kind = next(replies, None)
        if kind == "429":
            return error_reply(429, "slow down", headers={"Retry-After": "1"})
        return text_reply("ok", prompt_tokens=10, completion_tokens=1, delay=0.05)

    with FakeOpenAI(responder=respond) as server:
        llm = llm_for(server)
        llm.retry = RetryPolicy(tries=3)

        def worker(number: int) -> None:
            for call in range(4):
                llm.complete([{"role": "user", "content": f"{number}/{call}"}], use_cache=False)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        times = list(server.request_times)
    assert len(times) == 13 and server.bill.errors == 1
    # From the moment the 429 reached the client (litellm takes a while to raise it), no
    # worker starts a request until its Retry-After has passed; one started just before
    # may still be on its way (0.3 s of slack for a loaded machine).
    assert llm.gate.last_pause is not None
    paused_from, paused_until = llm.gate.last_pause
    assert paused_until - paused_from >= 0.99
    assert [t for t in times if paused_from + 0.3 < t < paused_until - 0.01] == []
    assert sum(1 for t in times if t >= paused_until - 0.01) >= 3  # all workers waited
