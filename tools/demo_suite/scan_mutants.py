"""Lists the single-token mutants of each buggy function that pass a task's tests.

    python tools/demo_suite/scan_mutants.py [INSTANCE_ID ...]

A ``one-edit`` task should have exactly one surviving mutant (its gold patch) or a few that are
equally valid fixes; a ``two-edits`` or ``new-code`` task should have none. Also prints how many
mutants each task has, which bounds the odds of a random single edit hitting the fix.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from build import DEFAULT_OUT
from gitops import apply, checkout_clean, git
from mutations import changed_rows, enclosing_function_rows, mutants, same_code
from pytest_run import all_pass, run_pytest

WORKERS = 2
# A mutant can loop forever (a list extended while iterated); that counts as killed.
MUTANT_TIMEOUT_S = 20


def scan(row: dict, workdir: Path, python: str) -> None:
    name = row["repo"].split("/")[1]
    bundle = DEFAULT_OUT / "repos" / f"demo__{name}.bundle"
    first = workdir / row["instance_id"] / "0"
    git(workdir, "clone", "--quiet", str(bundle), str(first))
    checkout_clean(first, row["base_commit"])
    apply(first, row["test_patch"])
    fixed = workdir / row["instance_id"] / "fixed"
    shutil.copytree(first, fixed)
    apply(fixed, row["patch"])
    checkouts = [first] + [first.with_name(str(i)) for i in range(1, WORKERS)]
    for extra in checkouts[1:]:
        shutil.copytree(first, extra)
    tests = sorted({n.split("::")[0] for n in json.loads(row["FAIL_TO_PASS"])})
    wanted = json.loads(row["FAIL_TO_PASS"]) + json.loads(row["PASS_TO_PASS"])
    jobs = []
    patched = {line[6:] for line in row["patch"].splitlines() if line.startswith("+++ b/")}
    for path in sorted(patched):
        buggy = (first / path).read_text(encoding="utf-8")
        gold = (fixed / path).read_text(encoding="utf-8")
        rows = enclosing_function_rows(buggy, changed_rows(buggy, gold) or {1})
        jobs += [(path, mutant, gold) for mutant in mutants(buggy, rows)]

    def run(index: int) -> tuple[str, bool, bool]:
        path, mutant, gold = jobs[index]
        checkout = checkouts[index % WORKERS]
        target = checkout / path
        original = target.read_text(encoding="utf-8")
        target.write_text(mutant.source, encoding="utf-8")
        try:
            passed = all_pass(run_pytest(checkout, tests, python, MUTANT_TIMEOUT_S), wanted)
        except subprocess.TimeoutExpired:
            passed = False
        finally:
            target.write_text(original, encoding="utf-8")
        return mutant.description, passed, same_code(mutant.source, gold)

    with ThreadPoolExecutor(WORKERS) as pool:
        # Each worker owns one checkout: job i runs in checkout i % WORKERS, in rounds.
        results = []
        for start in range(0, len(jobs), WORKERS):
            results += list(pool.map(run, range(start, min(start + WORKERS, len(jobs)))))
    survivors = [(d, is_gold) for d, passed, is_gold in results if passed]
    print(f"{row['instance_id']} ({row['difficulty']}): {len(jobs)} mutants, survivors:")
    for description, is_gold in survivors:
        print(f"    {description}{'  (gold)' if is_gold else ''}")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    rows = [json.loads(line) for line in (DEFAULT_OUT / "tasks.jsonl").read_text().splitlines()]
    chosen = [row for row in rows if not argv or row["instance_id"] in argv]
    with tempfile.TemporaryDirectory(prefix="demo-mutants-") as tmp:
        for row in chosen:
            scan(row, Path(tmp), sys.executable)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
