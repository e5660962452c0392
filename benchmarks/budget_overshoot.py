"""How far `--max-cost` can be overshot: 4 concurrent slow calls against the stand-in.

Eight workers share one Budget and one LLM with 4 connections; every call takes 0.4 s at the
OpenAI-compatible stand-in on 127.0.0.1 (tests/fake_openai.py) and costs a random amount.
Workers call until the run budget says no. The budget is checked before every call, in one
step with counting the call in flight, so the overshoot is the cost of the calls already in
flight when the limit was crossed: goal overshoot / largest call cost <= 4 (the connections).
The spend is read from the ledger in a SQLite store, as a run's budget reads it.

    PYTHONPATH=. python benchmarks/budget_overshoot.py [--trials 5]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
from pathlib import Path

# Run the package of this checkout, not whichever one is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fake_openai import FakeOpenAI, text_reply  # noqa: E402

from harness.models.budget import Budget, BudgetExhausted  # noqa: E402
from harness.models.ledger import Ledger  # noqa: E402
from harness.models.limits import ConnectionLimiter  # noqa: E402
from harness.models.llm import LLM, RetryPolicy  # noqa: E402
from harness.models.pricing import Price  # noqa: E402
from harness.store import Store  # noqa: E402
from harness.store.spend import billed  # noqa: E402

CONNECTIONS = 4
WORKERS = 8


def trial(seed: int, limit: float, delay: float) -> tuple[float, float, float, int]:
    rng = random.Random(seed)
    lock = threading.Lock()

    def respond(body):
        with lock:
            tokens = rng.randint(500, 5000)
        return text_reply("ok", prompt_tokens=tokens, completion_tokens=100, delay=delay)

    store = Store(Path(tempfile.mkdtemp(prefix="overshoot-")) / "h.db")
    with FakeOpenAI(responder=respond) as server:
        llm = LLM("openai/fake-model", api_base=server.base_url,
                  price=Price(input=1e-6, output=2e-6), limiter=ConnectionLimiter(CONNECTIONS),
                  retry=RetryPolicy(tries=1))
        llm._api_key = "no-key"
        budget = Budget(max_cost=limit, ledger=Ledger(store))

        def worker(number: int) -> None:
            for call in range(1000):
                attempt = budget.start_attempt(f"task-{number}", run_id="bench", index=call)
                try:
                    llm.complete([{"role": "user", "content": f"{number} {call}"}],
                                 budget=attempt, use_cache=False)
                except BudgetExhausted:
                    return
                finally:
                    attempt.finish()

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(WORKERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        bill = server.bill.dollars
    spent, _ = billed(store, "bench")
    store.close()
    assert abs(spent - bill) < 1e-12, (spent, bill)
    return spent, spent - limit, budget.largest_call, budget.max_in_flight


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--limit", type=float, default=0.05)
    parser.add_argument("--delay", type=float, default=0.4)
    args = parser.parse_args()
    worst = 0.0
    for seed in range(args.trials):
        spent, over, largest, in_flight = trial(seed, args.limit, args.delay)
        ratio = max(0.0, over) / largest
        worst = max(worst, ratio)
        print(f"trial {seed}: limit ${args.limit:.4f}, spent ${spent:.6f} (ledger = stand-in's "
              f"bill), overshoot ${over:.6f}, largest call ${largest:.6f}, overshoot / largest "
              f"call = {ratio:.2f}, calls in flight at most {in_flight}")
    print(f"worst overshoot / largest call = {worst:.2f} (goal <= {CONNECTIONS}, the calls in "
          "flight)")


if __name__ == "__main__":
    main()
