"""The environment specs against SWE-bench itself: every (repository, version) of Lite and
Verified has a spec, supported or marked unsupported with its reason before any build; each
says the official Python; and, where the official `swebench` package (4.1.0, a test-only
dependency) is installed, its Python, test command and pins are those of the official spec,
except the pins a spec lists under `differs`.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from harness.images.specs import EnvironmentSpec, SpecError, matching_spec, spec_for

# The shared data folder above this checkout (main or a worktree).
SHARED = next(
    (folder / "shared" / "swebench" for folder in Path(__file__).resolve().parents
     if (folder / "shared" / "swebench").is_dir()),
    Path(__file__).resolve().parents[2] / "shared" / "swebench",
)
DATASETS = ("swe_bench_lite.jsonl", "swe_bench_verified.jsonl")
# (repository, version) of Lite or Verified that cannot be built here, by design (astropy 1.3,
# officially on Python 3.6, runs on 3.9: see its spec).
UNSUPPORTED: set[tuple[str, str]] = set()


def dataset_versions() -> list[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set()
    for name in DATASETS:
        path = SHARED / name
        if not path.is_file():
            pytest.skip(f"the shared SWE-bench data is absent ({path})")
        for line in path.read_text().splitlines():
            row = json.loads(line)
            pairs.add((row["repo"], row["version"]))
    return sorted(pairs)


def test_every_version_of_lite_and_verified_has_a_spec_or_a_reason():
    unsupported = set()
    for repo, version in dataset_versions():
        spec = matching_spec(repo, version)
        assert spec is not None, (repo, version)
        assert spec.official_python, (repo, version)
        if spec.unsupported:
            unsupported.add((repo, version))
            with pytest.raises(SpecError, match="not supported here") as refused:
                spec_for(repo, version)
            assert spec.unsupported.split()[0] in str(refused.value)
        else:
            assert spec_for(repo, version) == spec
    assert unsupported == UNSUPPORTED


def test_an_unsupported_spec_is_refused_with_its_reason(tmp_path):
    (tmp_path / "old.yaml").write_text(
        'name: old\nrepos: ["o/r"]\npython_official: "2.7"\n'
        "unsupported: needs Python 2.7\ntest_cmd: pytest\n"
    )
    assert matching_spec("o/r", "1.0", tmp_path).official_python == "2.7"
    with pytest.raises(SpecError, match="not supported here.*needs Python 2.7"):
        spec_for("o/r", "1.0", tmp_path)


def test_pytest_7_2_has_what_it_needs_below_python_3_11():
    spec = spec_for("pytest-dev/pytest", "7.2")
    assert spec.python_version == "3.9"
    names = {canonicalize_name(Requirement(text).name) for text in spec.pip}
    assert {"exceptiongroup", "tomli"} <= names


def _run(spec: EnvironmentSpec, *files: str) -> str:
    done = subprocess.run(
        ["sh", "-c", spec.runner_cmd + " " + " ".join(files)],
        capture_output=True, text=True, timeout=30, check=True,
    )
    return done.stdout


def test_django_test_files_become_module_names_as_officially():
    spec = EnvironmentSpec(
        name="t", repos=("a/b",), test_cmd="printf '%s|'", test_args="django_modules",
        test_env={"GREETING": "hello world"},
    )
    out = _run(spec, "tests/admin_views/tests.py", "tests/utils_tests/test_text.py")
    assert out == "admin_views.tests|utils_tests.test_text|"
    spec_env = spec.model_copy(update={"test_cmd": 'printf "%s" "$GREETING"', "test_args": "files"})
    assert _run(spec_env) == "hello world"


def test_official_specs_agree_with_ours():
    official = pytest.importorskip(
        "swebench.harness.constants", reason="the test-only dependency swebench is absent"
    ).MAP_REPO_VERSION_TO_SPECS
    problems = []
    for repo, version in dataset_versions():
        spec = matching_spec(repo, version)
        theirs = official[repo][version]
        if spec.official_python != theirs["python"]:
            problems.append(f"{repo} {version}: Python {spec.official_python} "
                            f"!= {theirs['python']}")
        if theirs["test_cmd"] not in spec.runner_cmd:
            problems.append(f"{repo} {version}: test command lacks {theirs['test_cmd']!r}")
        official_cpus = theirs.get("nano_cpus", 0) / 1e9 or None
        if spec.cpus != official_cpus:
            problems.append(f"{repo} {version}: {spec.cpus} CPUs, officially {official_cpus}")
        if spec.unsupported:
            continue
        ours = {canonicalize_name(Requirement(t).name): Requirement(t) for t in spec.pip}
        differs = {canonicalize_name(name) for name in spec.differs}
        for text in theirs.get("pip_packages", []):
            pin = Requirement(text)
            name = canonicalize_name(pin.name)
            mine = ours.get(name)
            same = mine is not None and (not pin.specifier or mine.specifier == pin.specifier)
            if same == (name in differs):
                problems.append(f"{repo} {version}: {text} vs {mine} (differs: {name in differs})")
    assert problems == []


def _base_file(repo: str, commit: str, path: str) -> str | None:
    from tests.data_paths import MIRRORS

    mirror = MIRRORS / repo
    if not mirror.is_dir():
        pytest.skip(f"no git mirror of {repo} at {mirror}")
    done = subprocess.run(["git", "-C", str(mirror), "show", f"{commit}:{path}"],
                          capture_output=True, text=True, timeout=60, check=False)
    return done.stdout if done.returncode == 0 else None


def _instances(repo: str) -> list[dict]:
    rows = []
    for name in DATASETS:
        path = SHARED / name
        if not path.is_file():
            pytest.skip(f"the shared SWE-bench data is absent ({path})")
        rows += [row for row in map(json.loads, path.read_text().splitlines())
                 if row["repo"] == repo]
    return rows


def _unmet(spec: EnvironmentSpec, requirements: list[str]) -> list[str]:
    """The requirements (for the spec's Python) that no pin of the spec's wheelhouse meets."""
    pins = {}
    for text in (*spec.pip, *spec.extra_wheels):
        requirement = Requirement(text)
        pins.setdefault(canonicalize_name(requirement.name), []).append(requirement)
    environment = {"python_version": spec.python_version, "extra": "test"}
    unmet = []
    for text in requirements:
        wanted = Requirement(text)
        if wanted.marker is not None and not wanted.marker.evaluate(environment):
            continue
        versions = [str(next(iter(pin.specifier)).version)
                    for pin in pins.get(canonicalize_name(wanted.name), []) if pin.specifier]
        if not any(wanted.specifier.contains(version, prereleases=True) for version in versions):
            unmet.append(text)
    return unmet


def test_pins_of_the_test_extra_are_in_the_wheelhouse():
    """`pip install -e .[test]` runs offline: an exact pin in setup.cfg's `test` extra at an
    instance's base commit (astropy 5.0 pins hypothesis==6.46.7) must be a wheel of its spec,
    as the official install fetched it."""
    import configparser

    problems = []
    for row in _instances("astropy/astropy"):
        spec = spec_for(row["repo"], row["version"])
        text = _base_file(row["repo"], row["base_commit"], "setup.cfg")
        if text is None or not any("[test]" in step for step in spec.install):
            continue
        config = configparser.ConfigParser()
        config.read_string(text)
        extra = config.get("options.extras_require", "test", fallback="")
        pinned = [line.split("#")[0].strip() for line in extra.splitlines()
                  if "==" in line.split("#")[0]]
        problems += [f"{row['instance_id']}: {text}" for text in _unmet(spec, pinned)]
    assert problems == []


def test_what_requests_installs_from_2_26_is_in_the_wheelhouse():
    """requests 2.26+ no longer vendors urllib3 and friends: `pip install .` needs them."""
    import ast
    import re

    checked = 0
    for row in _instances("psf/requests"):
        text = _base_file(row["repo"], row["base_commit"], "setup.py")
        found = re.search(r"^requires = (\[.*?\])", text or "", re.MULTILINE | re.DOTALL)
        if not found:
            continue  # older releases vendor their dependencies
        spec = spec_for(row["repo"], row["version"])
        assert _unmet(spec, ast.literal_eval(found.group(1))) == [], row["instance_id"]
        checked += 1
    assert checked >= 2  # psf__requests-5414 (2.26) and -6028 (2.27)
