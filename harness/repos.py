"""Repository sources: where a task's git history comes from, and the testbed made from it.

A repository `owner/name` is found, in order: among the bundled demo repositories (`demo/...`),
in the user's `--repos-dir` folder, or by cloning it from GitHub into the cache once.
A testbed holds history only up to the task's base commit, so the fix cannot be read from it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from harness.locks import default_cache_dir, file_lock

_REPO_NAME = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_DEMO_REPOS = Path(__file__).resolve().parent / "demo" / "repos"

CLONE_TIMEOUT = 30 * 60
GIT_TIMEOUT = 10 * 60


class RepoError(RuntimeError):
    """A repository or commit could not be found or copied."""


# How git names an object the source repository should have and has not.
_MISSING_OBJECT = re.compile(r"unable to read ([0-9a-f]{40})")


def _git(*args: str, cwd: Path | None = None, timeout: float = GIT_TIMEOUT) -> str:
    # No prompt for credentials: a missing repository must fail, not wait for a password.
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise RepoError(f"git {' '.join(args)} took more than {timeout:.0f} s") from None
    if done.returncode != 0:
        raise RepoError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def _is_git_repository(path: Path) -> bool:
    if not path.is_dir():
        return False
    done = subprocess.run(
        ["git", "-C", str(path), "rev-parse", "--git-dir"], capture_output=True, text=True
    )
    return done.returncode == 0


def _demo_bundle(repo: str) -> Path | None:
    """The bundled demo repository's git bundle, or None when `repo` is not a demo."""
    if not repo.startswith("demo/"):
        return None
    try:
        from harness.demo import demo_bundle  # type: ignore[attr-defined]
    except ImportError:
        return _DEMO_REPOS / f"{repo.replace('/', '__')}.bundle"
    try:
        return Path(demo_bundle(repo))
    except (LookupError, ValueError) as error:  # an unknown demo name
        raise RepoError(str(error)) from None


class RepoSource:
    """Resolves repositories to local git folders; clones each at most once, even when several
    threads or processes ask for it at the same time."""

    def __init__(self, repos_dir: Path | None = None, cache_dir: Path | None = None) -> None:
        self.repos_dir = Path(repos_dir) if repos_dir is not None else None
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()

    def git_dir(self, repo: str) -> Path:
        """A local git repository (bare or not) holding `repo`'s history.

        Raises RepoError when it cannot be found or cloned, saying where it was looked for.
        """
        if not _REPO_NAME.fullmatch(repo) or ".." in repo:
            raise RepoError(f"repository name must look like 'owner/name', not {repo!r}")
        bundle = _demo_bundle(repo)
        if bundle is not None:
            return self._from_bundle(repo, bundle)
        if self.repos_dir is not None:
            owner, name = repo.split("/")
            for candidate in (
                self.repos_dir / owner / name,
                self.repos_dir / owner / f"{name}.git",
                self.repos_dir / f"{owner}__{name}",
                self.repos_dir / f"{owner}__{name}.git",
            ):
                if _is_git_repository(candidate):
                    return candidate
        return self._from_github(repo)

    def _from_bundle(self, repo: str, bundle: Path) -> Path:
        if not bundle.is_file():
            raise RepoError(f"demo repository {repo!r} has no bundle at {bundle}")
        # Keyed by the bundle's content, so an updated demo gets a fresh clone.
        digest = hashlib.sha256(bundle.read_bytes()).hexdigest()[:12]
        target = self.cache_dir / "repos" / "bundles" / f"{repo.replace('/', '__')}-{digest}.git"
        return self._clone_once(str(bundle), target, f"demo repository {repo!r}")

    def _from_github(self, repo: str) -> Path:
        url = f"https://github.com/{repo}.git"
        target = self.cache_dir / "repos" / "github" / f"{repo.replace('/', '__')}.git"
        try:
            return self._clone_once(url, target, f"repository {repo!r}")
        except RepoError as error:
            where = (
                f" and it is not under {self.repos_dir} (looked for owner/name, owner__name, "
                "with or without .git)"
                if self.repos_dir is not None
                else ""
            )
            raise RepoError(
                f"could not clone {url} (offline, or no such repository){where}. "
                f"Clone it yourself and pass --repos-dir DIR holding DIR/{repo}. ({error})"
            ) from None

    def _clone_once(self, source: str, target: Path, what: str) -> Path:
        if _is_git_repository(target):
            return target
        with file_lock(str(target)):
            if _is_git_repository(target):
                return target
            target.parent.mkdir(parents=True, exist_ok=True)
            # Clone beside the target and rename: a crash never leaves half a clone in place.
            scratch = Path(tempfile.mkdtemp(prefix=".clone-", dir=target.parent))
            try:
                clone = scratch / "repo.git"
                _git("clone", "--quiet", "--bare", source, str(clone), timeout=CLONE_TIMEOUT)
                if target.exists():
                    shutil.rmtree(target)
                clone.rename(target)
            except RepoError as error:
                raise RepoError(f"cloning {what} failed: {error}") from None
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
        return target

    def resolve_commit(self, repo: str, commit: str) -> str:
        """The full sha of `commit` in `repo`; raises RepoError when it is not there."""
        source = self.git_dir(repo)
        try:
            return _git("rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}", cwd=source)
        except RepoError:
            raise RepoError(
                f"commit {commit!r} not found in {repo} (looked in {source}); check the task's "
                "base_commit, or update the local clone"
            ) from None

    def checkout_testbed(
        self, repo: str, base_commit: str, dest: Path, depth: int | None = None
    ) -> None:
        """Makes `dest` (absent or empty) a git work tree at `base_commit`, on branch `main`,
        with a clean tree, no remotes, and no commit later than `base_commit`. With `depth`,
        only that many commits of history (1: the base commit alone), which keeps the testbed
        of a big repository small; no tags either way (a build that needs its version from git
        gets it from the spec, e.g. SETUPTOOLS_SCM_PRETEND_VERSION).

        Raises RepoError when the repository or the commit is missing.
        """
        sha = self.resolve_commit(repo, base_commit)
        source = self.git_dir(repo)
        dest = Path(dest)
        if dest.exists() and any(dest.iterdir()):
            raise RepoError(f"testbed destination {dest} is not empty")
        dest.mkdir(parents=True, exist_ok=True)
        _git("init", "--quiet", str(dest))
        # Fetching one sha by path copies only what it reaches: later commits never arrive.
        try:
            if depth is None:
                _git("fetch", "--quiet", "--no-tags", str(source.resolve()), sha, cwd=dest)
            else:
                # A shallow fetch needs the file:// transport; a local path would ignore --depth.
                url = source.resolve().as_uri()
                _git("fetch", "--quiet", "--no-tags", f"--depth={depth}", url, sha, cwd=dest)
        except RepoError as error:
            missing = _MISSING_OBJECT.search(str(error))
            if missing is None:
                raise
            # Snapshots that leave their largest files out fail here, with git's words for a
            # corrupt repository: say what is missing and what fixes it.
            raise RepoError(
                f"the mirror of {repo} at {source} lacks object {missing.group(1)}, which "
                f"{sha[:12]}'s tree needs (an incomplete mirror or snapshot): clone {repo} in "
                "full (`git clone --mirror`) into --repos-dir and retry"
            ) from None
        _git("checkout", "--quiet", "-B", "main", sha, cwd=dest)
        # FETCH_HEAD names the host path of the source; the testbed should not leak it.
        (dest / ".git" / "FETCH_HEAD").unlink(missing_ok=True)
        _git("config", "user.name", "harness", cwd=dest)
        _git("config", "user.email", "harness@localhost", cwd=dest)
