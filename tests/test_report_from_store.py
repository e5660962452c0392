"""The report reads only the store: build one by hand in real SQLite and check every figure."""

import json

import pytest

from harness.reports.metrics import pass_at_k
from harness.reports.render import build_report, render_json, render_table
from harness.reports.rundata import UnknownRunError
from harness.store import (
    AttemptRecord,
    EvalStatus,
    EvaluationRecord,
    RunRecord,
    RunTaskRecord,
    Store,
    TaskRecord,
)


def make_store(db_url, outcomes, price=0.036, model_dollars=0.01):
    """outcomes: {instance_id: list of 'R' (resolved), 'U' (unresolved), 'I' (infra), 'P'
    (pending evaluation)}"""
    store = Store(db_url)
    with store.writing() as session:
        session.add(
            RunRecord(
                id="r1", agent="mutation", agent_hash="h", k=250, config={"seed": 0},
                code_revision="x", package_versions={}, vcpu_hour_dollars=price,
            )
        )
        for instance_id, marks in outcomes.items():
            task = TaskRecord(instance_id=instance_id, content_hash="c", repo="o/r", row={})
            session.add(task)
            session.flush()
            session.add(RunTaskRecord(run_id="r1", task_id=task.id))
            evaluations = {}
            for status in (EvalStatus.RESOLVED, EvalStatus.UNRESOLVED):
                record = EvaluationRecord(
                    task_id=task.id, patch_hash=status.value, status=status, patch="p"
                )
                session.add(record)
                session.flush()
                evaluations[status] = record.id
            for index, mark in enumerate(marks):
                session.add(
                    AttemptRecord(
                        run_id="r1", task_id=task.id, index=index, seed=index, agent_hash="h",
                        patch="p", patch_hash="x", model_dollars=model_dollars,
                        compute_seconds=100.0,
                        error_kind="infra" if mark == "I" else None,
                        evaluation_id={
                            "R": evaluations[EvalStatus.RESOLVED],
                            "U": evaluations[EvalStatus.UNRESOLVED],
                        }.get(mark),
                    )
                )
    return store


def test_report_figures_come_from_stored_attempts(db_url):
    store = make_store(
        db_url,
        {"t1": "RUUUUUUUUU" + "I", "t2": "UUUUUUUUUU" + "P", "t3": "RRRRRUUUUU"},
    )
    report = build_report(store, "r1", bootstrap_samples=200)
    assert report.attempts_counted == 30
    assert report.infra_errors == 1 and report.attempts_pending == 1
    assert report.solved_tasks == 2
    analysis = report.analysis
    assert analysis.ks == [1, 2, 5, 10]
    expected = (pass_at_k(10, 1, 5) + 0 + pass_at_k(10, 5, 5)) / 3
    assert analysis.oracle.rate[2] == pytest.approx(expected)
    assert analysis.oracle.low[2] <= expected <= analysis.oracle.high[2]
    # Each counted attempt cost $0.01 of model plus 100 vCPU-seconds at $0.036/hour = $0.001.
    assert analysis.dollars[3] == pytest.approx(3 * 10 * 0.011)
    assert analysis.dollars[0] == pytest.approx(3 * 0.011)
    assert report.model_dollars == pytest.approx(0.30)
    table = render_table(report)
    assert "1 awaiting evaluation, 1 infrastructure errors" in table
    assert json.loads(render_json(report))["solved_tasks"] == 2


def test_unknown_model_price_is_reported_as_unknown_not_zero(db_url):
    store = make_store(db_url, {"t1": "RU"}, model_dollars=None)
    report = build_report(store, "r1", bootstrap_samples=50)
    assert report.analysis.dollars is None
    table = render_table(report)
    k1_row = next(line for line in table.splitlines() if line.split()[:1] == ["1"])
    assert k1_row.rstrip().endswith("unknown")


def test_unknown_run_names_the_runs_it_has(db_url):
    store = make_store(db_url, {"t1": "R"})
    with pytest.raises(UnknownRunError, match="r1"):
        build_report(store, "nope")


def test_run_prints_the_table_report_prints(db_url):
    """One engine: the run's table is the `report` command's output for that run, verbatim."""
    import contextlib
    import io

    from harness.cli import main

    store = make_store(db_url, {"t1": "RUUUUUUUUU", "t2": "UUUUUUUUUU", "t3": "RRRRRUUUUU"})
    store.close()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["report", "r1", "--db", str(db_url), "--no-plots"]) == 0
    report_output = printed.getvalue().strip()
    run_table = render_table(build_report(Store(db_url), "r1"))
    assert run_table.endswith(report_output)
    assert "solve rate at k, and selection at the same k" in report_output
