"""Datasets: local SWE-bench files, official names (offline: a clear error), and filters."""

from __future__ import annotations

import argparse
import json

import pytest
from data_paths import LITE

from harness.datasets import DatasetError, TaskFilter, filter_tasks, load_dataset_tasks
from harness.tasks import TaskFormatError


def row(instance_id: str, repo: str = "o/r") -> dict:
    return {
        "instance_id": instance_id, "repo": repo, "base_commit": "abc", "patch": "",
        "test_patch": "diff", "problem_statement": "p", "version": "1.0",
        "FAIL_TO_PASS": json.dumps(["t1"]), "PASS_TO_PASS": "[]",
    }


@pytest.fixture
def small(tmp_path):
    path = tmp_path / "tasks.jsonl"
    rows = [row("o__r-1"), row("o__r-2"), row("x__y-1", "x/y"), row("x__y-2", "x/y")]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{broken\n")
    return path


def test_local_jsonl_loads_and_reports_bad_rows(small):
    loaded = load_dataset_tasks(str(small))
    assert [t.instance_id for t in loaded.tasks] == ["o__r-1", "o__r-2", "x__y-1", "x__y-2"]
    assert len(loaded.problems) == 1 and loaded.problems[0].line == 5


def test_local_json_array(tmp_path):
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps([row("a__b-1")]))
    assert [t.instance_id for t in load_dataset_tasks(str(path)).tasks] == ["a__b-1"]


def test_filters_by_ids_globs_repo_and_limit(small):
    tasks = load_dataset_tasks(str(small)).tasks
    assert [t.instance_id for t in filter_tasks(tasks, TaskFilter(["o__r-*"]))] == [
        "o__r-1", "o__r-2"]
    assert [t.instance_id for t in filter_tasks(tasks, TaskFilter(repos=["x/y"]))] == [
        "x__y-1", "x__y-2"]
    assert [t.instance_id for t in filter_tasks(tasks, TaskFilter(repos=["*"], limit=3))] == [
        "o__r-1", "o__r-2", "x__y-1"]
    both = TaskFilter(["*-2"], ["x/*"])
    assert [t.instance_id for t in filter_tasks(tasks, both)] == ["x__y-2"]


def test_a_filter_that_matches_nothing_is_an_error(small):
    tasks = load_dataset_tasks(str(small)).tasks
    with pytest.raises(TaskFormatError, match="no task matches: o__r-9"):
        filter_tasks(tasks, TaskFilter(["o__r-9"]))
    with pytest.raises(TaskFormatError, match="no task of repository a/b"):
        filter_tasks(tasks, TaskFilter(repos=["a/b"]))
    with pytest.raises(TaskFormatError, match="--limit"):
        filter_tasks(tasks, TaskFilter(limit=0))


def test_unknown_name_says_to_give_a_file():
    with pytest.raises(DatasetError, match="JSON or JSONL file"):
        load_dataset_tasks("no-such-dataset")


def test_official_name_offline_says_so_and_suggests_a_local_file(monkeypatch):
    # Offline for the Hub whether or not `datasets` is installed here.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", "/nonexistent-harness-test")
    with pytest.raises(DatasetError, match="local JSON/JSONL file"):
        load_dataset_tasks("princeton-nlp/SWE-bench_Lite")


@pytest.mark.skipif(not LITE.is_file(), reason=f"the shared SWE-bench data is absent ({LITE})")
def test_the_shared_lite_file_and_the_cli_options():
    from harness.cli.swebench import add_dataset_arguments, load_dataset_from_args

    parser = argparse.ArgumentParser()
    add_dataset_arguments(parser)
    args = parser.parse_args(
        ["--dataset", str(LITE), "--repo", "pallets/flask", "pytest-dev/pytest", "--limit", "5"]
    )
    tasks = load_dataset_from_args(args)
    assert len(tasks) == 5 and {t.repo for t in tasks} <= {"pallets/flask", "pytest-dev/pytest"}
    loaded = load_dataset_tasks(str(LITE))
    assert len(loaded.tasks) == 300 and not loaded.problems
