"""Validation (gold resolves, empty does not, flaky tests), its store and the run filter; the
environment specs of the real repositories; the wheelhouse's closure for another Python."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from data_paths import LITE, MIRRORS

from harness.images.specs import load_specs, spec_for
from harness.images.wheelhouse import missing_requirements
from harness.store import EvalStatus, Store
from harness.tasks import Task, task_from_row
from harness.validation import (
    RunSummary,
    ValidationResult,
    beyond_chance,
    save_validation,
    select_validated,
    stored_validations,
)

ROOT = Path(__file__).resolve().parents[1]
SUPPORTED = ("sympy/sympy", "pytest-dev/pytest", "pallets/flask", "psf/requests")


def task(instance_id: str) -> Task:
    return Task(instance_id, "o/r", "abc", "issue", "p", "t", ("f",), ("p",), version="1.0")


def run(patch: str, status: EvalStatus, **statuses: str | None) -> RunSummary:
    against = [name for name, value in statuses.items() if value != "PASSED"]
    return RunSummary(patch, status, 1.0, against, dict(statuses))


def test_a_task_is_valid_when_gold_always_resolves_and_empty_never_does():
    good = ValidationResult("a", "spec", True, [
        run("gold", EvalStatus.RESOLVED, f="PASSED", p="PASSED"),
        run("empty", EvalStatus.UNRESOLVED, f="FAILED", p="PASSED"),
        run("gold", EvalStatus.RESOLVED, f="PASSED", p="PASSED"),
        run("empty", EvalStatus.UNRESOLVED, f="FAILED", p="PASSED"),
    ])
    assert good.valid and good.reason == "" and good.flaky_tests == []

    flaky = ValidationResult("b", "spec", True, [
        run("gold", EvalStatus.RESOLVED, f="PASSED", p="PASSED"),
        run("empty", EvalStatus.UNRESOLVED, f="FAILED", p="PASSED"),
        run("gold", EvalStatus.UNRESOLVED, f="PASSED", p="FAILED"),
        run("empty", EvalStatus.UNRESOLVED, f="FAILED", p="PASSED"),
    ])
    assert not flaky.valid and flaky.flaky_tests == ["p"]
    assert flaky.reason.startswith("gold unresolved in 1/2 runs (failing: p)")

    empty_passes = ValidationResult("c", "spec", True, [
        run("gold", EvalStatus.RESOLVED, f="PASSED"),
        run("empty", EvalStatus.RESOLVED, f="PASSED"),
    ])
    assert not empty_passes.valid and "empty patch resolves in 1/1" in empty_passes.reason

    broken = ValidationResult("d", "spec", False, env_error="build step exited 1")
    assert not broken.valid and broken.reason == "environment: build step exited 1"


def test_flaky_gold_is_valid_by_a_majority_of_runs_and_empty_never_by_chance():
    def runs(gold: list[bool], empty: list[bool]) -> list[RunSummary]:
        return [
            *(run("gold", EvalStatus.RESOLVED if ok else EvalStatus.UNRESOLVED,
                  f="PASSED" if ok else "FAILED", p="PASSED") for ok in gold),
            *(run("empty", EvalStatus.RESOLVED if ok else EvalStatus.UNRESOLVED,
                  f="PASSED" if ok else "FAILED", p="PASSED") for ok in empty),
        ]

    eight_of_nine = ValidationResult("a", "spec", True, runs([True] * 4 + [False] + [True] * 4,
                                                            [False] * 9))
    assert eight_of_nine.valid and eight_of_nine.gold_by_majority
    assert eight_of_nine.flaky_tests == ["f"]
    assert eight_of_nine.reason.startswith("valid by majority: gold resolves in 8/9 runs")

    # A majority a coin gives as often (sympy 13146 here: 6 of 9) is no majority.
    six_of_nine = ValidationResult("b", "spec", True, runs([True, False, True] * 3, [False] * 9))
    assert not six_of_nine.valid
    assert six_of_nine.reason.startswith("gold unresolved in 3/9 runs")
    assert not ValidationResult("c", "spec", True, runs([True, True, False], [False] * 3)).valid
    assert not ValidationResult("c", "spec", True, runs([True, False], [False] * 2)).valid
    assert [beyond_chance(count, 11) for count in (8, 9)] == [False, True]

    empty_once = ValidationResult("d", "spec", True, runs([True] * 3, [False, True, False]))
    assert not empty_once.valid and "empty patch resolves in 1/3" in empty_once.reason
    assert ValidationResult("d", "spec", True, runs([True] * 3, [False] * 3)).valid

    # Gold that failed without test statuses (a timeout) shows no flaky test: reruns would
    # not be asked for, so no majority either.
    timeouts = ValidationResult("e", "spec", True, [
        *[run("gold", EvalStatus.RESOLVED, f="PASSED")] * 8,
        RunSummary("gold", EvalStatus.TIMEOUT, 1.0, [], {}),
        run("empty", EvalStatus.UNRESOLVED, f="FAILED"),
    ])
    assert not timeouts.valid and timeouts.flaky_tests == []


def test_validations_are_stored_and_runs_leave_out_what_failed(tmp_path):
    store = Store(tmp_path / "v.db")
    valid, invalid, never = task("o__r-1"), task("o__r-2"), task("o__r-3")
    save_validation(store, valid, ValidationResult("o__r-1", "s", True, [
        run("gold", EvalStatus.RESOLVED, f="PASSED"),
        run("empty", EvalStatus.UNRESOLVED, f="FAILED"),
    ]), repeats=1)
    save_validation(store, invalid, ValidationResult("o__r-2", "s", False, env_error="no wheel"),
                    repeats=1)
    records = stored_validations(store, [valid, invalid, never])
    assert set(records) == {"o__r-1", "o__r-2"} and records["o__r-1"].valid

    selection = select_validated(store, [valid, invalid, never], include_unvalidated=False)
    assert [t.instance_id for t in selection.tasks] == ["o__r-1", "o__r-3"]
    assert selection.left_out == {"o__r-2": "environment: no wheel"}
    assert selection.not_validated == ["o__r-3"]
    assert "left out 1 task(s) that failed validation (1 environment)" in selection.summary()
    everything = select_validated(store, [valid, invalid, never], include_unvalidated=True)
    assert len(everything.tasks) == 3

    # A changed task definition is another task: its old validation does not apply.
    changed = Task("o__r-2", "o/r", "abc", "issue", "p", "t", ("other",), ("p",), version="1.0")
    assert "o__r-2" not in stored_validations(store, [changed])
    store.close()


@pytest.mark.skipif(not LITE.is_file(), reason=f"shared SWE-bench data absent ({LITE})")
def test_every_lite_version_of_the_supported_repositories_has_a_spec():
    specs = load_specs()
    assert len({spec.name for spec in specs}) == len(specs)
    for line in LITE.read_text().splitlines():
        row = json.loads(line)
        if row["repo"] in SUPPORTED:
            spec = spec_for(row["repo"], row["version"])
            assert spec.repos != ("demo/*",), row["instance_id"]
    assert spec_for("pytest-dev/pytest", "5.4").install_steps("5.4") == [
        "export SETUPTOOLS_SCM_PRETEND_VERSION=5.4.0; "
        "python -m pip install --no-build-isolation -e ."
    ]


def fake_wheel(folder: Path, name: str, version: str, requires: list[str]) -> None:
    """A minimal but well-formed wheel: only its METADATA matters here."""
    dist = f"{name}-{version}"
    with zipfile.ZipFile(folder / f"{dist}-py3-none-any.whl", "w") as archive:
        lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
        lines += [f"Requires-Dist: {requirement}" for requirement in requires]
        archive.writestr(f"{dist}.dist-info/METADATA", "\n".join(lines) + "\n")


def test_wheelhouse_closure_evaluates_markers_for_the_target_python(tmp_path):
    # pip download --python-version 3.9 on a 3.11 host drops `python_version < "3.11"` deps.
    fake_wheel(tmp_path, "asgiref", "3.8.1", ['typing-extensions>=4; python_version < "3.11"'])
    fake_wheel(tmp_path, "flask", "2.0.0", ["Werkzeug>=2.0", 'asgiref>=3.2; extra == "async"'])
    fake_wheel(tmp_path, "Werkzeug", "2.3.7", ["MarkupSafe>=2.1.1"])
    fake_wheel(tmp_path, "MarkupSafe", "2.1.3", [])
    assert missing_requirements(tmp_path, "3.9") == ["typing-extensions>=4"]
    assert missing_requirements(tmp_path, "3.11") == []
    fake_wheel(tmp_path, "typing_extensions", "4.12.0", [])
    assert missing_requirements(tmp_path, "3.9") == []


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.skipif(not LITE.is_file(), reason=f"shared SWE-bench data absent ({LITE})")
@pytest.mark.skipif(not (MIRRORS / "pytest-dev" / "pytest").exists(),
                    reason=f"no local mirror of pytest-dev/pytest under {MIRRORS}")
def test_a_real_instance_validates(docker_client, tmp_path):
    """pytest-dev__pytest-11143: environment builds offline, gold resolves, empty does not."""
    from harness.evaluation.evaluator import TestSetup
    from harness.images.build import prepare_instance_image
    from harness.repos import RepoSource
    from harness.sandboxes.docker_sandbox import DockerSandbox, SandboxLimits
    from harness.validation import validate_task

    row = next(json.loads(line) for line in LITE.read_text().splitlines()
               if '"pytest-dev__pytest-11143"' in line)
    real = task_from_row(row)
    repos = RepoSource(repos_dir=MIRRORS, cache_dir=ROOT / "results" / "cache")
    spec = spec_for(real.repo, real.version)
    result = validate_task(
        real,
        lambda t: prepare_instance_image(docker_client, t, repos),
        lambda image: DockerSandbox.start(docker_client, image, SandboxLimits()),
        TestSetup(spec.test_cmd, spec.log_parser, float(spec.test_timeout)),
        spec.name,
        repeats=1,
    )
    assert result.env_ok and result.gold_resolves and result.empty_unresolved, result.reason
    assert result.valid
    empty = next(r for r in result.runs if r.patch == "empty")
    assert empty.against == list(real.FAIL_TO_PASS)


def test_wheelhouse_pip_runs_in_a_host_python_of_the_target_version():
    from harness.images.wheelhouse import host_python

    for version in ("3.9", "3.11", "3.13"):
        python = host_python(version)
        done = subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, timeout=60,
        )
        # Either an interpreter of that version, or (none on this host) the harness's own.
        assert done.stdout.strip() == version or python == sys.executable
    assert host_python("2.1") == sys.executable


def test_validate_table_says_per_version_which_python_runs_it():
    from types import SimpleNamespace

    from harness.cli.swebench import render_table

    def row(instance_id, repo, version, valid):
        return SimpleNamespace(
            instance_id=instance_id, repo=repo, version=version, env_ok=valid,
            gold_resolves=valid, empty_unresolved=True, flaky_tests=[], valid=valid,
            reason="" if valid else "environment: no",
        )

    table = render_table([
        row("pydata__xarray-1", "pydata/xarray", "0.12", True),
        row("pydata__xarray-2", "pydata/xarray", "0.12", False),
        row("astropy__astropy-1", "astropy/astropy", "1.3", False),
        row("psf__requests-1", "psf/requests", "2.3", True),
    ])
    lines = table.splitlines()
    assert "pydata/xarray 0.12: 1 of 2 valid; Python 3.9, official 3.10 (another Python)" in lines
    assert "astropy/astropy 1.3: 0 of 1 valid; Python 3.9, official 3.6 (another Python)" in lines
    assert "psf/requests 2.3: 1 of 1 valid; Python 3.9, official 3.9" in lines
