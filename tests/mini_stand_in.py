"""Runs `python -m harness run --agent mini ...` against the stand-in playing mini-swe-agent's
side with each task's gold change, then prints the stand-in's bill beside the run's ledger.
For trying `--agent mini` on real instances by hand (no LLM API is reachable here):

    python tests/mini_stand_in.py --dataset FILE -- run --agent mini --k 8 \\
        --dataset FILE --instances 'pallets__flask-*' --model openai/fake-model --prices P ...

The gold patches come from the dataset, read here, in the stand-in: the harness is never told.
Not a test module: pytest collects only test_*.py.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fake_openai import FakeOpenAI, mini_swe_conversation  # noqa: E402


def gold_by_problem(dataset: Path) -> dict[str, str]:
    rows = [json.loads(line) for line in dataset.read_text().splitlines() if line.strip()]
    return {row["problem_statement"][:200]: row["patch"] for row in rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, type=Path)
    parser.add_argument("harness_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    harness_args = [a for a in args.harness_args if a != "--"]
    with FakeOpenAI(responder=mini_swe_conversation(gold_by_problem(args.dataset))) as server:
        done = subprocess.run([sys.executable, "-m", "harness", *harness_args,
                               "--api-base", server.base_url])
        bill = server.bill
    print(f"stand-in bill: {bill.calls} calls, {bill.prompt_tokens} prompt tokens, "
          f"{bill.completion_tokens} completion tokens, ${bill.dollars:.6f}")
    if "--db" in harness_args:
        db = harness_args[harness_args.index("--db") + 1]
        with sqlite3.connect(db) as connection:
            calls, dollars = connection.execute(
                "SELECT count(*), coalesce(sum(dollars), 0) FROM model_calls "
                "WHERE outcome = 'ok'").fetchone()
        print(f"ledger: {calls} calls, ${dollars:.6f}")
    return done.returncode


if __name__ == "__main__":
    raise SystemExit(main())
