"""export: the leaderboard package checked field by field against the official formats, and
the refusal of oracle selection."""

import json
from collections import Counter

import pytest
import yaml
from reports_helpers import run_cli

from harness.reports.synthetic import Attempt, add_run, patch_for
from harness.store import Store

REPORT_KEYS = {"patch_is_None", "patch_exists", "patch_successfully_applied", "resolved"}
STATUS_KINDS = {"FAIL_TO_PASS", "PASS_TO_PASS", "FAIL_TO_FAIL", "PASS_TO_FAIL"}


def tasks():
    a, b, c, d = "org__alpha-1", "org__beta-2", "org__gamma-3", "org__delta-4"
    return {
        # The vote picks the wrong patch (3 votes) over the right one (2): not resolved.
        a: [Attempt(patch_for(a, 1)), Attempt(patch_for(a, 0), True), Attempt(patch_for(a, 1)),
            Attempt(""), Attempt(patch_for(a, 0), True), Attempt(patch_for(a, 1))],
        # First attempt empty; the vote and "first" both land on the resolved patch.
        b: [Attempt(""), Attempt(patch_for(b, 0), True, trajectory=[{"role": "user"}]),
            Attempt(patch_for(b, 0), True), Attempt(patch_for(b, 2)), Attempt(""),
            Attempt(patch_for(b, 0), True)],
        # Nothing but empty patches: no generation.
        c: [Attempt("") for _ in range(6)],
        # An infrastructure error and a pending attempt are never candidates.
        d: [Attempt(patch_for(d, 5), error_kind="infra"), Attempt(patch_for(d, 6), pending=True)]
        + [Attempt(patch_for(d, 3)) for _ in range(5)] + [Attempt(patch_for(d, 0), True)],
    }


@pytest.fixture
def db(db_url):
    store = Store(db_url)
    add_run(store, "run1", tasks(), k=6)
    store.close()
    return db_url


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def stored_patches(db):
    """Read straight from the tables with plain SQL, apart from the harness's own queries."""
    from sqlalchemy import create_engine, text

    engine = create_engine(db if "://" in db else f"sqlite:///{db}")
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "select t.instance_id, a.patch from attempts a join tasks t on t.id = a.task_id "
                "where a.error_kind is null and a.evaluation_id is not null order by a.id"
            )
        ).all()
    engine.dispose()
    patches = {}
    for instance_id, patch in rows:
        patches.setdefault(instance_id, []).append(patch)
    return patches


def test_vote_package_matches_official_formats_field_by_field(db, tmp_path, capsys):
    out = tmp_path / "pkg"
    assert run_cli(["export", "run1", "--select", "vote", "--out", str(out), "--db", db]) == 0
    printed = capsys.readouterr().out
    assert "Is a pass@1 submission: NO" in printed and "hints" in printed

    predictions = read_jsonl(out / "all_preds.jsonl")
    ids = [p["instance_id"] for p in predictions]
    assert len(ids) == len(set(ids)) == 4 and set(ids) == set(tasks())
    for prediction in predictions:
        assert set(prediction) == {"instance_id", "model_name_or_path", "model_patch"}
        assert prediction["model_name_or_path"] == "run1"
    patches = {p["instance_id"]: p["model_patch"] for p in predictions}
    stored = stored_patches(db)
    for instance_id, patch in patches.items():
        non_empty = [p for p in stored[instance_id] if p.strip()]
        if not non_empty:
            assert patch == ""
            continue
        assert patch in stored[instance_id]  # byte for byte a stored patch
        top = max(Counter(non_empty).values())
        assert Counter(non_empty)[patch] == top  # and the most frequent one
    assert patches["org__alpha-1"] == patch_for("org__alpha-1", 1)
    assert patches["org__delta-4"] == patch_for("org__delta-4", 3)
    # The sb-cli file holds the same predictions.
    assert json.loads((out / "preds.json").read_text()) == predictions

    results = json.loads((out / "results" / "results.json").read_text())
    assert set(results) == {"resolved", "no_generation", "no_logs"}
    assert results["resolved"] == ["org__beta-2"]
    assert results["no_generation"] == ["org__gamma-3"]
    assert results["no_logs"] == []

    for instance_id in ids:
        trajectory = json.loads((out / "trajs" / f"{instance_id}.traj").read_text())
        assert trajectory["instance_id"] == instance_id
        logs = out / "logs" / instance_id
        if instance_id == "org__gamma-3":
            assert not logs.exists()
            continue
        assert sorted(p.name for p in logs.iterdir()) == [
            "eval.sh", "patch.diff", "report.json", "test_output.txt"
        ]
        assert (logs / "patch.diff").read_text() == patches[instance_id]
        report = json.loads((logs / "report.json").read_text())
        assert list(report) == [instance_id]
        entry = report[instance_id]
        assert set(entry) == REPORT_KEYS | {"tests_status"}
        assert entry["patch_is_None"] is False and entry["patch_exists"] is True
        assert entry["patch_successfully_applied"] is True
        assert entry["resolved"] is (instance_id in results["resolved"])
        assert set(entry["tests_status"]) == STATUS_KINDS
        for kind in STATUS_KINDS:
            assert set(entry["tests_status"][kind]) == {"success", "failure"}
        f2p = entry["tests_status"]["FAIL_TO_PASS"]
        assert (f2p["failure"] == []) is entry["resolved"]
    assert json.loads((out / "trajs" / "org__beta-2.traj").read_text())["trajectory"] == [
        {"role": "user"}
    ]

    metadata = yaml.safe_load((out / "metadata.yaml").read_text())
    assert metadata["verified"] is False and metadata["name"] == "run1"
    assert {"oss", "site"} <= set(metadata)
    assert set(metadata["info"]) == {"name", "authors", "logo", "report", "site"}
    assert metadata["info"]["name"] == "run1"
    assert {"checked", "model", "org", "os_model", "os_system", "system"} <= set(metadata["tags"])
    assert metadata["tags"]["system"] == {"attempts": "2+"}  # one patch chosen from 6
    assert set(metadata["assets"]) == {"logs", "trajs"}
    assert metadata["tags"]["attempts_per_task"] == 6
    assert metadata["tags"]["selection"] == "vote"
    assert metadata["tags"]["checked"] is False
    assert "Submission checklist" in (out / "README.md").read_text()

    summary = json.loads((out / "run1.run1.json").read_text())
    assert summary["schema_version"] == 2
    assert summary["submitted_ids"] == sorted(ids) and summary["total_instances"] == 4
    assert summary["resolved_ids"] == ["org__beta-2"]
    assert summary["empty_patch_ids"] == ["org__gamma-3"]
    assert sorted(summary["unresolved_ids"]) == ["org__alpha-1", "org__delta-4"]
    assert summary["completed_ids"] == ["org__alpha-1", "org__beta-2", "org__delta-4"]
    assert summary["error_ids"] == [] and summary["infra_failure_ids"] == []
    assert summary["resolved_instances"] == 1 and summary["empty_patch_instances"] == 1


def test_first_selection_takes_the_first_non_empty_attempt(db, tmp_path):
    out = tmp_path / "first"
    assert run_cli(["export", "run1", "--select", "first", "--out", str(out), "--db", db]) == 0
    patches = {p["instance_id"]: p["model_patch"] for p in read_jsonl(out / "all_preds.jsonl")}
    assert patches["org__alpha-1"] == patch_for("org__alpha-1", 1)
    assert patches["org__beta-2"] == patch_for("org__beta-2", 0)
    assert patches["org__delta-4"] == patch_for("org__delta-4", 3)  # infra and pending skipped


@pytest.mark.parametrize("name", ["oracle", "best"])
def test_oracle_selection_is_refused_and_writes_nothing(db, tmp_path, capsys, name):
    out = tmp_path / "oracle"
    assert run_cli(["export", "run1", "--select", name, "--out", str(out), "--db", db]) == 2
    error = capsys.readouterr().err
    assert "hidden" in error and "test outcome" in error
    assert not out.exists()


def test_a_patch_decided_by_fail_fast_stage_one_is_said_so(db, tmp_path, capsys):
    """Its log holds the FAIL_TO_PASS run alone: the package's README and the command say so."""
    from sqlalchemy import create_engine, text

    engine = create_engine(db if "://" in db else f"sqlite:///{db}")
    with engine.begin() as connection:
        # Say fail fast decided every unresolved verdict (the vote picks one for alpha).
        connection.execute(text(
            "update evaluations set decided_by_stage = 1 where status = 'UNRESOLVED'"
        ))
    engine.dispose()
    out = tmp_path / "pkg"
    assert run_cli(["export", "run1", "--select", "vote", "--out", str(out), "--db", db]) == 0
    printed = capsys.readouterr().out
    readme = (out / "README.md").read_text()
    unresolved = sorted(json.loads((out / "results" / "results.json").read_text())["resolved"])
    assert "decided by fail fast's stage 1" in printed
    line = next(line for line in readme.splitlines() if line.startswith("- fail fast:"))
    assert "org__alpha-1" in line and "org__delta-4" in line
    assert not any(instance in line for instance in unresolved)  # resolved ones ran in full
