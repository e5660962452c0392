"""Our evaluation script for the official image layout, held against the official one.

For every Lite and Verified instance, the official eval script comes from the `swebench`
package (`make_test_spec(instance).eval_script`, the `crosscheck` extra) and ours from the same
code path the evaluator takes on an official-layout image (`official_test_setup` over our
environment spec, `script_inputs`, `build_eval_script`). The two must:

- activate the environment the same way: bash, `source /opt/miniconda3/bin/activate` then
  `conda activate testbed`, before anything else;
- restore the same test files at the base commit;
- apply the same test patch the same way (`git apply -v`, in /testbed);
- run the same test command with the same test directives: both command lines are run by bash,
  with stand-in programs (pytest, tox, runtests.py, bin/test) that print what they were given
  and the environment the official script exports, and the printouts must be equal.

Every difference left is in ALLOWED below, with its reason. Offline: the official environment
script (not the eval script) fetches requirement files from GitHub, so it is left out.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.data_paths import SWEBENCH

swebench = pytest.importorskip(
    "swebench.harness.test_spec.test_spec",
    reason="swebench is not installed (pip install -e '.[crosscheck]'): the official eval "
    "scripts cannot be generated",
)

DATASETS = ("swe_bench_lite.jsonl", "swe_bench_verified.jsonl")
START, END = ": '>>>>> Start Test Output'", ": '>>>>> End Test Output'"
HEREDOC = "EOF_114329324912"
ACTIVATION = ["source /opt/miniconda3/bin/activate", "conda activate testbed"]
# What the stand-ins print of the environment: the official eval_commands' exports and the
# variables the official test commands set.
SHOWN_ENV = ("LANG", "LC_ALL", "LANGUAGE", "PYTHONIOENCODING", "PYTHONWARNINGS")

# Differences that stay, each with its reason. Keys name a kind of difference; the test fails
# on any difference of a kind not listed, and on a listed kind that no longer occurs.
ALLOWED = {
    "official reinstalls the package": (
        "The official script runs the spec's install command (`pip install -e .`, "
        "`python -m pip install .`, ...) before the tests. Ours does not: the image was "
        "installed at this same base commit, an editable install already sees the candidate's "
        "Python changes, and the sandbox has no network for pip's build isolation. It differs "
        "only for a candidate that changes build files (setup.py, C extensions)."
    ),
    "official prints the tree state": (
        "`git status`, `git show`, `git diff <base>` are informational in the official script "
        "(their output is not graded); ours logs the apply method instead."
    ),
    "official reverts the test files after the tests": (
        "The official script checks the test files out again after the run, to leave the "
        "container as it found it; our sandbox is reset after every evaluation."
    ),
    "official generates the locale at evaluation": (
        "django 3.0-3.2: `sed -i ... /etc/locale.gen && locale-gen` in the official "
        "eval_commands. The official base image installs `locales-all` (swebench "
        "harness/dockerfiles/python.py), which already has en_US.UTF-8; our django-3.0 spec "
        "generates it at image build. The exports the tests read are compared and equal."
    ),
    "safe.directory": (
        "The official script marks /testbed safe for git; ours marks '*' (the same for "
        "/testbed, whichever user runs the script)."
    ),
    "ours removes files the test patch adds": (
        "A file the test patch adds does not exist at the base commit, so the official script "
        "cannot check it out and leaves whatever is there; ours removes it, so that a "
        "candidate that created it cannot make the test patch fail to apply."
    ),
}


@dataclass
class EvalParts:
    """What one eval script does, in the terms the comparison uses."""

    shell: str
    activation: list[str]  # the lines before the first `cd /testbed`
    exports: list[str]  # eval_commands' `export` lines
    other_setup: list[str]  # eval_commands' other lines
    restored: list[str]  # test files checked out at the base commit before the test patch
    patch_command: str
    test_patch: str
    test_command: str  # the shell command line that runs the tests


def _instances() -> list[dict]:
    rows = []
    for name in DATASETS:
        path = SWEBENCH / name
        if not path.is_file():
            pytest.skip(f"no SWE-bench data at {path} (set HARNESS_SWEBENCH)")
        rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows


def _official_script(instance: dict) -> str:
    from swebench.harness.test_spec import test_spec

    return test_spec.make_test_spec(instance).eval_script


def _official_parts(script: str, base: str) -> tuple[EvalParts, set[str]]:
    lines = script.splitlines()
    kinds: set[str] = set()
    shell = lines[0].removeprefix("#!").rsplit("/", 1)[-1]
    first_cd = lines.index("cd /testbed")
    activation = [line for line in lines[1:first_cd] if not line.startswith("set ")]
    config = next(i for i, line in enumerate(lines) if line.startswith("git config"))
    setup = lines[first_cd + 1:config]
    exports = [line for line in setup if line.startswith("export ")]
    other = [line for line in setup if not line.startswith("export ")]
    if other:
        kinds.add("official generates the locale at evaluation")
    if any(line.startswith(("git status", "git show", "git -c core.fileMode=false diff"))
           for line in lines):
        kinds.add("official prints the tree state")
    if "git config --global --add safe.directory /testbed" in lines:
        kinds.add("safe.directory")
    checkouts = [i for i, line in enumerate(lines) if line.startswith(f"git checkout {base}")]
    apply_at = next(i for i, line in enumerate(lines) if line.startswith("git apply -v -"))
    before = [i for i in checkouts if i < apply_at]
    # A test patch that only adds files: the official command is `git checkout <base>` alone.
    restored = shlex.split(lines[before[-1]])[3:] if before else []
    if any(i > apply_at for i in checkouts):
        kinds.add("official reverts the test files after the tests")
    # Between the second activation and the first checkout: the spec's install command.
    second = max(i for i, line in enumerate(lines) if line == ACTIVATION[1])
    if any(line.strip() for line in lines[second + 1:(before or [apply_at])[0]]):
        kinds.add("official reinstalls the package")
    end_patch = lines.index(HEREDOC, apply_at)
    start = lines.index(START)
    assert lines[start + 2] == END, "the official test command is one line"
    return EvalParts(
        shell=shell, activation=activation, exports=exports, other_setup=other,
        restored=restored, patch_command=lines[apply_at].split("<<")[0].strip(),
        test_patch="\n".join(lines[apply_at + 1:end_patch]),
        test_command=lines[start + 1],
    ), kinds


_RESTORE = re.compile(r'git checkout -q "\$BASE" -- (\S+); else rm -rf -- (\S+); fi$')


def _our_parts(script: str) -> EvalParts:
    from harness.evaluation.eval_script import WORK, script_shell

    lines = script.splitlines()
    first_cd = lines.index("cd /testbed")
    # Each preamble line is `<line> || { <say it failed>; exit 6; }`.
    preamble = [line.split(" || ")[0] for line in lines[1:first_cd]
                if not line.startswith(("#", "set "))]
    restored = []
    for line in lines:
        found = _RESTORE.search(line)
        if found:
            assert found.group(1) == found.group(2)
            restored.append(shlex.split(found.group(1))[0])
    patch_line = next(line for line in lines if line.endswith(f"{WORK}/test.diff >&2; then"))
    patch_command = patch_line.removeprefix("if ! ").split(f" {WORK}/test.diff")[0]
    opener = next(i for i, line in enumerate(lines) if line.startswith(f"cat > {WORK}/test.diff"))
    delimiter = lines[opener].split("<<")[1].strip("'")
    test_patch = "\n".join(lines[opener + 1:lines.index(delimiter, opener)])
    run = next(line for line in lines if line.startswith("timeout -k "))
    words = shlex.split(run.rstrip("\\"))
    shell_at = words.index("-c") - 1
    return EvalParts(
        shell=script_shell(script), activation=preamble, exports=[], other_setup=[],
        restored=restored, patch_command=patch_command, test_patch=test_patch,
        test_command=f"{words[shell_at]} -c {shlex.quote(words[shell_at + 2])}",
    )


def _our_script(row: dict) -> str:
    from harness.backends.docker_backend import own_test_setup
    from harness.evaluation.eval_script import build_eval_script
    from harness.evaluation.evaluator import junit_report_path, script_inputs
    from harness.images.official_layout import official_test_setup
    from harness.tasks import task_from_row

    # The eval script does not use the test lists; a few Verified rows lack them.
    task = task_from_row({**row, "FAIL_TO_PASS": row.get("FAIL_TO_PASS") or '["unknown"]',
                          "PASS_TO_PASS": row.get("PASS_TO_PASS") or "[]"})
    setup = official_test_setup(task, own_test_setup(task))
    return build_eval_script(script_inputs(task, "", setup, junit_report_path(task, setup)))


_STAND_IN = """#!/bin/sh
printf 'program=%s\\n' "$(basename "$0")"
for arg in "$@"; do printf 'arg=%s\\n' "$arg"; done
""" + "".join(f"printf '{name}=%s\\n' \"${{{name}:-}}\"\n" for name in SHOWN_ENV)


def _run_commands(folder: Path, commands: list[str]) -> list[str]:
    """What the stand-ins print for each shell command line, run by bash in a folder shaped
    like the testbed, in one bash process (each command in its own subshell)."""
    bin_dir = folder / "bin"
    (folder / "tests").mkdir(parents=True, exist_ok=True)
    bin_dir.mkdir(exist_ok=True)
    for path in (bin_dir / "pytest", bin_dir / "tox", bin_dir / "test", bin_dir / "python",
                 folder / "tests" / "runtests.py"):
        path.write_text(_STAND_IN)
        path.chmod(0o755)
    marker = "@@@ next command @@@"
    body = "".join(
        f"( {command}\n) 2>&1 < /dev/null\necho {shlex.quote(marker)}\n" for command in commands
    )
    clean_env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(folder)}
    done = subprocess.run(["bash", "-s"], input=body, cwd=folder, env=clean_env,
                          capture_output=True, text=True, timeout=300, check=False)
    outputs = done.stdout.split(marker + "\n")
    assert len(outputs) == len(commands) + 1, done.stderr[-2000:]
    return outputs[:-1]


def _printed(output: str) -> list[str]:
    # bash's own warnings (a locale this host lacks) name a line number, which differs.
    return [line for line in output.splitlines() if not line.startswith("bash: line ")]


def _added_files(test_patch: str) -> set[str]:
    """Paths the test patch creates: new files, and a renamed file's new name."""
    added = set()
    for chunk in re.split(r"^diff --git ", test_patch, flags=re.MULTILINE)[1:]:
        header = chunk.split("\n@@", 1)[0]
        new_name = header.split("\n", 1)[0].split(" b/", 1)[1]
        if "\nnew file mode" in header or "\n--- /dev/null" in header or "\nrename to " in header:
            added.add(new_name)
    return added


@pytest.fixture(scope="module")
def both_scripts():
    from swebench.harness.test_spec import test_spec

    rows = _instances()
    scripts = []
    # The environment script, which make_test_spec also builds, downloads requirement files;
    # it is not what is compared here, so it is made empty to keep the test offline.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(test_spec, "make_env_script_list", lambda *args, **kwargs: [])
        for row in rows:
            if not row.get("test_patch"):
                scripts.append((row, None, None))  # the dataset lacks it: nothing to compare
                continue
            scripts.append((row, _official_script(row), _our_script(row)))
    return scripts


def test_every_instance_runs_as_the_official_eval_script(both_scripts, tmp_path):
    differences: dict[str, list[str]] = {}
    kinds_seen: set[str] = set()
    compared = []
    for row, official_script, our_script in both_scripts:
        if official_script is None:
            continue
        instance_id = row["instance_id"]
        official, kinds = _official_parts(official_script, row["base_commit"])
        kinds_seen |= kinds
        ours = _our_parts(our_script)
        found = []
        if official.shell != "bash" or ours.shell != "bash":
            found.append(f"shell: official {official.shell}, ours {ours.shell}")
        if official.activation != ACTIVATION:
            found.append(f"official activation changed: {official.activation}")
        if [line for line in ours.activation if line in ACTIVATION] != ACTIVATION:
            found.append(f"activation: ours {ours.activation}")
        if not ours.test_command.startswith("bash -c "):
            found.append(f"our test command is not run by bash: {ours.test_command[:80]}")
        extra = set(ours.restored) - set(official.restored)
        if set(official.restored) - set(ours.restored):
            found.append(f"restored: official {official.restored}, ours {ours.restored}")
        if extra:
            if extra <= _added_files(row["test_patch"]):
                kinds_seen.add("ours removes files the test patch adds")
            else:
                found.append(f"ours restores more: {sorted(extra)}")
        if official.patch_command != "git apply -v -":
            found.append(f"official applies the test patch otherwise: {official.patch_command}")
        if ours.patch_command != "git apply --verbose":  # --verbose is -v's long form
            found.append(f"ours applies the test patch otherwise: {ours.patch_command}")
        if official.test_patch.rstrip("\n") != ours.test_patch.rstrip("\n"):
            found.append("the test patches differ")
        if found:
            differences[instance_id] = found
        compared.append((instance_id, official, ours))

    official_runs = _run_commands(
        tmp_path / "official",
        ["; ".join([*parts.exports, parts.test_command]) for _, parts, _ in compared],
    )
    our_runs = _run_commands(tmp_path / "ours", [parts.test_command for _, _, parts in compared])
    for (instance_id, _, _), theirs, mine in zip(compared, official_runs, our_runs, strict=True):
        mine, theirs = "\n".join(_printed(mine)), "\n".join(_printed(theirs))
        if theirs != mine:
            differences.setdefault(instance_id, []).append(
                f"test command: official gives\n{theirs}\nours gives\n{mine}"
            )

    assert len(compared) >= 780, f"only {len(compared)} instances compared"
    shown = "\n".join(f"{i}: {' / '.join(d)[:600]}" for i, d in sorted(differences.items())[:12])
    assert not differences, f"{len(differences)} instance(s) differ:\n{shown}"
    assert kinds_seen == set(ALLOWED), (
        f"allowed but not seen: {sorted(set(ALLOWED) - kinds_seen)}; "
        f"seen but not allowed: {sorted(kinds_seen - set(ALLOWED))}"
    )


def test_instances_without_a_test_patch_are_the_datasets_own_gap(both_scripts):
    """Verified is rebuilt from public sources (see its provenance file): a few rows lack the
    test patch, so neither script can be made for them. Their number is held, so that a loader
    change that drops test patches shows."""
    lacking = [row["instance_id"] for row, script, _ in both_scripts if script is None]
    assert len(lacking) <= 9, lacking
    assert len(both_scripts) == 800


def test_a_failed_activation_ends_the_script_before_anything_runs(tmp_path):
    """The preamble is not best effort: an image whose env cannot be activated ends the
    evaluation with EXIT_ENV_FAILED instead of testing with whatever the image's PATH has."""
    from harness.evaluation.eval_script import EXIT_ENV_FAILED, EvalScriptInputs, build_eval_script

    activate = tmp_path / "activate"
    # Like conda's: sourcing defines `conda`; this one knows no env called testbed.
    activate.write_text('conda() { echo "EnvironmentNameNotFound: $2" >&2; return 1; }\n')
    script = build_eval_script(EvalScriptInputs(
        candidate_patch="", test_patch="", test_files=[], candidate_test_files=[],
        test_cmd="touch ran", test_timeout=10, shell="bash",
        preamble=f"source {activate}\nconda activate testbed\necho activated > activated",
    ))
    assert script.startswith("#!/bin/bash\n")
    done = subprocess.run(["bash", "-s"], input=script, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == EXIT_ENV_FAILED
    assert "preamble failed: conda activate testbed" in done.stderr
    assert not (tmp_path / "activated").exists() and not (tmp_path / "ran").exists()
