"""Reset restores only what changed, and still puts back exactly the pristine tree."""

from __future__ import annotations

import pytest

from harness.sandboxes import docker_sandbox
from harness.sandboxes.base import TESTBED, SandboxError
from harness.sandboxes.docker_sandbox import PRISTINE, DockerSandbox, SandboxLimits
from harness.sandboxes.fast_reset import Entry, list_command, parse_listing, plan_restore
from tests.tiny_repo import build_tiny_task


def entry(kind: str = "f", ctime: str = "1.0", inode: str = "1") -> Entry:
    return Entry(inode, ctime, "10", kind, "644")


def test_the_plan_touches_only_what_differs():
    pristine = {"": entry("d"), "a.py": entry(), "pkg": entry("d"), "pkg/b.py": entry()}
    clean = {"": entry("d", "1"), "a.py": entry(), "pkg": entry("d"), "pkg/b.py": entry()}
    now = {
        "": entry("d", "2"),  # an entry was added at the top
        "a.py": entry(ctime="3"),  # written to
        "pkg": entry("d"),
        "new": entry("d", "4"), "new/x.log": entry(),  # added, with what is inside
    }  # pkg/b.py was deleted
    plan = plan_restore(now, clean, pristine)
    assert plan is not None
    assert plan.remove == ["a.py", "new"]
    assert plan.copy == ["a.py", "pkg/b.py"]
    assert plan.directories == ["", "pkg"]  # their entries changed: times put back
    assert plan_restore(clean, clean, pristine).empty


# Every path's type, mode, owner, times and (but for folders, whose size is the file system's
# business) size and link target, then every file's content.
FINGERPRINT = (
    "cd {root} && {{ find . -type d -printf '%P %y %m %U %G %T@\\n'; "
    "find . ! -type d -printf '%P %y %m %s %l %U %G %T@\\n'; }} | sort && "
    "find . -type f -exec sha256sum {{}} + | sort"
)


@pytest.fixture(scope="module")
def image(docker_client, tmp_path_factory):
    built = build_tiny_task(docker_client, tmp_path_factory.mktemp("reset"))
    yield built.image
    docker_client.images.remove(built.image, force=True)


def listing_is_current(sandbox: DockerSandbox) -> bool:
    """Whether the listing the sandbox keeps of its tree since the last reset (which the next
    reset compares against) is what a full listing of the tree says now."""
    now = parse_listing(sandbox.exec(list_command(TESTBED), timeout=60).stdout)
    return now is not None and sandbox._clean == now


@pytest.mark.docker
@pytest.mark.parametrize("how", ["deferred", "immediate", "wholesale"])
def test_reset_undoes_every_kind_of_change_exactly(docker_client, image, how, monkeypatch):
    """deferred: the restore rides ahead of the next command (the usual way); immediate: its
    listing would be too long to ride along; wholesale: too many paths touched."""
    many = how == "wholesale"
    if how == "immediate":
        monkeypatch.setattr(docker_sandbox, "MAX_DEFERRED_ENTRIES", 0)
    tamper = [
        # Same size, same mtime: only the change time tells.
        "python3 -c \"open('src/app.py','r+').write('X')\" && touch -d 2001-01-01 src/app.py",
        "chmod 700 tests 2>/dev/null; chmod 600 .git/HEAD",
        "rm -rf src && mkdir -p src/app.py && echo junk > src/app.py/x",
        "mkdir -p build/deep && echo y > build/deep/o.log && echo u > untracked.txt",
        "git add -A && git -c user.name=a -c user.email=a@a commit -qm gone",
        "ln .git/config hardlink && ln -s /etc/passwd link",
    ]
    if many:
        tamper.append("mkdir many && cd many && seq 1 4000 | xargs touch")
    with DockerSandbox.start(docker_client, image, SandboxLimits()) as sandbox:
        expected = sandbox.exec(FINGERPRINT.format(root=PRISTINE)).stdout
        assert sandbox.exec(FINGERPRINT.format(root="/testbed")).stdout == expected
        status = sandbox.exec("git status --porcelain --ignored").stdout  # the image's bytecode
        for command in tamper:
            assert sandbox.exec(command).ok, command
        assert sandbox.exec(FINGERPRINT.format(root="/testbed")).stdout != expected
        sandbox.reset()
        assert sandbox.exec(FINGERPRINT.format(root="/testbed")).stdout == expected
        assert listing_is_current(sandbox)
        # And again, from the listing the first reset left.
        assert sandbox.exec("echo again > src/app.py && rm -rf .git/refs").ok
        sandbox.reset()
        assert sandbox.exec(FINGERPRINT.format(root="/testbed")).stdout == expected
        assert listing_is_current(sandbox)  # (git status may rewrite the index: checked last)
        assert sandbox.exec("git status --porcelain --ignored").stdout == status
        assert sandbox.wholesale_resets == (1 if many else 0)


@pytest.mark.docker
def test_a_deferred_restore_keeps_the_command_whole(docker_client, image):
    """The command that carries a restore gets its own stdin, folder, environment, exit code
    and output cap, and reads the restored tree."""
    with DockerSandbox.start(docker_client, image, SandboxLimits(output_cap=1000)) as sandbox:
        pristine_app = sandbox.read_file("src/app.py")
        assert sandbox.exec("echo changed > src/app.py").ok
        sandbox.reset()
        result = sandbox.exec('cat; pwd; echo "$MARK"; head -c 40 app.py; exit 3',
                              workdir="/testbed/src", env={"MARK": "m"}, stdin="in\n")
        assert result.exit_code == 3
        assert result.stdout == "in\n/testbed/src\nm\n" + pristine_app.decode()[:40]
        assert sandbox.exec("echo changed > src/app.py").ok
        sandbox.reset()
        capped = sandbox.exec("head -c 5000 /dev/zero")
        assert capped.truncated and len(capped.stdout) == 1000
        sandbox.reset()  # nothing changed: nothing to carry
        assert sandbox.read_file("src/app.py") == pristine_app


@pytest.mark.docker
def test_a_failed_deferred_restore_is_a_sandbox_error_and_the_next_reset_copies_all(
    docker_client, image, monkeypatch
):
    with DockerSandbox.start(docker_client, image, SandboxLimits()) as sandbox:
        expected = sandbox.exec(FINGERPRINT.format(root=PRISTINE)).stdout
        assert sandbox.exec("echo changed > src/app.py").ok
        sandbox.reset()
        monkeypatch.setattr(docker_sandbox, "deferred_restore",
                            lambda *args: "echo disk full >&2; exit 1")
        with pytest.raises(SandboxError, match="restoring the testbed failed: disk full"):
            sandbox.exec("echo must not run > ran.txt")
        monkeypatch.undo()
        sandbox.reset()
        assert sandbox.wholesale_resets == 1
        assert sandbox.exec(FINGERPRINT.format(root="/testbed")).stdout == expected


@pytest.mark.docker
def test_a_reset_after_every_path_changed_is_exact(docker_client, image):
    """Every pristine path touched and thousands added at once."""
    deep = "/".join(["d" * 60] * 3)
    make = f"mkdir -p {deep} && cd {deep} && seq -f 'file-%0.f-{'x' * 80}' 1 2500 | xargs touch"
    with DockerSandbox.start(docker_client, image, SandboxLimits()) as sandbox:
        expected = sandbox.exec(FINGERPRINT.format(root=PRISTINE)).stdout
        assert sandbox.exec(f"find . -exec touch {{}} + && {make}", workdir="/testbed").ok
        sandbox.reset()
        assert sandbox.exec(FINGERPRINT.format(root="/testbed")).stdout == expected
