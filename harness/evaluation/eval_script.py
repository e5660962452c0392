"""The shell script that evaluates one candidate inside a sandbox.

It is kept with every evaluation (as the official harness keeps eval.sh), so a verdict can be
replayed by hand. Its exit code says which stage ended it; test statuses come from the log.
"""

from __future__ import annotations

import re
import secrets
import shlex
from dataclasses import dataclass

from harness.patches import diff_targets
from harness.sandboxes.base import TESTBED

WORK = "/tmp/harness"
TEST_OUTPUT = f"{WORK}/test_output.txt"
# Below the sandbox's output cap, so the tail arrives whole.
STDOUT_TAIL_BYTES = 900_000

# Exit codes of the script, one per stage that can end it.
EXIT_TESTS_RAN = 0
EXIT_PATCH_FAILED = 3
EXIT_TEST_PATCH_FAILED = 4
EXIT_TESTS_TIMED_OUT = 5
EXIT_ENV_FAILED = 6  # the preamble (a prebuilt image's conda activation) failed: the image's fault

# The shells an evaluation script may be written for: `sh` on our images; `bash` on images of
# the official layout, whose conda activation is a bash script, as the official eval script is.
SHELLS = ("sh", "bash")

# Same order as the official harness: strict first, then fuzzier, each on the tree the last
# try left (as officially: no reset between tries; a reset to the base commit would also undo
# what the environment's set-up changed in the testbed, such as sphinx's seds of tox.ini).
APPLY_METHODS: tuple[tuple[str, str], ...] = (
    ("git-apply", "git apply --verbose"),
    ("git-apply-reject", "git apply --verbose --reject"),
    ("patch-fuzz", "patch --batch --fuzz=5 -p1 -i"),
)

_TEST_LIKE = re.compile(
    r"(^|/)(tests?|testing)/|(^|/)test_[^/]*\.py$|_tests?\.py$|(^|/)conftest\.py$"
)


# Files a test patch may add that are data, not tests: the official harness does not pass them to
# the test command (pytest would fail on `tests/static/config.toml` with "no collectors").
NON_TEST_EXTENSIONS = (
    ".json", ".png", "csv", ".txt", ".md", ".jpg", ".jpeg", ".pkl", ".yml", ".yaml", ".toml",
)


def test_targets(test_files: list[str]) -> list[str]:
    """The files given to the test command: those of the test patch (`diff_targets`: a renamed
    file by its new name, as officially), minus data files."""
    return [path for path in test_files if not path.endswith(NON_TEST_EXTENSIONS)]


def script_shell(script: str) -> str:
    """The shell an evaluation script is written for (its `#!` line; `sh` when none)."""
    first = script.split("\n", 1)[0]
    name = first.removeprefix("#!").strip().rsplit("/", 1)[-1] if first.startswith("#!") else ""
    return name if name in SHELLS else "sh"


def is_test_file(path: str) -> bool:
    """Paths a candidate must not be able to change to spoof a pass."""
    return bool(_TEST_LIKE.search(path))


def _heredoc(path: str, content: str) -> str:
    # A random delimiter cannot occur in the content by accident or by design.
    delimiter = f"HARNESS_EOF_{secrets.token_hex(8)}"
    body = content if content.endswith("\n") or not content else content + "\n"
    return f"cat > {path} <<'{delimiter}'\n{body}{delimiter}\n"


@dataclass(frozen=True)
class EvalScriptInputs:
    candidate_patch: str
    test_patch: str
    test_files: list[str]  # what the test patch touches: restored, then patched, then run
    candidate_test_files: list[str]  # test-like files the candidate touched: restored
    test_cmd: str
    test_timeout: float
    # Shell lines run first, e.g. activating a prebuilt image's conda env; the script ends with
    # EXIT_ENV_FAILED when one fails.
    preamble: str = ""
    # The shell that runs the script and the test command (one of SHELLS).
    shell: str = "sh"
    # What the test command is given; None: test_targets of the test patch's new-side paths.
    targets: list[str] | None = None
    # Where pytest writes its JUnit XML report (a random path, see harness.evaluation.junit);
    # "" when the test command is not pytest.
    junit_path: str = ""


def build_eval_script(inputs: EvalScriptInputs) -> str:
    if inputs.shell not in SHELLS:
        raise ValueError(f"unknown shell {inputs.shell!r}; known: {', '.join(SHELLS)}")
    restore = sorted(set(inputs.test_files) | set(inputs.candidate_test_files))
    restore_lines = "\n".join(
        # A file the base commit has is checked out from it; one it lacks is removed.
        f"if git cat-file -e \"$BASE:{path}\" 2>/dev/null; then git checkout -q \"$BASE\" -- "
        f"{shlex.quote(path)}; else rm -rf -- {shlex.quote(path)}; fi"
        for path in restore
    )
    apply_tries = "\n".join(
        f"""if [ -z "$applied" ]; then
  if {command} {WORK}/candidate.diff >&2; then applied={name}; fi
fi"""
        for name, command in APPLY_METHODS
    )
    # The whole test command is under the timeout, shell syntax in it (`a && b`) included.
    chosen = (
        test_targets(diff_targets(inputs.test_patch)) if inputs.targets is None else inputs.targets
    )
    targets = " ".join(shlex.quote(path) for path in chosen)
    if inputs.junit_path:
        targets = f"--junitxml={shlex.quote(inputs.junit_path)} {targets}"
    timeout = max(1, int(inputs.test_timeout))
    # Each preamble line must succeed: a failure ends the script before anything ran.
    preamble = "\n".join(
        f"{line} || {{ echo {shlex.quote(f'preamble failed: {line}')} >&2; "
        f"exit {EXIT_ENV_FAILED}; }}"
        for line in inputs.preamble.splitlines() if line.strip()
    )
    return f"""#!/bin/{inputs.shell}
# harness evaluation script: apply candidate, restore tests, apply test patch, run tests.
set -u
{preamble}
mkdir -p {WORK}
cd {TESTBED}
git config --global --add safe.directory '*' 2>/dev/null || true
BASE=$(git rev-parse HEAD)
{_heredoc(f"{WORK}/candidate.diff", inputs.candidate_patch)}
{_heredoc(f"{WORK}/test.diff", inputs.test_patch)}
applied=""
if [ -s {WORK}/candidate.diff ]; then
{apply_tries}
  if [ -z "$applied" ]; then echo "candidate patch did not apply" >&2; exit {EXIT_PATCH_FAILED}; fi
else
  applied=none
fi
echo "apply-method: $applied" >&2
find . -path ./.git -prune -o \\( -name '*.rej' -o -name '*.orig' \\) -print | xargs -r rm -f
{restore_lines}
if ! git apply --verbose {WORK}/test.diff >&2; then
  echo "test patch did not apply" >&2; exit {EXIT_TEST_PATCH_FAILED}
fi
started=$(date +%s)
timeout -k 10 {timeout} {inputs.shell} -c {shlex.quote(inputs.test_cmd + " " + targets)} \
  > {TEST_OUTPUT} 2>&1
code=$?
elapsed=$(( $(date +%s) - started ))
echo "test-exit-code: $code after ${{elapsed}}s" >&2
# 124 is timeout's own code; 137 after its KILL, which an out-of-memory kill also gives.
status={EXIT_TESTS_RAN}
if [ "$code" -eq 124 ] || {{ [ "$code" -eq 137 ] && [ "$elapsed" -ge {timeout} ]; }}; then
  status={EXIT_TESTS_TIMED_OUT}
fi
# The test output goes back on stdout (its tail, where the summary is), saving a round trip.
tail -c {STDOUT_TAIL_BYTES} {TEST_OUTPUT}
exit $status
"""
