"""The selector interface: what a selector may see, what it returns, and how selectors compose.

A selector chooses one patch per task among a run's candidates, the way a leaderboard entrant
must: without the hidden tests. What it receives is structural, as an agent's `TaskView` is:

- `SelectionContext.task` is a `harness.tasks.TaskView` (repository, base commit, issue text,
  hints, version): no gold patch, no test patch, and neither list of hidden tests.
- `SelectionContext.candidates` are `CandidateView`s: one per distinct normalized patch (the
  store's `patch_hash`), with the attempts that produced it (their votes), trajectories and
  costs. No evaluation, no verdict, no status.
- `SelectionContext.tests` is a `TestRunner`: runs test files of the repository (or files a
  candidate brings) on the base commit or on a candidate, in the task's own sandbox, with the
  environment's test command and log parser (`PublicTestSetup`: no official test directives,
  which come from the test patch). Every run is stored as evidence, keyed by (task, subject,
  suite), so a rerun of selection only runs what is missing.
- `SelectionContext.models` (`ModelAccess`, None for model-free selectors) is the LLM, budget
  and run id, built the way agents build theirs (harness.agents.llm_factory): litellm path,
  ledger of spend, response cache, budgets.

tests/test_selection_isolation.py fails if any of these types, or any selection module, can
reach a hidden field or a stored verdict.

A selector works in two steps, so that its decision can be measured at every k:

1. `gather(context) -> Evidence`: whatever costs time or money (running tests, asking a model),
   on all of the task's distinct candidates. It returns JSON-able evidence: what was run and what
   came out, per candidate patch hash. Stored with the selection (harness/store/selections.py).
2. `narrow(pool, evidence) -> Pool`: a pure function. Given some of the candidates (a `Pool`,
   best first) and the evidence, it returns the survivors, best first. It must not run anything:
   the report calls it on many random k-subsets of a task's attempts (`Pool.subset`), which is
   how a selector's solve rate at k < n is computed from the evidence gathered once at n.

A `Chain` composes stages: `regression+behavior` gathers both stages' evidence, then narrows
the pool through each stage in turn; the last stage's first survivor is the pick. A stage that
would leave nothing is skipped (its input passes on unchanged), so a chain always picks when
any candidate is non-empty. Names resolve through harness.selection.registry: a built-in short
name (`first`, `vote`, `regression`, `behavior`) or an import path `package.module:factory`.

How an LLM selector plugs in (e.g. `repro`, `judge` in harness/selection/llm/):

- Its factory takes `SelectorOptions` (model, api_base, prices, cache, store, budget: the
  agent's options) and builds an `LLM` + `Budget` as harness.agents.llm_factory does (keeping
  them itself, or as a `ModelAccess` that `select_run(models=...)` hands to every stage in
  `context.models`); `context.run_id` names the run its calls are charged to in the ledger.
- `repro`: `gather` asks the model for n reproduction test files from `context.task`'s issue
  text (cached through the response cache, billed through the ledger with run_id =
  `context.models.run_id`), writes each as a `TestSuite` with `files`, runs it on the base
  (`context.tests.run(None, suite)`) and keeps it only if it fails there, then runs the kept
  ones on every candidate (`context.tests.run(candidate, suite)`). Its evidence maps each
  candidate's hash to the number of kept tests it passes; `narrow` ranks by that (pure).
  Model dollars go into `Evidence.dollars` so selection spend is reported apart.
- `judge`: `gather` clusters as `behavior` does and asks the model to choose among the top
  clusters (issue + diffs); since its decision depends on which clusters a subset contains, its
  `narrow` is exact only at k = n: set `exact_at_subsets = False` and the report shows it at
  k = n only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from harness.tasks import TaskView

if TYPE_CHECKING:
    from harness.models.budget import Budget
    from harness.models.llm import LLM


class SelectionError(ValueError):
    """A selection that cannot be made as asked (unknown selector, bad import path, a hidden
    name such as `oracle`): one clear line for the user."""


# --- what a selector sees --------------------------------------------------------------------


@dataclass(frozen=True)
class CandidateView:
    """One distinct candidate patch of a task: the attempts that made the same normalized
    patch are one candidate, and their number is its vote. Never a verdict."""

    patch_hash: str
    patch: str
    # Positions (0-based, in attempt order) of the attempts that made this patch.
    attempts: tuple[int, ...]
    # The attempts' trajectories (None where the agent kept none, e.g. replayed predictions).
    trajectories: tuple[Any, ...] = ()
    model_dollars: float = 0.0  # the attempts' model spend, summed (unknown prices as 0)
    # Whatever the agent kept (replay: the prediction file the patch came from).
    details: tuple[dict[str, Any], ...] = ()

    @property
    def votes(self) -> int:
        return len(self.attempts)

    @property
    def first_attempt(self) -> int:
        return min(self.attempts)


@dataclass(frozen=True)
class Pool:
    """Candidates still in the running, best first."""

    candidates: tuple[CandidateView, ...]

    def __len__(self) -> int:
        return len(self.candidates)

    def __iter__(self):
        return iter(self.candidates)

    @property
    def hashes(self) -> tuple[str, ...]:
        return tuple(candidate.patch_hash for candidate in self.candidates)

    def keep(self, hashes: Iterable[str]) -> Pool:
        """The candidates whose hash is in `hashes`, in that order."""
        by_hash = {candidate.patch_hash: candidate for candidate in self.candidates}
        return Pool(tuple(by_hash[digest] for digest in hashes if digest in by_hash))

    def subset(self, positions: Iterable[int]) -> Pool:
        """The pool a k-subset of the task's attempts would have made: only those attempts
        vote, candidates none of them made are gone, order by first appearance."""
        chosen = set(positions)
        kept = []
        for candidate in self.candidates:
            attempts = tuple(a for a in candidate.attempts if a in chosen)
            if attempts:
                kept.append(_replace_attempts(candidate, attempts))
        kept.sort(key=lambda candidate: candidate.first_attempt)
        return Pool(tuple(kept))


def _replace_attempts(candidate: CandidateView, attempts: tuple[int, ...]) -> CandidateView:
    from dataclasses import replace

    return replace(candidate, attempts=attempts)


@dataclass(frozen=True)
class PublicTestSetup:
    """How the task's environment runs tests: its command, log parser and timeout. Not the
    official test directives (TestSetup.test_targets), which are derived from the test patch."""

    __test__ = False

    test_cmd: str
    log_parser: str
    test_timeout: float
    preamble: str = ""


@dataclass(frozen=True)
class TestSuite:
    """Tests a selector runs: paths given to the test command, and files written into the
    testbed first (a candidate's own test files, a model's reproduction test). `digest` keys
    the stored runs: same targets and same file contents, same suite."""

    __test__ = False

    name: str  # what chose it: "regression", "own:<patch hash>", "repro:3", ...
    targets: tuple[str, ...]
    files: tuple[tuple[str, str], ...] = ()  # (path in the repository, content)
    # A command run instead of the test command (a script: harness.selection.scripts); its
    # outcome is one pseudo-test, `script`, holding how it ended and its output's digest.
    command: str = ""

    @property
    def digest(self) -> str:
        described: dict[str, object] = {"targets": sorted(self.targets),
                                         "files": sorted(self.files)}
        if self.command:  # (absent otherwise: the digests of stored test runs stay the same)
            described["command"] = self.command
        canonical = json.dumps(described, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]


BASE = "base"  # the subject of a test run on the unchanged base commit


@dataclass(frozen=True)
class TestRun:
    """One run of a suite on the base commit or on one candidate: what came out."""

    __test__ = False

    subject: str  # BASE or a candidate's patch hash
    suite: str  # TestSuite.digest
    # Test id -> status (harness.evaluation.status.TestStatus values).
    statuses: dict[str, str]
    # "" when the tests ran; else why not: patch_failed, timeout, error (no test reported).
    problem: str = ""
    seconds: float = 0.0
    dollars: float = 0.0  # compute dollars of the run (sandbox CPU at the run's vCPU price)
    reused: bool = False  # answered from the store, nothing ran

    def passed(self) -> set[str]:
        return {name for name, status in self.statuses.items() if status in PASSING_STATUSES}

    def failed(self) -> set[str]:
        return {name for name, status in self.statuses.items() if status in FAILING_STATUSES}


# As harness.evaluation.grading reads them (kept as strings: evidence is JSON).
PASSING_STATUSES = frozenset({"PASSED", "XFAIL"})
FAILING_STATUSES = frozenset({"FAILED", "ERROR"})


@runtime_checkable
class TestRunner(Protocol):
    """The selector's handle on the task's sandbox. It can read the repository at the base
    commit and run tests; it holds no task definition, so nothing hidden is in reach."""

    __test__ = False

    setup: PublicTestSetup

    def files(self) -> list[str]:
        """Tracked files of the repository at the base commit (`git ls-files`)."""
        ...

    def read(self, path: str) -> str:
        """A file of the repository at the base commit; FileNotFoundError when absent."""
        ...

    def grep(self, pattern: str, paths: list[str]) -> list[str]:
        """Of `paths`, those whose text at the base commit matches the extended regular
        expression `pattern` (git grep -l -E)."""
        ...

    def patched(self, candidate: CandidateView, paths: list[str]) -> dict[str, str]:
        """The text of `paths` with the candidate's patch applied (absent ones left out): a
        candidate's own test files, to run against the other candidates."""
        ...

    def run(self, subject: CandidateView | None, suite: TestSuite) -> TestRun:
        """Runs `suite` on the base commit (subject None) or with the candidate's patch
        applied: from the store when this exact run is there, else in the sandbox (then
        stored). Raises SandboxError on infrastructure trouble."""
        ...


@dataclass
class ModelAccess:
    """What an LLM selector calls models with: the same LLM, budget and ledger an agent gets
    (harness.agents.llm_factory), and the run its spend is charged to."""

    llm: LLM
    budget: Budget
    run_id: str | None = None
    use_cache: bool = True


@dataclass
class SelectionContext:
    """Everything a selector's `gather` may use for one task."""

    task: TaskView
    candidates: Pool  # every distinct non-empty candidate, by first appearance
    tests: TestRunner | None = None  # None when the selection runs without sandboxes
    models: ModelAccess | None = None
    seed: int = 0
    log: Any = None  # a callable(str) for progress lines, or None
    # Set by Chain.gather before each stage: the candidates the stages before it kept, best
    # first (None outside a chain's gather: then all candidates are in the running).
    survivors: Pool | None = None
    # The stored run being selected on: an LLM stage charges its model calls to it (ledger).
    run_id: str | None = None


@dataclass
class Evidence:
    """What a stage's `gather` found, JSON-able (it is stored), plus what it cost."""

    data: dict[str, Any] = field(default_factory=dict)
    # Dollars spent now on model calls (an LLM stage adds what its calls billed).
    model_dollars: float = 0.0
    runs: int = 0  # test runs made now
    reused_runs: int = 0  # test runs answered from the store
    # (subject, suite) -> (seconds, compute dollars) of every run the evidence rests on, made
    # now or earlier: stages of a chain that share runs count them once.
    run_costs: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    new_runs: set[tuple[str, str]] = field(default_factory=set)

    def add_run(self, run: TestRun) -> None:
        key = (run.subject, run.suite)
        self.run_costs[key] = (run.seconds, run.dollars)
        if run.reused:
            self.reused_runs += 1
        else:
            self.runs += 1
            self.new_runs.add(key)

    @property
    def test_seconds(self) -> float:
        """Seconds of the test runs made now."""
        return sum(self.run_costs[key][0] for key in self.new_runs)

    @property
    def stored_test_seconds(self) -> float:
        """Seconds of every test run the evidence rests on."""
        return sum(seconds for seconds, _ in self.run_costs.values())

    @property
    def dollars(self) -> float:
        """Spent now: the new runs' compute and the model calls."""
        return self.model_dollars + sum(self.run_costs[key][1] for key in self.new_runs)


# --- what a selector is ----------------------------------------------------------------------


@runtime_checkable
class Selector(Protocol):
    name: str
    # Whether `gather` needs `context.tests` (a sandbox) / `context.models`.
    needs_sandbox: bool
    needs_models: bool
    # Whether `narrow` on a subset's pool is what the selector would do given only that subset
    # (False: the report shows the selector at k = n only).
    exact_at_subsets: bool

    def gather(self, context: SelectionContext) -> Evidence:
        """Runs what the decision needs, on all of the context's candidates."""
        ...

    def narrow(self, pool: Pool, evidence: dict[str, Any]) -> Pool:
        """The survivors of `pool`, best first. Pure: reads `evidence` (this stage's
        Evidence.data), runs nothing."""
        ...


@dataclass
class Chain:
    """Stages applied in turn: each narrows the survivors of the last; the final first
    survivor is the pick. A stage that would leave nothing passes its input on."""

    stages: tuple[Selector, ...]

    @property
    def name(self) -> str:
        return "+".join(stage.name for stage in self.stages)

    @property
    def needs_sandbox(self) -> bool:
        return any(stage.needs_sandbox for stage in self.stages)

    @property
    def needs_models(self) -> bool:
        return any(stage.needs_models for stage in self.stages)

    @property
    def exact_at_subsets(self) -> bool:
        return all(stage.exact_at_subsets for stage in self.stages)

    def gather(self, context: SelectionContext) -> list[Evidence]:
        """Each stage's evidence; before each stage, `context.survivors` is the pool as the
        stages before it narrowed it (a judge looks only at what is still in the running)."""
        found = []
        pool = context.candidates
        for stage in self.stages:
            context.survivors = pool
            evidence = stage.gather(context)
            found.append(evidence)
            if pool:
                pool = stage.narrow(pool, evidence.data) or pool
        context.survivors = None
        return found

    def narrow(self, pool: Pool, evidence: Sequence[dict[str, Any]]) -> Pool:
        for stage, data in zip(self.stages, evidence, strict=True):
            if not pool:
                break
            survivors = stage.narrow(pool, data)
            if survivors:
                pool = survivors
        return pool

    def pick(self, pool: Pool, evidence: Sequence[dict[str, Any]]) -> CandidateView | None:
        survivors = self.narrow(pool, evidence)
        return survivors.candidates[0] if survivors else None
