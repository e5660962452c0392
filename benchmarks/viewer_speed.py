"""How fast `harness view` answers on 300 tasks x 250 attempts (75,000 attempts): the report
benchmark's synthetic store (benchmarks/report_speed.py), served by the real command over HTTP.

    python benchmarks/viewer_speed.py [--db PATH] [--repeat 5]

Starts `python -m harness view --warm 0` on the store, then times whole HTTP answers: the runs
list; the run page the first time (its figures computed by `report`'s code: read every attempt,
1000 bootstrap resamples, the scaling fit) and then once cached; task pages of several tasks
(each read fresh from the store: nothing of a task is cached); an attempt page; the comparison
of the run with itself. Prints the median and the worst of --repeat answers of each.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.reports.synthetic import add_run, random_tasks  # noqa: E402
from harness.store import Store  # noqa: E402
from harness.viewer import links  # noqa: E402

TASKS, ATTEMPTS, RUN = 300, 250, "speed"
LIMIT_MS = 300.0


def _get(url: str) -> tuple[float, int]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as answer:
        body = answer.read()
    return 1000 * (time.perf_counter() - started), len(body)


def _serve(db: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "harness", "view", "--db", str(db), "--port", str(port),
         "--warm", "0"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(base + "/static/viewer.css", timeout=5).read()
            return server, base
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("harness view did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="store to use (built there if it lacks the run)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    workdir = tempfile.TemporaryDirectory()
    db = Path(args.db) if args.db else Path(workdir.name) / "speed.db"
    store = Store(db)
    if RUN not in store.run_ids():
        started = time.perf_counter()
        add_run(store, RUN, random_tasks(TASKS, ATTEMPTS, seed=0))
        print(f"built {TASKS} x {ATTEMPTS} store in {time.perf_counter() - started:.1f} s")
    tasks = [f"org{n % 12}__repo{n % 12}-{1000 + n}" for n in (0, 57, 123, 199, 299)]
    store.close()

    server, base = _serve(db)
    rows = []
    try:
        first_ms, size = _get(base + links.run_path(RUN))
        rows.append(("run page, first answer (figures computed)", [first_ms], size))
        pages = {
            "runs list": [links.runs_path()],
            "run page, cached figures": [links.run_path(RUN)],
            "task page (250 attempts)": [links.task_path(RUN, task) for task in tasks],
            "attempt page": [links.attempt_path(RUN, task, 7) for task in tasks],
        }
        for name, paths in pages.items():
            times = []
            for number in range(args.repeat):
                for path in paths if number else paths[:1]:
                    elapsed, size = _get(base + path)
                    times.append(elapsed)
            rows.append((name, times, size))
        compare = links.compare_path(RUN, RUN)
        cold, size = _get(base + compare)
        warm = [_get(base + compare)[0] for _ in range(args.repeat)]
        rows.append(("compare, first answer (permutation test)", [cold], size))
        rows.append(("compare, cached", warm, size))
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"harness view on {TASKS} tasks x {ATTEMPTS} attempts ({TASKS * ATTEMPTS:,} attempts), "
          f"whole HTTP answers, {args.repeat} repeats:")
    for name, times, size in rows:
        median, worst = statistics.median(times), max(times)
        mark = "" if "first" in name else ("  ok" if median < LIMIT_MS else "  OVER 300 ms")
        print(f"  {name:44s} median {median:8.1f} ms  worst {worst:8.1f} ms  "
              f"({len(times)} answers, {size / 1024:.0f} KiB){mark}")


if __name__ == "__main__":
    main()
