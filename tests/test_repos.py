"""Repository sources and testbeds, with real git repositories made in tmp_path."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import harness.repos
from harness.repos import RepoError, RepoSource


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def make_repo(path: Path, commits: int = 3) -> list[str]:
    """A work-tree repository with `commits` commits; returns their shas, oldest first."""
    path.mkdir(parents=True)
    git("init", "--quiet", cwd=path)
    shas = []
    for number in range(commits):
        (path / "file.txt").write_text(f"version {number}\n")
        git("add", "-A", cwd=path)
        git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", f"c{number}", cwd=path)
        shas.append(git("rev-parse", "HEAD", cwd=path))
    return shas


@pytest.fixture
def origin(tmp_path: Path) -> tuple[Path, list[str]]:
    repo = tmp_path / "origin"
    return repo, make_repo(repo)


@pytest.mark.parametrize(
    "layout", ["owner/name", "owner/name.git", "owner__name", "owner__name.git"]
)
@pytest.mark.parametrize("bare", [False, True])
def test_repos_dir_layouts(tmp_path: Path, origin, layout: str, bare: bool) -> None:
    source, shas = origin
    repos_dir = tmp_path / "mirrors"
    place = repos_dir / layout
    place.parent.mkdir(parents=True, exist_ok=True)
    flags = ["--bare"] if bare else []
    git("clone", "--quiet", *flags, str(source), str(place), cwd=tmp_path)
    repos = RepoSource(repos_dir, tmp_path / "cache")
    assert repos.git_dir("owner/name") == place
    assert repos.resolve_commit("owner/name", shas[1][:8]) == shas[1]


def test_demo_bundle_is_cloned_once(tmp_path: Path, origin, monkeypatch) -> None:
    source, shas = origin
    bundle = tmp_path / "demo__toy.bundle"
    git("bundle", "create", str(bundle), "--all", cwd=source)
    monkeypatch.setattr(harness.repos, "_demo_bundle", lambda repo: bundle)
    repos = RepoSource(None, tmp_path / "cache")
    with ThreadPoolExecutor(4) as pool:
        found = set(pool.map(repos.git_dir, ["demo/toy"] * 8))
    assert len(found) == 1
    (git_dir,) = found
    assert git_dir.is_relative_to(tmp_path / "cache")
    assert git("rev-parse", "--is-bare-repository", cwd=git_dir) == "true"
    assert repos.resolve_commit("demo/toy", shas[-1]) == shas[-1]
    # Only the finished clone is left in the cache, no scratch folders.
    assert [path.name for path in git_dir.parent.iterdir()] == [git_dir.name]


BUNDLED = sorted((Path(harness.repos.__file__).parent / "demo" / "repos").glob("*.bundle"))


@pytest.mark.skipif(not BUNDLED, reason="no demo repositories are bundled yet")
@pytest.mark.parametrize("bundle", BUNDLED, ids=lambda path: path.stem)
def test_bundled_demo_repositories_resolve(tmp_path: Path, bundle: Path) -> None:
    from harness.demo import load_demo_tasks

    repo = "demo/" + bundle.stem.split("__", 1)[1]
    repos = RepoSource(None, tmp_path / "cache")
    git_dir = repos.git_dir(repo)
    bases = {task.base_commit for task in load_demo_tasks() if task.repo == repo}
    assert bases, f"no demo task uses {repo}"
    # Every demo task of the repository finds its base commit in the bundle's clone.
    assert {repos.resolve_commit(repo, base) for base in bases} == bases
    heads = git("bundle", "list-heads", str(bundle.resolve()), cwd=tmp_path).split()
    assert git("rev-parse", "HEAD", cwd=git_dir) in heads


def test_missing_repository_offline_says_what_to_do(tmp_path: Path) -> None:
    repos = RepoSource(tmp_path / "mirrors", tmp_path / "cache")
    with pytest.raises(RepoError) as raised:
        repos.git_dir("nobody-harness-test/no-such-repo")
    message = str(raised.value)
    assert "could not clone https://github.com/nobody-harness-test/no-such-repo.git" in message
    assert "--repos-dir" in message


def test_bad_repository_name_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(RepoError, match="owner/name"):
        RepoSource(None, tmp_path).git_dir("../etc")


def test_checkout_testbed_cuts_history_at_base(tmp_path: Path, origin) -> None:
    source, shas = origin
    repos_dir = tmp_path / "mirrors"
    (repos_dir / "owner").mkdir(parents=True)
    source.rename(repos_dir / "owner" / "name")
    repos = RepoSource(repos_dir, tmp_path / "cache")
    dest = tmp_path / "testbed"
    repos.checkout_testbed("owner/name", shas[1][:10], dest)

    assert git("rev-parse", "HEAD", cwd=dest) == shas[1]
    assert git("status", "--porcelain", "--ignored", cwd=dest) == ""
    assert (dest / "file.txt").read_text() == "version 1\n"
    assert git("rev-list", "--all", cwd=dest).split() == [shas[1], shas[0]]
    later = subprocess.run(["git", "cat-file", "-e", shas[2]], cwd=dest, capture_output=True)
    assert later.returncode != 0, "the commit after the base must not be in the testbed"
    assert git("remote", cwd=dest) == ""
    assert not (dest / ".git" / "FETCH_HEAD").exists()
    assert str(repos_dir) not in git("reflog", cwd=dest)


def test_checkout_unknown_commit(tmp_path: Path, origin) -> None:
    source, _ = origin
    repos = RepoSource(source.parent, tmp_path / "cache")
    (source.parent / "owner").mkdir()
    source.rename(source.parent / "owner" / "name")
    with pytest.raises(RepoError, match="commit 'deadbeef' not found in owner/name"):
        repos.checkout_testbed("owner/name", "deadbeef", tmp_path / "testbed")


def test_checkout_refuses_non_empty_destination(tmp_path: Path, origin) -> None:
    source, shas = origin
    (tmp_path / "owner").mkdir()
    source.rename(tmp_path / "owner" / "name")
    dest = tmp_path / "busy"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(RepoError, match="not empty"):
        RepoSource(tmp_path, tmp_path / "cache").checkout_testbed("owner/name", shas[0], dest)
    assert (dest / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("depth", [None, 1])
def test_a_mirror_missing_an_object_says_so_and_what_fixes_it(tmp_path: Path, origin, depth):
    """Snapshots can leave a repository's largest files out: the checkout names the missing
    object and the fix, not git's words for a corrupt remote."""
    source, shas = origin
    (source.parent / "owner").mkdir()
    mirror = source.parent / "owner" / "name"
    source.rename(mirror)
    blob = git("rev-parse", f"{shas[1]}:file.txt", cwd=mirror)
    (mirror / ".git" / "objects" / blob[:2] / blob[2:]).unlink()  # loose objects: one file each
    repos = RepoSource(source.parent, tmp_path / "cache")
    with pytest.raises(RepoError) as raised:
        repos.checkout_testbed("owner/name", shas[1], tmp_path / "testbed", depth=depth)
    message = str(raised.value)
    assert f"lacks object {blob}" in message
    assert "git clone --mirror" in message
