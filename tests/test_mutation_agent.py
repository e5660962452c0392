"""The `mutation` agent: localization, operators, reproducibility, patches git applies, and the
GenProg premise (blind sampling eventually fixes a one-token bug)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from needs import bubblewrap_present
from unidiff import PatchSet

from harness.agents.base import AttemptContext, AttemptError
from harness.agents.localize import extract_terms, is_source_file, localize
from harness.agents.mutation import (
    MutationAgent,
    MutationConfig,
    MutationConfigError,
    default_config_path,
    unified_diff,
)
from harness.agents.mutations import OPERATORS, Edit, apply_edits, compiles, find_sites
from harness.sandboxes.local_sandbox import LocalSandbox
from harness.tasks import TaskView


def task_view(statement: str, hints: str = "", instance_id: str = "demo__toy-1") -> TaskView:
    return TaskView(instance_id, "demo/toy", "0" * 40, statement, hints)


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


RANGES_REPO = {
    "pkg/__init__.py": "",
    "pkg/ranges.py": dedent(
        '''
        """Ranges of integers written like "3-7"."""


        def parse_range(text):
            start, _, end = text.partition("-")
            return int(start), int(end)


        def format_range(start, end):
            return f"{start}-{end}"
        '''
    ),
    "pkg/cli.py": dedent(
        """
        import sys

        from pkg.ranges import parse_range


        def main(argv):
            first, last = parse_range(argv[1])
            for number in range(first, last):
                print(number)
            return 0


        def usage():
            print("usage: cli RANGE", file=sys.stderr)
        """
    ),
    "pkg/util.py": "def unrelated(a, b):\n    return a + b\n",
    "tests/test_ranges.py": dedent(
        """
        from pkg.ranges import parse_range


        def test_parse_range():
            assert parse_range("1-3") == (1, 3)
        """
    ),
    "setup.py": "from setuptools import setup\n\nsetup(name='pkg')\n",
}

LIMITS_SOURCE = dedent(
    '''
    def within_limit(n, limit):
        """True when n does not exceed limit."""
        if n < limit:
            return True
        return False


    def clamp(value, low, high):
        if value < low:
            return low
        if value > high:
            return high
        return value
    '''
)

LIMITS_TESTS = dedent(
    """
    from pkg.limits import clamp, within_limit


    def test_within_limit():
        assert within_limit(3, 5)
        assert within_limit(5, 5)
        assert not within_limit(6, 5)


    def test_clamp():
        assert clamp(1, 2, 4) == 2
        assert clamp(3, 2, 4) == 3
        assert clamp(9, 2, 4) == 4
    """
)

LIMITS_REPO = {
    "pkg/__init__.py": "",
    "pkg/limits.py": LIMITS_SOURCE,
    "tests/test_limits.py": LIMITS_TESTS,
}

LIMITS_ISSUE = task_view(
    "`within_limit(5, 5)` returns False, but a value equal to the limit is within it.\n"
    "The docstring says n may not *exceed* the limit."
)


def make_git_repo(root: Path, files: dict[str, str]) -> Path:
    for path, content in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(content, encoding="utf-8")
    env = ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(root), *env, "commit", "-qm", "base"], check=True)
    return root


def git_apply(repo: Path, patch: str, check_only: bool = False) -> subprocess.CompletedProcess:
    command = ["git", "-C", str(repo), "apply", "--whitespace=nowarn"]
    command += ["--check"] if check_only else []
    return subprocess.run(command + ["-"], input=patch, text=True, capture_output=True)


class CountingSandbox(LocalSandbox):
    """The local sandbox, counting file reads: the agent should read the repository once."""

    reads = 0

    def read_file(self, path: str, max_bytes: int = 1_000_000) -> bytes:
        self.reads += 1
        return super().read_file(path, max_bytes)


@pytest.fixture
def local_sandbox():
    bubblewrap_present()
    made: list[CountingSandbox] = []

    def start(root: Path) -> CountingSandbox:
        made.append(CountingSandbox.start(root))
        return made[-1]

    yield start
    for box in made:
        box.close()


# -- localization ----------------------------------------------------------------------------


def test_issue_terms_cover_backticks_calls_dotted_paths_and_tracebacks():
    terms = extract_terms(
        task_view(
            "Calling `Ranges.merge` via pkg.ranges.merge_all(x) fails in pkg/ranges.py:\n"
            'File "/src/pkg/ranges.py", line 3, in overlap_check\n'
            "See https://example.com/some_url_word for details.",
            hints="maybe SpanTable is involved",
        )
    )
    for name in ("Ranges", "merge", "merge_all", "overlap_check", "SpanTable"):
        assert name in terms.identifiers
    assert "some_url_word" not in terms.identifiers
    assert terms.identifiers["overlap_check"] > terms.identifiers["SpanTable"]
    assert "pkg/ranges.py" in terms.paths
    assert "pkg.ranges.merge_all" in terms.dotted


def test_source_files_exclude_tests_build_scripts_and_docs():
    assert is_source_file("pkg/ranges.py")
    for path in ("tests/x.py", "pkg/tests/x.py", "test_x.py", "pkg/x_test.py", "conftest.py",
                 "setup.py", "docs/conf.py", "README.md"):  # fmt: skip
        assert not is_source_file(path), path


def test_the_file_defining_the_named_function_wins_over_one_importing_it():
    issue = task_view("`parse_range('1-3')` returns the wrong end; parse_range must include it.")
    regions = localize(issue, RANGES_REPO)
    assert (regions[0].path, regions[0].qualname) == ("pkg/ranges.py", "parse_range")
    assert regions[0].first_line == 4 and regions[0].last_line == 6
    assert all(not region.path.startswith("tests/") for region in regions)
    ranked_files = list(dict.fromkeys(region.path for region in regions))
    assert ranked_files.index("pkg/ranges.py") < ranked_files.index("pkg/cli.py")


def test_a_method_named_with_its_class_ranks_first():
    files = {
        "lib/shapes.py": dedent(
            """
            class Circle:
                def area(self):
                    return 3 * self.r * self.r

                def scale(self, k):
                    self.r = self.r * k


            class Square:
                def area(self):
                    return self.side * self.side
            """
        )
    }
    regions = localize(task_view("Square.area() is wrong for `Square` objects"), files)
    assert regions[0].qualname == "Square.area"


def test_files_with_syntax_errors_are_skipped():
    files = dict(RANGES_REPO)
    files["pkg/broken.py"] = "def parse_range(:\n    pass\n"
    regions = localize(task_view("`parse_range` is broken"), files)
    assert regions and all(region.path != "pkg/broken.py" for region in regions)
    agent = MutationAgent()
    only_broken = {"pkg/broken.py": files["pkg/broken.py"]}
    candidate = agent.propose(task_view("`parse_range` is broken"), only_broken, seed=1)
    assert candidate.patch == "" and candidate.error is AttemptError.AGENT


# -- operators -------------------------------------------------------------------------------

OPERATOR_CASES = [
    ("compare", "def f(n, m):\n    return n < m\n", "<", "<=", "def f(n, m):\n    return n <= m\n"),
    ("arithmetic", "def f(a, b):\n    return a - b * -1\n", "-", "+",
     "def f(a, b):\n    return a + b * -1\n"),
    ("arithmetic", "def f(a, b):\n    a += b\n    return a\n", "+=", "-=",
     "def f(a, b):\n    a -= b\n    return a\n"),
    ("integer", "def f(a):\n    return a[3]\n", "3", "2", "def f(a):\n    return a[2]\n"),
    ("boolean_operator", "def f(a, b):\n    return a and b\n", "and", "or",
     "def f(a, b):\n    return a or b\n"),
    ("boolean_literal", "def f():\n    return True\n", "True", "False",
     "def f():\n    return False\n"),
    ("negation", "def f(a):\n    if a.ready():\n        return 1\n", "", "not ",
     "def f(a):\n    if not a.ready():\n        return 1\n"),
    ("negation", "def f(a, b):\n    while a or b:\n        a = 0\n", "a or b", "not (a or b)",
     "def f(a, b):\n    while not (a or b):\n        a = 0\n"),
    ("negation", "def f(a, b):\n    return a not in b\n", "not ", "",
     "def f(a, b):\n    return a in b\n"),
    ("swap_arguments", "def f(a, b):\n    return g(a, h(b), c=1)\n", "a, h(b)", "h(b), a",
     "def f(a, b):\n    return g(h(b), a, c=1)\n"),
    ("replace_name", "def f(start, end):\n    return end - 1\n", "end", "start",
     "def f(start, end):\n    return start - 1\n"),
    ("delete_statement", "def f(a):\n    a.sort()  # in place\n    return a\n", "a.sort()", "pass",
     "def f(a):\n    pass  # in place\n    return a\n"),
]  # fmt: skip


@pytest.mark.parametrize(("operator", "source", "old", "new", "expected"), OPERATOR_CASES)
def test_each_operator_makes_its_exact_edit(operator, source, old, new, expected):
    sites = find_sites(source, 1, source.count("\n"))
    matching = [
        site for site in sites.get(operator, ()) if site.old == old and new in site.alternatives
    ]
    assert matching, f"no {operator} site {old!r} -> {new!r} in {sites}"
    site = matching[0]
    edit = Edit(operator, site.start, site.end, site.old, new, site.line, site.col)
    mutated = apply_edits(source, [edit])
    assert mutated == expected
    assert compiles(mutated, "snippet.py")


def test_operators_leave_unary_minus_power_and_star_args_alone():
    source = "def f(a, *args, **kw):\n    return -a ** 2, g(*args), [*a]\n"
    arithmetic = find_sites(source, 1, 2).get("arithmetic", ())
    assert arithmetic == ()


def test_sites_stay_inside_the_region_and_skip_docstrings_and_self():
    source = LIMITS_SOURCE
    sites = find_sites(source, 1, 5)  # within_limit only
    lines = {site.line for group in sites.values() for site in group}
    assert lines and max(lines) <= 5
    deleted = [site.old for site in sites.get("delete_statement", ())]
    assert deleted == ["return True", "return False"]
    method = "class C:\n    def m(self, x):\n        return self.y + x\n"
    names = find_sites(method, 2, 3).get("replace_name", ())
    assert all("self" not in (site.old, *site.alternatives) for site in names)


def test_a_file_that_does_not_parse_has_no_sites():
    assert find_sites("def f(:\n", 1, 1) == {}


# -- the agent: reproducibility and patch format ---------------------------------------------


def test_same_seed_same_patch_and_seeds_spread_out():
    agent = MutationAgent()
    issue = task_view("`parse_range('1-3')` drops the end of the range")
    first = agent.propose(issue, RANGES_REPO, seed=7)
    again = MutationAgent().propose(issue, RANGES_REPO, seed=7)
    assert first.patch and first.patch == again.patch and first.details == again.details
    patches = {agent.propose(issue, RANGES_REPO, seed=seed).patch for seed in range(50)}
    assert len(patches) >= 20
    assert first.usage.model_dollars == 0.0 and first.usage.input_tokens == 0
    assert first.details["file"] in RANGES_REPO
    assert first.details["mutations"] and first.details["mutations"][0]["operator"] in OPERATORS


def test_patches_do_not_depend_on_the_process_hash_seed():
    # Sets of names iterate in a per-process order; a rerun must still give the same patches.
    script = (
        "import hashlib, sys; sys.path.insert(0, 'tests');"
        "from test_mutation_agent import LIMITS_ISSUE, RANGES_REPO, MutationAgent;"
        "agent = MutationAgent();"
        "print(hashlib.sha256(''.join(agent.propose(LIMITS_ISSUE, RANGES_REPO, seed).patch"
        " for seed in range(30)).encode()).hexdigest())"
    )
    root = Path(__file__).resolve().parents[1]
    digests = {
        subprocess.run(
            [sys.executable, "-c", script],
            cwd=root,
            env={**os.environ, "PYTHONHASHSEED": str(hash_seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for hash_seed in (1, 2, 3)
    }
    assert len(digests) == 1


def test_patches_parse_and_git_apply_at_the_repo_root(tmp_path):
    files = dict(RANGES_REPO)
    files["pkg/ranges.py"] = files["pkg/ranges.py"].rstrip("\n")  # no final newline
    repo = make_git_repo(tmp_path / "repo", files)
    agent = MutationAgent()
    issue = task_view("`parse_range` and `format_range` give wrong ends")
    for seed in range(40):
        candidate = agent.propose(issue, files, seed)
        assert candidate.error is None, candidate.error_message
        parsed = PatchSet(candidate.patch)
        assert len(parsed) == 1 and parsed[0].path == candidate.details["file"]
        applied = git_apply(repo, candidate.patch, check_only=True)
        assert applied.returncode == 0, f"seed {seed}: {applied.stderr}\n{candidate.patch}"


def test_unified_diff_is_git_style():
    patch = unified_diff("a.py", "x = 1\ny = 2\n", "x = 1\ny = 3\n")
    assert patch.startswith("diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ ")
    assert unified_diff("a.py", "same\n", "same\n") == ""


def test_diffs_survive_form_feeds_crlf_and_unicode_line_separators(tmp_path):
    files = {
        "odd.py": "# -*- coding: utf-8 -*-\n\x0c\ndef f(n):\n    s = 'a\u2028b'  # é\n"
        "    return n < 3\n",
        "dos.py": "def g(n):\r\n    return n > 3\r\n",
    }
    repo = make_git_repo(tmp_path / "repo", files)
    agent = MutationAgent()
    for seed in range(20):
        candidate = agent.propose(task_view("`f` and `g` are off by one"), files, seed)
        assert candidate.error is None, candidate.error_message
        applied = git_apply(repo, candidate.patch, check_only=True)
        assert applied.returncode == 0, f"seed {seed}: {applied.stderr}\n{candidate.patch!r}"


def test_genprog_premise_some_seed_fixes_a_one_token_bug(tmp_path):
    base = make_git_repo(tmp_path / "base", LIMITS_REPO)
    agent = MutationAgent()
    started = time.monotonic()
    candidates = [agent.propose(LIMITS_ISSUE, LIMITS_REPO, seed) for seed in range(250)]
    per_attempt = (time.monotonic() - started) / 250
    by_patch = Counter(candidate.patch for candidate in candidates if candidate.patch)

    def checkout_with(number: int, patch: str) -> Path | None:
        checkout = tmp_path / f"try{number}"
        shutil.copytree(base, checkout)
        return checkout if git_apply(checkout, patch).returncode == 0 else None

    def passes_in_process(checkout: Path) -> bool:
        namespace: dict = {}
        exec((checkout / "pkg/limits.py").read_text(), namespace)
        exec(LIMITS_TESTS.replace("from pkg.limits import clamp, within_limit", ""), namespace)
        try:
            namespace["test_within_limit"]()
            namespace["test_clamp"]()
        except Exception:
            return False
        return True

    def pytest_passes(checkout: Path) -> bool:
        command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"]
        # Third-party plugins only slow the runs down; the toy tests need none.
        env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
        result = subprocess.run(command, cwd=checkout, env=env, capture_output=True, timeout=60)
        return result.returncode == 0

    patches = sorted(by_patch)
    checkouts = [checkout_with(number, patch) for number, patch in enumerate(patches)]
    assert all(checkouts), "every patch must git apply"
    # The in-process run only spares ~90 interpreter starts: pytest has the last word on every
    # patch that passes it, and on a sample of those that fail it.
    screened = [passes_in_process(checkout) for checkout in checkouts]
    to_run = [i for i, ok in enumerate(screened) if ok] + [
        i for i, ok in enumerate(screened) if not ok
    ][:6]
    with ThreadPoolExecutor(max_workers=4) as pool:
        verdicts = dict(
            zip(to_run, pool.map(lambda i: pytest_passes(checkouts[i]), to_run), strict=True)
        )
    assert all(verdicts[i] == screened[i] for i in to_run), "pytest and the in-process run disagree"
    fixing = [patches[i] for i, fixed in verdicts.items() if fixed]
    fixing_seeds = sum(by_patch[patch] for patch in fixing)
    print(
        f"\nGenProg premise: {fixing_seeds}/250 seeds fix the bug "
        f"({len(fixing)} fixing patches among {len(patches)} unique); "
        f"{per_attempt * 1000:.2f} ms per attempt"
    )
    assert fixing_seeds >= 1
    assert any("+    if n <= limit:" in patch for patch in fixing)


# -- the agent through a sandbox -------------------------------------------------------------


def test_attempt_reads_the_repository_once_and_matches_propose(tmp_path, local_sandbox):
    repo = make_git_repo(tmp_path / "repo", RANGES_REPO)
    sandbox = local_sandbox(repo)
    agent = MutationAgent()
    issue = task_view("`parse_range` drops the end")
    candidates = [
        agent.attempt(AttemptContext(issue, index, 100 + index), sandbox) for index in range(5)
    ]
    reads = sandbox.reads
    assert reads == 4  # pkg/__init__.py, pkg/cli.py, pkg/ranges.py, pkg/util.py; no tests/setup
    files = {path: content for path, content in RANGES_REPO.items() if is_source_file(path)}
    for index, candidate in enumerate(candidates):
        assert candidate.patch == agent.propose(issue, files, 100 + index).patch
        assert git_apply(repo, candidate.patch, check_only=True).returncode == 0


def test_worker_threads_sharing_one_agent_get_the_sequential_patches(tmp_path, local_sandbox):
    repo = make_git_repo(tmp_path / "repo", RANGES_REPO)
    issue = task_view("`parse_range` drops the end")
    contexts = [AttemptContext(issue, index, 1000 + index) for index in range(40)]
    alone = local_sandbox(repo)
    sequential = [MutationAgent().attempt(context, alone) for context in contexts]
    shared = MutationAgent()
    sandbox = local_sandbox(repo)
    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = list(pool.map(lambda context: shared.attempt(context, sandbox), contexts))
    assert [c.patch for c in parallel] == [c.patch for c in sequential]
    assert sandbox.reads == 4  # the repository was read once, not once per thread


def test_large_repositories_are_prefiltered_by_git_grep(tmp_path, local_sandbox):
    files = dict(RANGES_REPO)
    for number in range(30):
        files[f"pkg/filler_{number:02d}.py"] = f"def filler_{number}(x):\n    return x + {number}\n"
    repo = make_git_repo(tmp_path / "repo", files)
    sandbox = local_sandbox(repo)
    agent = MutationAgent(MutationConfig(read_files=3))
    issue = task_view("`parse_range` drops the end")
    read = agent.repository_files(issue, sandbox)
    assert len(read) == 3 and "pkg/ranges.py" in read and "pkg/cli.py" in read
    candidate = agent.attempt(AttemptContext(issue, 0, 1), sandbox)
    assert candidate.details["file"] in read


def test_a_testbed_that_is_not_a_git_checkout_is_listed_with_find(tmp_path, local_sandbox):
    for path, content in RANGES_REPO.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(content)
    sandbox = local_sandbox(tmp_path)
    files = MutationAgent().repository_files(task_view("`parse_range`"), sandbox)
    assert sorted(files) == ["pkg/__init__.py", "pkg/cli.py", "pkg/ranges.py", "pkg/util.py"]


def test_a_repository_without_python_files_yields_an_agent_error(tmp_path, local_sandbox):
    repo = make_git_repo(tmp_path / "repo", {"README.md": "# nothing\n", "main.c": "int main;\n"})
    candidate = MutationAgent().attempt(
        AttemptContext(task_view("fix it"), 0, 0), local_sandbox(repo)
    )
    assert candidate.patch == ""
    assert candidate.error is AttemptError.AGENT and "Python" in candidate.error_message


def test_an_agent_error_when_nothing_can_be_mutated():
    files = {"pkg/empty.py": "def f():\n    pass\n"}
    candidate = MutationAgent().propose(task_view("`f` is wrong"), files, seed=3)
    assert candidate.patch == "" and candidate.error is AttemptError.AGENT
    assert "enabled operator" in candidate.error_message


def test_an_agent_error_when_no_mutation_compiles():
    # The only site is `x = 1`, and deleting it leaves `nonlocal x` with no binding: a
    # compile error, so every draw is rejected.
    source = "def f():\n    x = 1\n    def g():\n        nonlocal x; x = 2\n"
    assert compiles(source, "n.py")
    config = MutationConfig(operator_weights={"delete_statement": 1.0}, max_tries=5)
    candidate = MutationAgent(config).propose(task_view("`f` is wrong"), {"n.py": source}, 3)
    assert candidate.patch == "" and candidate.error is AttemptError.AGENT
    assert "no compiling mutation found in 5 tries" in candidate.error_message


# -- configuration ---------------------------------------------------------------------------


def test_the_default_config_loads_and_its_hash_tracks_its_content(tmp_path):
    assert default_config_path().is_file()
    agent = MutationAgent.from_config()
    assert agent.name == "mutation" and len(agent.definition_hash) == 64
    assert agent.definition_hash == MutationAgent.from_config(default_config_path()).definition_hash
    assert set(agent.config.operator_weights) == set(OPERATORS)
    assert abs(sum(agent.config.mutation_counts.values()) - 1.0) < 1e-9
    changed = tmp_path / "mutation.yaml"
    changed.write_text(default_config_path().read_text().replace("max_tries: 50", "max_tries: 9"))
    assert MutationAgent.from_config(changed).definition_hash != agent.definition_hash


def test_config_errors_say_what_is_wrong(tmp_path):
    with pytest.raises(FileNotFoundError, match="mutation agent config not found"):
        MutationAgent.from_config(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("top_files: 3\ntypo_param: 1\n")
    with pytest.raises(MutationConfigError, match="typo_param"):
        MutationAgent.from_config(bad)
    bad.write_text("operator_weights:\n  teleport: 1.0\n")
    with pytest.raises(MutationConfigError, match="teleport"):
        MutationAgent.from_config(bad)


# -- the demo suite, when present ------------------------------------------------------------

DEMO_TASKS = Path(__file__).resolve().parents[1] / "harness" / "demo" / "tasks.jsonl"


@pytest.mark.skipif(not DEMO_TASKS.is_file(), reason="no demo suite (harness/demo/tasks.jsonl)")
def test_demo_one_edit_tasks_localize_the_gold_file_first(tmp_path):
    from harness.patches import touched_files
    from harness.tasks import load_task_file

    tasks = [
        task
        for task in load_task_file(DEMO_TASKS).tasks
        if task.extra.get("difficulty") == "one-edit"
    ]
    if not tasks:
        pytest.skip("no one-edit demo task")
    bundles = DEMO_TASKS.parent / "repos"
    for task in tasks:
        bundle = bundles / f"{task.repo.replace('/', '__')}.bundle"
        if not bundle.is_file():
            pytest.skip(f"no bundle {bundle.name} for {task.repo} in {bundles}")
        checkout = tmp_path / task.instance_id
        subprocess.run(["git", "clone", "-q", str(bundle), str(checkout)], check=True)
        subprocess.run(["git", "-C", str(checkout), "checkout", "-q", task.base_commit], check=True)
        files = {
            path: (checkout / path).read_text(encoding="utf-8")
            for path in subprocess.run(
                ["git", "-C", str(checkout), "ls-files", "*.py"], capture_output=True, text=True
            ).stdout.split()
            if is_source_file(path)
        }
        regions = localize(task.view(), files)
        gold = touched_files(task.patch)[0]
        assert regions and regions[0].path == gold, json.dumps(
            {"task": task.instance_id, "gold": gold, "top": [r.path for r in regions[:3]]}
        )
