"""How long `report` takes on 300 tasks x 250 attempts (75,000 attempts) read from a store.

    python benchmarks/report_speed.py [--db PATH] [--repeat 3]

Builds the synthetic store once (kept at --db when given, to rerun without building), then
times what `python -m harness report RUN` does in-process: read the run from the store,
compute every figure (oracle with 1000 bootstrap resamples, vote and first at every k, per
repository, scaling fit with 200 bootstrap fits and forecasts) and render the table; then,
separately, the two plots as PNG and SVG. Prints the best of --repeat timings.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

# Run the package of this checkout, not whichever one is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from harness.reports.analysis import analyze
from harness.reports.render import render_analyses
from harness.reports.rundata import load_run
from harness.reports.synthetic import add_run, random_tasks
from harness.store import Store

TASKS, ATTEMPTS, RUN = 300, 250, "speed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="store to use (built there if it lacks the run)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    workdir = tempfile.TemporaryDirectory()
    db = Path(args.db) if args.db else Path(workdir.name) / "speed.db"
    store = Store(db)
    if RUN not in {row for row in _runs(store)}:
        started = time.perf_counter()
        add_run(store, RUN, random_tasks(TASKS, ATTEMPTS, seed=0))
        print(f"built {TASKS} x {ATTEMPTS} store in {time.perf_counter() - started:.1f} s")

    report_times, plot_times = [], []
    for _ in range(args.repeat):
        started = time.perf_counter()
        run = load_run(store, RUN)
        loaded = time.perf_counter()
        analysis = analyze(run)
        analysed = time.perf_counter()
        text = render_analyses([analysis])
        finished = time.perf_counter()
        report_times.append((finished - started, loaded - started, analysed - loaded))
        started = time.perf_counter()
        from harness.reports import plots

        with tempfile.TemporaryDirectory() as out:
            for stem, figure in plots.all_figures([analysis]).items():
                plots.save(figure, Path(out), stem)
        plot_times.append(time.perf_counter() - started)
    store.close()
    total, load, compute = min(report_times)
    attempts = sum(t.n for t in run.tasks)
    print(f"report of {len(run.tasks)} tasks x {attempts // len(run.tasks)} attempts "
          f"({attempts:,} attempts): {total:.2f} s (read {load:.2f} s, compute {compute:.2f} "
          f"s, render {total - load - compute:.3f} s; best of {args.repeat})")
    print(f"plots (2 figures, PNG + SVG): {min(plot_times):.2f} s")
    print(f"report lines: {len(text.splitlines())}")


def _runs(store: Store) -> list[str]:
    from harness.reports.rundata import known_runs

    return known_runs(store)


if __name__ == "__main__":
    main()
