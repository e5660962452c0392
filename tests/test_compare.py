"""compare: verdicts on constructed improvements and regressions in real SQLite stores, the
paired statistics, the refusals, and the CI outputs (exit code, markdown, JUnit)."""

import json
import xml.etree.ElementTree as ET

import pytest
from data_paths import SWEBENCH
from reports_helpers import run_cli

from harness.reports.compare import (
    IMPROVED,
    NO_CHANGE,
    REGRESSED,
    ComparisonError,
    compare_runs,
    mcnemar_exact,
)
from harness.reports.rundata import load_run
from harness.reports.synthetic import Attempt, add_run, patch_for
from harness.store import Store

LITE = SWEBENCH


def attempts(instance_id, solved, k=5):
    return [
        Attempt(patch_for(instance_id, 0), True) if i < solved
        else Attempt(patch_for(instance_id, 1 + i), False)
        for i in range(k)
    ]


def ids(count):
    return [f"org__repo-{i}" for i in range(count)]


@pytest.fixture
def store(db_url):
    store = Store(db_url)
    # 40 tasks: the baseline solves 30 of them 4 times in 5.
    add_run(store, "base", {t: attempts(t, 4 if i < 30 else 0) for i, t in enumerate(ids(40))})
    add_run(store, "worse", {t: attempts(t, 4 if i < 12 else 0) for i, t in enumerate(ids(40))})
    add_run(store, "better", {t: attempts(t, 4 if i < 38 else 0) for i, t in enumerate(ids(40))})
    add_run(store, "noisy", {t: attempts(t, 3 if i < 30 else 0) for i, t in enumerate(ids(40))})
    add_run(store, "k10", {t: attempts(t, 8 if i < 30 else 0, k=10) for i, t in enumerate(ids(40))})
    add_run(store, "fewer", {t: attempts(t, 4 if i < 30 else 0) for i, t in enumerate(ids(35))})
    yield store
    store.close()


def test_constructed_regression_improvement_and_no_change(store):
    base = load_run(store, "base")
    worse = compare_runs(base, load_run(store, "worse"), k=1)
    assert worse.verdict == REGRESSED
    assert worse.delta == pytest.approx((12 - 30) * 0.8 / 40)
    assert worse.delta_high < 0
    better = compare_runs(base, load_run(store, "better"), k=5)
    assert better.verdict == IMPROVED and better.delta_low > 0
    assert better.mcnemar_improved == 8 and better.mcnemar_regressed == 0
    assert better.p_mcnemar == pytest.approx(2 / 2**8)
    same = compare_runs(base, base)
    assert same.verdict == NO_CHANGE and same.delta == 0 and same.p_bootstrap == 1.0


def test_min_effect_turns_a_small_significant_change_into_no_change(store):
    base = load_run(store, "base")
    noisy = load_run(store, "noisy")  # every solved task drops from 4/5 to 3/5: -15 points
    assert compare_runs(base, noisy, k=1).verdict == REGRESSED
    assert compare_runs(base, noisy, k=1, min_effect=0.20).verdict == NO_CHANGE
    # McNemar on "solved at k" sees no task flip (0.6 still rounds to solved): no change.
    assert compare_runs(base, noisy, k=1, test="mcnemar").verdict == NO_CHANGE


def test_mcnemar_exact_values():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64)
    assert mcnemar_exact(3, 3) == 1.0
    assert mcnemar_exact(1, 9) == pytest.approx(2 * 11 / 1024)


def test_refuses_different_task_sets_and_k_unless_aligned(store):
    base = load_run(store, "base")
    with pytest.raises(ComparisonError, match="--align intersect"):
        compare_runs(base, load_run(store, "fewer"))
    aligned = compare_runs(base, load_run(store, "fewer"), align_tasks="intersect")
    assert len(aligned.tasks) == 35 and aligned.verdict == NO_CHANGE
    assert "aligned on the 35 tasks" in aligned.notes[0]
    with pytest.raises(ComparisonError, match="--k K with K at most 5"):
        compare_runs(base, load_run(store, "k10"))
    with pytest.raises(ComparisonError, match="out of range"):
        compare_runs(base, load_run(store, "k10"), k=6)
    assert compare_runs(base, load_run(store, "k10"), k=5).k == 5


def test_cli_gate_exit_codes_markdown_summary_and_junit(store, tmp_path, monkeypatch, capsys):
    db = store.url
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    junit = tmp_path / "junit.xml"
    code = run_cli(["compare", "base", "worse", "--db", db, "--k", "1", "--markdown",
                    "--junit", str(junit)])
    assert code == 1
    out = capsys.readouterr().out
    assert "regressed" in out and "| change | -36.0 points |" in out
    assert summary.read_text() == out.rstrip("\n") + "\n"
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("tests") == "40" and suite.get("failures") == "18"
    failed = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert failed == [f"org__repo-{i}" for i in range(12, 30)]
    assert run_cli(["compare", "base", "better", "--db", db]) == 0
    capsys.readouterr()
    assert run_cli(["compare", "base", "base", "--db", db, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["verdict"] == NO_CHANGE
    assert run_cli(["compare", "base", "k10", "--db", db]) == 2
    assert "--k" in capsys.readouterr().err


@pytest.mark.skipif(not (LITE / "lite_resolved").is_dir(), reason="no shared SWE-bench data")
def test_published_resolved_lists_compare_on_the_lite_task_set(capsys):
    aider = LITE / "lite_resolved" / "20240523_aider.json"
    sweagent = LITE / "lite_resolved" / "20240402_sweagent_gpt4.json"
    code = run_cli(["compare", f"file:{sweagent}", str(aider), "--tasks",
                    str(LITE / "swe_bench_lite.jsonl"), "--json"])
    result = json.loads(capsys.readouterr().out)
    resolved = [len(json.loads(p.read_text())["resolved"]) for p in (sweagent, aider)]
    assert len(result["tasks"]) == 300
    assert result["baseline_rate"] == pytest.approx(resolved[0] / 300)
    assert result["candidate_rate"] == pytest.approx(resolved[1] / 300)
    assert result["verdict"] == IMPROVED and code == 0
