"""`mutation`: a random program-repair baseline in the spirit of GenProg, with no model.

Each attempt localizes from the issue text (harness.agents.localize), picks one suspicious
function at random weighted by its score, applies one to three random token-level mutations
there (harness.agents.mutations) and returns the diff if the file still compiles. It never runs
tests: the harness's evaluation is the only fitness function, so solve rate at k measures how
often blind sampling lands on a fix. The attempt's seed fixes its patch.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import random
import shlex
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.agents.base import AttemptContext, AttemptError, Candidate
from harness.agents.localize import Region, extract_terms, is_source_file, localize, path_bonus
from harness.agents.mutations import OPERATORS, Edit, apply_edits, compiles, find_sites
from harness.sandboxes.base import TESTBED, Sandbox
from harness.tasks import TaskView

# Part of the definition hash: bump when the algorithm changes what a seed produces.
ALGORITHM_VERSION = 1
# How many tasks' files one agent keeps in memory for the attempts still to come.
_CACHED_TASKS = 16


class MutationConfigError(ValueError):
    """An agents/mutation.yaml that cannot be used."""


@dataclass(frozen=True)
class MutationConfig:
    top_files: int = 5
    top_regions: int = 12
    read_files: int = 40
    max_file_bytes: int = 1_000_000
    region_temperature: float = 1.0
    region_floor: float = 0.1
    operator_weights: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(OPERATORS, 1.0)
    )
    mutation_counts: dict[int, float] = field(default_factory=lambda: {1: 0.7, 2: 0.25, 3: 0.05})
    max_tries: int = 50

    @classmethod
    def from_dict(cls, data: Any, source: str = "config") -> MutationConfig:
        if not isinstance(data, dict):
            raise MutationConfigError(f"{source}: expected a mapping of parameters")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise MutationConfigError(
                f"{source}: unknown parameter(s) {', '.join(unknown)}; known: {sorted(known)}"
            )
        config = cls(**data)
        config._validate(source)
        return config

    def _validate(self, source: str) -> None:
        def fail(message: str) -> None:
            raise MutationConfigError(f"{source}: {message}")

        for name in ("top_files", "top_regions", "read_files", "max_file_bytes", "max_tries"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                fail(f"{name} must be a positive integer, not {value!r}")
        for name in ("region_temperature", "region_floor"):
            if isinstance(getattr(self, name), bool) or not isinstance(
                getattr(self, name), (int, float)
            ):
                fail(f"{name} must be a number, not {getattr(self, name)!r}")
        if not isinstance(self.operator_weights, dict) or not isinstance(
            self.mutation_counts, dict
        ):
            fail("operator_weights and mutation_counts must be mappings")
        if not 0 < self.region_temperature:
            fail("region_temperature must be > 0")
        if not 0 <= self.region_floor <= 1:
            fail("region_floor must be between 0 and 1")
        unknown = sorted(set(self.operator_weights) - set(OPERATORS))
        if unknown:
            fail(f"unknown operator(s) {', '.join(unknown)}; known: {', '.join(OPERATORS)}")
        if any(weight < 0 for weight in self.operator_weights.values()):
            fail("operator weights must be >= 0")
        if not any(weight > 0 for weight in self.operator_weights.values()):
            fail("at least one operator needs a positive weight")
        if not self.mutation_counts or any(
            not isinstance(count, int) or count < 1 or weight < 0
            for count, weight in self.mutation_counts.items()
        ):
            fail("mutation_counts must map counts >= 1 to weights >= 0")
        if not any(weight > 0 for weight in self.mutation_counts.values()):
            fail("at least one mutation count needs a positive weight")

    def canonical(self) -> str:
        data = asdict(self)
        data["mutation_counts"] = {str(k): v for k, v in sorted(self.mutation_counts.items())}
        return json.dumps(data, sort_keys=True)


def default_config_path() -> Path:
    """The bundled mutation.yaml (package data; agents/ at the project root links to it)."""
    return Path(__file__).resolve().parent / "definitions" / "mutation.yaml"


def unified_diff(path: str, old: str, new: str) -> str:
    """A git-style diff of one file with 3 lines of context, which `git apply` accepts."""
    lines = difflib.unified_diff(
        _lines(old),
        _lines(new),
        fromfile=f"a/{path}",
        tofile=f"b/{path}",
        n=3,
    )
    out = [f"diff --git a/{path} b/{path}\n"]
    for line in lines:
        out.append(line)
        if not line.endswith("\n"):
            out.append("\n\\ No newline at end of file\n")
    return "".join(out) if len(out) > 1 else ""


def _lines(text: str) -> list[str]:
    # Not str.splitlines: it also breaks at form feeds and U+2028, which git and Python do not.
    lines = [line + "\n" for line in text.split("\n")]
    lines[-1] = lines[-1][:-1]
    return lines if lines[-1] else lines[:-1]


_AST_LOCK = threading.Lock()


class MutationAgent:
    """The Agent protocol over `propose`, which is pure: (task, files, seed) -> candidate."""

    name = "mutation"
    # It reads the repository (once per task) and never edits it.
    uses_sandbox = True
    changes_sandbox = False

    def __init__(self, config: MutationConfig | None = None) -> None:
        self.config = config or MutationConfig()
        canonical = json.dumps(
            {
                "agent": self.name,
                "version": ALGORITHM_VERSION,
                "config": json.loads(self.config.canonical()),
            },
            sort_keys=True,
        )
        self.definition_hash = hashlib.sha256(canonical.encode()).hexdigest()
        self._lock = threading.Lock()
        self._task_locks: dict[tuple[str, str], threading.Lock] = {}
        self._files: OrderedDict[tuple[str, str], dict[str, str]] = OrderedDict()
        self._regions: OrderedDict[str, list[Region]] = OrderedDict()

    def max_attempts(self, task: TaskView) -> int | None:
        return None  # every seed is a new attempt

    @classmethod
    def from_config(cls, path: str | Path | None = None) -> MutationAgent:
        path = Path(path) if path is not None else default_config_path()
        if not path.is_file():
            raise FileNotFoundError(
                f"mutation agent config not found: {path}; pass the path of a YAML file with "
                "the parameters (see agents/mutation.yaml in the project)"
            )
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as error:
            raise MutationConfigError(f"{path}: not valid YAML: {error}") from None
        return cls(MutationConfig.from_dict(data, str(path)))

    # -- the protocol ------------------------------------------------------------------------

    def attempt(self, context: AttemptContext, sandbox: Sandbox) -> Candidate:
        files = self.repository_files(context.task, sandbox)
        # CPython 3.11's ast module is not safe to use from two threads at once ("AST
        # constructor recursion depth mismatch"); proposing is milliseconds, so serialize it.
        with _AST_LOCK:
            return self.propose(context.task, files, context.seed)

    def repository_files(self, task: TaskView, sandbox: Sandbox) -> dict[str, str]:
        """The candidate source files of the task's repository, read once per task."""
        key = (task.instance_id, task.base_commit)
        with self._lock:
            task_lock = self._task_locks.setdefault(key, threading.Lock())
        with task_lock:
            with self._lock:
                if key in self._files:
                    self._files.move_to_end(key)
                    return self._files[key]
            files = self._read_files(task, sandbox)
            with self._lock:
                self._files[key] = files
                while len(self._files) > _CACHED_TASKS:
                    old_key, _ = self._files.popitem(last=False)
                    self._task_locks.pop(old_key, None)
            return files

    def _read_files(self, task: TaskView, sandbox: Sandbox) -> dict[str, str]:
        listing = sandbox.exec("git ls-files -z -- '*.py'", timeout=120)
        if not listing.ok:
            # Not a git checkout (or git refuses it): any .py file outside .git will do.
            listing = sandbox.exec(
                "find . -name .git -prune -o -type f -name '*.py' -printf '%P\\0'", timeout=120
            )
        if not listing.ok:
            return {}
        paths = sorted(path for path in listing.stdout.split("\0") if is_source_file(path))
        if len(paths) > self.config.read_files:
            paths = self._prefilter(task, sandbox, paths)
        files: dict[str, str] = {}
        for path in paths:
            try:
                data = sandbox.read_file(f"{TESTBED}/{path}", max_bytes=self.config.max_file_bytes)
                files[path] = data.decode("utf-8")
            except (FileNotFoundError, ValueError, IsADirectoryError, PermissionError):
                continue  # too large, not UTF-8 (UnicodeDecodeError is a ValueError) or gone
        return files

    def _prefilter(self, task: TaskView, sandbox: Sandbox, paths: list[str]) -> list[str]:
        """The `read_files` paths most worth reading, ranked by git grep inside the sandbox:
        files defining an issue identifier first, then files the issue points at by path,
        then by how many lines mention an identifier."""
        terms = extract_terms(task)
        names = sorted(terms.identifiers, key=lambda name: (-terms.identifiers[name], name))[:60]
        score = {path: path_bonus(path, terms) * 10.0 for path in paths}
        if names:
            patterns = " ".join(f"-e {shlex.quote(name)}" for name in names)
            counts = sandbox.exec(f"git grep -c -w -I -F {patterns} -- '*.py'", timeout=120)
            for line in counts.stdout.splitlines():
                path, _, count = line.rpartition(":")
                if path in score and count.isdigit():
                    score[path] += min(int(count), 50)
            alternatives = "|".join(names)
            space = "[[:space:]]"
            definition = (
                f"^{space}*(async{space}+)?(def|class){space}+({alternatives})[^A-Za-z0-9_]"
            )
            defining = sandbox.exec(
                f"git grep -l -E {shlex.quote(definition)} -- '*.py'", timeout=120
            )
            for path in defining.stdout.splitlines():
                if path in score:
                    score[path] += 1000.0
        return sorted(paths, key=lambda path: (-score[path], path))[: self.config.read_files]

    # -- the pure part -------------------------------------------------------------------------

    def regions(self, task: TaskView, files: dict[str, str]) -> list[Region]:
        """Localization for these files, cached by their content."""
        digest = hashlib.sha256()
        digest.update(f"{task.problem_statement}\0{task.hints_text}\0".encode())
        for path in sorted(files):
            digest.update(f"{path}\0{files[path]}\0".encode())
        key = digest.hexdigest()
        with self._lock:
            if key in self._regions:
                return self._regions[key]
        ranked = localize(task, files, self.config.top_files, top_regions=None)
        found: list[Region] = []
        for region in ranked:
            # A region where no enabled operator applies would only waste tries and a slot.
            if self._has_sites(files[region.path], region):
                found.append(region)
                if len(found) == self.config.top_regions:
                    break
        with self._lock:
            self._regions[key] = found
            while len(self._regions) > _CACHED_TASKS:
                self._regions.popitem(last=False)
        return found

    def propose(self, task: TaskView, files: dict[str, str], seed: int) -> Candidate:
        """The candidate of the attempt with this seed: same inputs, same patch."""
        regions = self.regions(task, files)
        if not regions:
            if localize(task, files, self.config.top_files, top_regions=1):
                reason = (
                    f"nothing in the {self.config.top_files} best-localized files that an "
                    "enabled operator can mutate"
                )
            else:
                reason = "no parsable non-test Python file in the repository to mutate"
            return Candidate(
                patch="", error=AttemptError.AGENT, error_message=reason, details={"seed": seed}
            )
        rng = random.Random(seed)
        weights = _region_weights(regions, self.config.region_temperature, self.config.region_floor)
        counts = sorted(self.config.mutation_counts)
        count_weights = [self.config.mutation_counts[count] for count in counts]
        for tries in range(1, self.config.max_tries + 1):
            region = rng.choices(regions, weights)[0]
            source = files[region.path]
            wanted = rng.choices(counts, count_weights)[0]
            edits = self._choose_edits(rng, source, region, wanted)
            if not edits:
                continue
            mutated = apply_edits(source, edits)
            if mutated == source or not compiles(mutated, region.path):
                continue
            return Candidate(
                patch=unified_diff(region.path, source, mutated),
                details={
                    "seed": seed,
                    "tries": tries,
                    "file": region.path,
                    "region": {
                        "qualname": region.qualname,
                        "first_line": region.first_line,
                        "last_line": region.last_line,
                        "score": round(region.score, 4),
                    },
                    "mutations": [
                        {
                            "operator": edit.operator,
                            "line": edit.line,
                            "col": edit.col,
                            "old": edit.old,
                            "new": edit.new,
                        }
                        for edit in sorted(edits, key=lambda edit: edit.start)
                    ],
                },
            )
        tried = ", ".join(f"{r.path}:{r.qualname}" for r in regions[:3])
        return Candidate(
            patch="",
            error=AttemptError.AGENT,
            error_message=(
                f"no compiling mutation found in {self.config.max_tries} tries over "
                f"{len(regions)} regions (best: {tried})"
            ),
            details={"seed": seed, "tries": self.config.max_tries},
        )

    def _has_sites(self, source: str, region: Region) -> bool:
        sites = find_sites(source, region.first_line, region.last_line)
        return any(self.config.operator_weights.get(operator, 0.0) > 0 for operator in sites)

    def _choose_edits(
        self, rng: random.Random, source: str, region: Region, wanted: int
    ) -> list[Edit]:
        sites = find_sites(source, region.first_line, region.last_line)
        operators = [op for op in sites if self.config.operator_weights.get(op, 0.0) > 0]
        if not operators:
            return []
        weights = [self.config.operator_weights[op] for op in operators]
        edits: list[Edit] = []
        for _ in range(wanted * 4):  # a few redraws when a site overlaps an earlier edit
            if len(edits) == wanted:
                break
            site = rng.choice(sites[rng.choices(operators, weights)[0]])
            new = rng.choice(site.alternatives)
            edit = Edit(site.operator, site.start, site.end, site.old, new, site.line, site.col)
            if not any(edit.overlaps(other) for other in edits):
                edits.append(edit)
        return edits


def _region_weights(regions: list[Region], temperature: float, floor: float) -> list[float]:
    """Probabilities proportional to score^(1/temperature), mixed with a uniform share `floor`
    so that low-ranked regions are still tried now and then."""
    powered = [max(region.score, 1e-9) ** (1.0 / temperature) for region in regions]
    total = sum(powered)
    uniform = 1.0 / len(regions)
    return [(1.0 - floor) * weight / total + floor * uniform for weight in powered]
