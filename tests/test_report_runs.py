"""`report` on several runs: figures against brute force, selection beside the oracle, per
repository, external result files, every format, plots; and a tiny real run when Docker is
here."""

import itertools
import json

import numpy as np
import pytest
from data_paths import SWEBENCH
from reports_helpers import run_cli

from harness.reports.analysis import analyze
from harness.reports.metrics import pass_at_k
from harness.reports.render import build_report, render_table
from harness.reports.rundata import load_run
from harness.reports.synthetic import Attempt, add_run, patch_for, random_tasks
from harness.store import Store

LITE = SWEBENCH


def small_tasks():
    a, b, c = "django__django-1", "sympy__sympy-2", "sympy__sympy-3"
    return {
        a: [Attempt(patch_for(a, 1)), Attempt(patch_for(a, 0), True), Attempt(patch_for(a, 1)),
            Attempt(""), Attempt(patch_for(a, 0), True)],
        b: [Attempt(patch_for(b, 0), True)] * 2 + [Attempt("")] * 3,
        c: [Attempt(patch_for(c, 3))] * 4 + [Attempt(patch_for(c, 0), True)],
    }


def brute(task_attempts, k, rule):
    """Average over every k-subset of a task's attempts of: any resolved (oracle), or the
    majority vote's verdict with ties shared (vote)."""
    values = []
    for subset in itertools.combinations(task_attempts, k):
        if rule == "oracle":
            values.append(any(a.resolved for a in subset))
            continue
        counts = {}
        for a in subset:
            if a.patch:
                counts.setdefault(a.patch, []).append(a.resolved)
        if not counts:
            values.append(0.0)
            continue
        top = max(len(v) for v in counts.values())
        tied = [v[0] for v in counts.values() if len(v) == top]
        values.append(sum(tied) / len(tied))
    return float(np.mean(values))


@pytest.fixture
def db(db_url):
    store = Store(db_url)
    add_run(store, "small", small_tasks())
    unpriced = {
        t: [Attempt(x.patch, x.resolved, model_dollars=None) for x in a[:3]]
        for t, a in small_tasks().items()
    }
    add_run(store, "other", unpriced)
    store.close()
    return db_url


def test_report_figures_match_brute_force(db):
    store = Store(db)
    analysis = analyze(load_run(store, "small"), bootstrap_samples=200, vote_samples=5000)
    store.close()
    tasks = small_tasks()
    assert analysis.ks == [1, 2, 5]
    for column, k in enumerate(analysis.ks):
        oracle = np.mean([brute(a, k, "oracle") for a in tasks.values()])
        vote = np.mean([brute(a, k, "vote") for a in tasks.values()])
        assert analysis.oracle.rate[column] == pytest.approx(oracle, abs=1e-12)
        assert analysis.selections["vote"].rate[column] == pytest.approx(vote, abs=0.02)
        assert analysis.oracle.low[column] <= analysis.oracle.rate[column]
        assert analysis.oracle.rate[column] <= analysis.oracle.high[column]
    # 5 attempts at $0.01 model + 30 vCPU-s at $0.04/h on each of 3 tasks, per k.
    per_round = 3 * (0.01 + 30 * 0.04 / 3600)
    assert analysis.dollars == pytest.approx([k * per_round for k in (1, 2, 5)])
    by_repo = {row.repo: row for row in analysis.repos}
    assert by_repo["sympy/sympy"].tasks == 2
    assert by_repo["django/django"].oracle[0] == pytest.approx(pass_at_k(5, 2, 1))


def test_report_of_several_runs_in_every_format(db, tmp_path, capsys):
    out = tmp_path / "out"
    assert run_cli(["report", "small", "other", "--db", db, "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "runs side by side" in table and "unknown" in table  # other's price is unknown
    assert "vote" in table and "gap" in table and "per repository" in table
    for name in ("solve_rate_vs_k", "solve_rate_vs_dollars"):
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "<svg" in (out / f"{name}.svg").read_text()
    assert run_cli(["report", "small", "--db", db, "--format", "json", "--no-plots"]) == 0
    data = json.loads(capsys.readouterr().out)
    run = data["runs"][0]
    assert run["ks"] == [1, 2, 5] and set(run["selections"]) == {"vote", "first"}
    assert any("majority vote" in m for m in data["methods"])
    assert run_cli(["report", "small", "--db", db, "--format", "markdown", "--no-plots"]) == 0
    assert "| k | solve rate |" in capsys.readouterr().out
    html_out = tmp_path / "html"
    assert run_cli(["report", "small", "other", "--db", db, "--format", "html",
                    "--out", str(html_out)]) == 0
    page = (html_out / "report.html").read_text()
    assert page.count("<svg") >= 2 and "<table>" in page
    assert "src=\"http" not in page and "href=\"http" not in page  # nothing fetched


def test_unknown_run_and_missing_store_are_user_errors(db, tmp_path, capsys):
    assert run_cli(["report", "nope", "--db", db, "--no-plots"]) == 2
    assert "small" in capsys.readouterr().err
    assert run_cli(["report", "x", "--db", str(tmp_path / "none.db")]) == 2
    assert not (tmp_path / "none.db").exists()


@pytest.mark.skipif(not (LITE / "lite_resolved").is_dir(), reason="no shared SWE-bench data")
def test_published_systems_beside_a_run(tmp_path, capsys):
    resolved_file = LITE / "lite_resolved" / "20240523_aider.json"
    resolved = json.loads(resolved_file.read_text())["resolved"]
    # A run on 20 Lite tasks: the published system is measured on the same 20.
    lite = [json.loads(line)["instance_id"]
            for line in (LITE / "swe_bench_lite.jsonl").read_text().splitlines()[:20]]
    store = Store(tmp_path / "h.db")
    add_run(store, "mine", {t: [Attempt(patch_for(t, 0), i % 3 == 0)] * 4
                            for i, t in enumerate(lite)})
    store.close()
    assert run_cli(["report", "mine", f"file:{resolved_file}", "--db", str(tmp_path / "h.db"),
                    "--format", "json", "--no-plots"]) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    published = runs[1]
    assert published["external"] and published["ks"] == [1]
    assert published["tasks_counted"] == 20
    assert published["oracle"]["rate"][0] == pytest.approx(
        len(set(resolved) & set(lite)) / 20
    )
    assert published["dollars"] is None
    # On its own, a resolved list needs a task set.
    assert run_cli(["report", str(resolved_file), "--no-plots"]) == 2
    assert run_cli(["report", str(resolved_file), "--tasks", str(LITE / "swe_bench_lite.jsonl"),
                    "--no-plots"]) == 0
    assert "300 tasks counted" in capsys.readouterr().out


def test_run_command_table_shows_the_brute_force_figures(db):
    store = Store(db)
    table = render_table(build_report(store, "small", bootstrap_samples=50))
    store.close()
    tasks = small_tasks()
    rows = {
        int(line.split()[0]): line.split()
        for line in table.splitlines() if line.strip()[:1].isdigit()
    }
    assert sorted(rows) == [1, 2, 5]
    per_round = 3 * (0.01 + 30 * 0.04 / 3600)
    for k, cells in rows.items():
        oracle = np.mean([brute(a, k, "oracle") for a in tasks.values()])
        assert cells[1] == f"{oracle * 100:.1f}%"
        assert cells[-1] == f"${k * per_round:.4f}"
    # small_tasks: 4 empty patches, 5 resolved and 6 unresolved attempts.
    assert "verdicts of counted attempts: empty_patch: 4, resolved: 5, unresolved: 6" in table


def test_a_large_store_reports_every_k(tmp_path):
    store = Store(tmp_path / "big.db")
    add_run(store, "big", random_tasks(30, 60, seed=2))
    analysis = analyze(load_run(store, "big"), bootstrap_samples=200)
    store.close()
    assert analysis.ks == [1, 2, 5, 10, 25, 50, 60]
    vote, first = analysis.selections["vote"].rate, analysis.selections["first"].rate
    assert all(v <= o + 1e-9 for v, o in zip(vote, analysis.oracle.rate, strict=True))
    assert all(f <= o + 1e-9 for f, o in zip(first, analysis.oracle.rate, strict=True))
    assert vote[0] == pytest.approx(analysis.oracle.rate[0])


@pytest.mark.docker
def test_tiny_real_run_reports_compares_and_exports(docker_client, tmp_path, capsys):
    from harness.cli import main

    db = str(tmp_path / "real.db")
    assert main(["run", "--k", "3", "--instances", "demo__*-1", "--db", db,
                 "--run-id", "real", "--max-sandboxes", "2"]) == 0
    capsys.readouterr()
    assert run_cli(["report", "real", "--db", db, "--format", "json", "--no-plots"]) == 0
    run = json.loads(capsys.readouterr().out)["runs"][0]
    # demo__*-1 is three tasks; the mutation agent leaves none without a counted attempt.
    assert run["ks"] == [1, 2, 3] and run["tasks_counted"] == run["tasks_total"] == 3
    assert run_cli(["compare", "real", "real", "--db", db]) == 0
    out = tmp_path / "pkg"
    assert run_cli(["export", "real", "--out", str(out), "--db", db]) == 0
    predictions = [
        json.loads(line) for line in (out / "all_preds.jsonl").read_text().splitlines()
    ]
    assert len({p["instance_id"] for p in predictions}) == len(predictions) == run["tasks_total"]
