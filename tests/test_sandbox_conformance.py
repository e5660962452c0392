"""What every Sandbox backend must do. Add a backend to BACKENDS and it runs every test here;
the tests of isolation limits run on the backends that claim to enforce them.

The sandboxes come from a throwaway repository: built into a tiny instance image for Docker,
used as the image folder by the local (bubblewrap) backend.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker.errors
import pytest
from needs import bubblewrap_present

from harness.images.build import prepare_instance_image
from harness.repos import RepoSource
from harness.sandboxes.base import Sandbox, SandboxError, SandboxTimeout
from harness.sandboxes.docker_sandbox import DockerSandbox, SandboxLimits
from harness.sandboxes.local_sandbox import LocalLimits, LocalSandbox, interpreter_dirs
from harness.tasks import Task

# Small limits, so that the tests of the limits are quick.
LIMITS = SandboxLimits(
    memory="256m", cpus=1.0, pids=64, testbed_size="64m", tmp_size="16m", output_cap=10_000
)



@dataclass(frozen=True)
class Backend:
    start: Callable[[pytest.FixtureRequest], Sandbox]
    # Isolation limits the backend enforces: network, memory, pids, read_only_root, disk; and
    # cpu_time when compute_seconds is measured CPU time (not wall time x CPUs).
    enforces: frozenset[str]


def _docker(request: pytest.FixtureRequest) -> Sandbox:
    client = request.getfixturevalue("docker_client")
    return DockerSandbox.start(client, request.getfixturevalue("instance_image"), LIMITS)


class _WholesaleReset(DockerSandbox):
    restore_limit = -1  # every reset copies the whole tree back: the fallback path


def _docker_wholesale(request: pytest.FixtureRequest) -> Sandbox:
    client = request.getfixturevalue("docker_client")
    return _WholesaleReset.start(client, request.getfixturevalue("instance_image"), LIMITS)


def _local(request: pytest.FixtureRequest) -> Sandbox:
    bubblewrap_present()
    limits = LocalLimits(output_cap=LIMITS.output_cap, memory_bytes=256 * 2**20)
    return LocalSandbox.start(request.getfixturevalue("conformance_repo")[0], limits)


BACKENDS = {
    "docker": Backend(
        _docker, frozenset({"network", "memory", "pids", "read_only_root", "disk", "cpu_time"})
    ),
    "docker-wholesale-reset": Backend(
        _docker_wholesale,
        frozenset({"network", "memory", "pids", "read_only_root", "disk", "cpu_time"}),
    ),
    "local": Backend(_local, frozenset({"network", "memory", "read_only_root"})),
}

SPEC = """\
name: conformance
repos: ["local/*"]
suite: bullseye
test_cmd: python3 -m pytest -rA -p no:cacheprovider
test_timeout: 60
"""


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture(scope="module")
def conformance_repo(tmp_path_factory) -> tuple[Path, str]:
    """A git work tree at its base commit, and that commit."""
    root = tmp_path_factory.mktemp("conformance")
    repo = root / "repos" / "local" / "app"
    (repo / "src").mkdir(parents=True)
    git("init", "--quiet", cwd=repo)
    (repo / ".gitignore").write_text("*.log\nbuild/\n")
    (repo / "README.md").write_text("hello\n")
    (repo / "src" / "app.py").write_text("def answer():\n    return 41\n")
    git("add", "-A", cwd=repo)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base", cwd=repo)
    return repo, git("rev-parse", "HEAD", cwd=repo)


@pytest.fixture(scope="module")
def instance_image(docker_client, conformance_repo):
    repo, base = conformance_repo
    root = repo.parents[2]
    (root / "specs").mkdir()
    (root / "specs" / "app.yaml").write_text(SPEC)
    task = Task("local__app-1", "local/app", base, "issue", "", "", ("t",), ())
    repos = RepoSource(root / "repos", root / "cache")
    tag = prepare_instance_image(docker_client, task, repos, spec_dir=root / "specs")
    yield tag
    docker_client.images.remove(tag, force=True)


@pytest.fixture(
    params=[
        pytest.param("docker", marks=pytest.mark.docker),
        pytest.param("docker-wholesale-reset", marks=pytest.mark.docker),
        "local",
    ]
)
def sandbox(request):
    box = BACKENDS[request.param].start(request)
    yield box
    box.close()


@pytest.fixture
def enforced(request) -> frozenset[str]:
    return BACKENDS[request.node.callspec.params["sandbox"]].enforces


def needs(enforced: frozenset[str], limit: str) -> None:
    if limit not in enforced:
        pytest.skip(f"this backend does not enforce the {limit} limit")


def test_exec_stdout_stderr_exit_code(sandbox: Sandbox) -> None:
    result = sandbox.exec("echo out; echo err >&2; exit 3")
    assert (result.stdout, result.stderr, result.exit_code) == ("out\n", "err\n", 3)
    assert not result.ok and not result.timed_out and not result.truncated
    assert sandbox.exec("pwd").stdout == "/testbed\n"
    assert sandbox.exec("pwd", workdir="/tmp").stdout == "/tmp\n"


def test_exec_env_and_stdin(sandbox: Sandbox) -> None:
    result = sandbox.exec('echo "$GREETING $HOME"', env={"GREETING": "hi there"})
    assert result.stdout == "hi there /tmp\n"
    text = "line one\nünïcode\n" * 1000
    assert sandbox.exec("wc -l", stdin=text).stdout.strip() == "2000"
    assert sandbox.exec("cat > /dev/null; echo done", stdin="").stdout == "done\n"


def test_timeout_kills_children(sandbox: Sandbox) -> None:
    script = "sleep 1001 & setsid sleep 1002 & echo started; sleep 1000"
    result = sandbox.exec(script, timeout=1)
    assert result.timed_out and result.exit_code == 124
    assert result.stdout == "started\n"
    assert result.seconds < 10
    left = sandbox.exec("ps -eo args").stdout
    assert "sleep 100" not in left, left


def test_command_exiting_124_quickly_is_not_a_timeout(sandbox: Sandbox) -> None:
    result = sandbox.exec("exit 124", timeout=30)
    assert result.exit_code == 124 and not result.timed_out


def test_output_cap_truncates(sandbox: Sandbox) -> None:
    result = sandbox.exec("head -c 50000 /dev/zero | tr '\\0' a; echo tail >&2")
    assert result.truncated and result.exit_code == 0
    assert result.stdout == "a" * LIMITS.output_cap
    assert result.stderr == "tail\n"


def test_read_file_errors(sandbox: Sandbox) -> None:
    with pytest.raises(FileNotFoundError):
        sandbox.read_file("/testbed/nope.txt")
    sandbox.exec("head -c 2000 /dev/zero > /tmp/big")
    with pytest.raises(ValueError):
        sandbox.read_file("/tmp/big", max_bytes=1000)
    assert sandbox.read_file("README.md") == b"hello\n"


def test_binary_round_trip_and_parents(sandbox: Sandbox) -> None:
    blob = bytes(range(256)) * 64 + os.urandom(300_000)
    sandbox.write_file("/testbed/deep/er/blob.bin", blob)
    assert sandbox.read_file("/testbed/deep/er/blob.bin") == blob
    sandbox.write_file("/tmp/a/b/c.txt", "text ✓")
    assert sandbox.read_file("/tmp/a/b/c.txt").decode() == "text ✓"


def test_write_outside_writable_places_fails(sandbox: Sandbox, enforced: frozenset[str]) -> None:
    needs(enforced, "read_only_root")
    with pytest.raises(SandboxError):
        sandbox.write_file("/usr/local/x.txt", "nope")


def test_diff_shows_modified_and_untracked(sandbox: Sandbox) -> None:
    assert sandbox.diff() == ""
    sandbox.write_file("src/app.py", "def answer():\n    return 42\n")
    sandbox.write_file("src/new.py", "NEW = True\n")
    sandbox.write_file("debug.log", "ignored\n")
    sandbox.write_file("pic.bin", b"\x00\x01\x02")
    diff = sandbox.diff()
    assert "-    return 41\n+    return 42" in diff
    assert "+++ b/src/new.py" in diff and "+NEW = True" in diff
    assert "GIT binary patch" in diff
    assert "debug.log" not in diff
    # The agent's own index is untouched: nothing got staged.
    assert sandbox.exec("git diff --cached --name-only").stdout == ""


def test_reset_restores_everything(sandbox: Sandbox) -> None:
    sandbox.exec("rm README.md && echo x > untracked.txt && mkdir build && echo y > build/o.log")
    sandbox.exec("echo t > /tmp/scratch && git add -A && git -c user.name=a commit -qm gone")
    sandbox.exec("sleep 1000 &")
    sandbox.reset()
    # (Images carry their modules' bytecode, ignored by git: not a change.)
    status = sandbox.exec(
        "git status --porcelain --ignored | grep -v __pycache__; git log --oneline | wc -l"
    )
    assert status.stdout == "1\n"
    assert sandbox.read_file("README.md") == b"hello\n"
    # Only the mount point of the tests' own interpreter may be there (the local backend shows
    # a virtual environment made under /tmp, as CI makes one).
    mount_points = {Path(d).parts[2] for d in interpreter_dirs() if d.startswith("/tmp/")}
    assert set(sandbox.exec("ls -A /tmp").stdout.split()) <= mount_points
    assert "sleep 1000" not in sandbox.exec("ps -eo args").stdout
    assert sandbox.diff() == ""


def test_network_is_off(sandbox: Sandbox, enforced: frozenset[str]) -> None:
    needs(enforced, 'network')
    script = "import socket; socket.create_connection(('1.1.1.1', 53), timeout=3)"
    assert not sandbox.exec(f'python3 -c "{script}"').ok
    interfaces = sandbox.exec("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '").stdout
    assert interfaces.split() == ["lo"]


def test_memory_limit(sandbox: Sandbox, enforced: frozenset[str]) -> None:
    needs(enforced, 'memory')
    result = sandbox.exec("python3 -c \"x = b'x' * (400 * 2**20); print('survived')\"")
    assert not result.ok and "survived" not in result.stdout
    assert sandbox.exec("echo alive").stdout == "alive\n"


def test_pids_limit(sandbox: Sandbox, enforced: frozenset[str]) -> None:
    needs(enforced, 'pids')
    bomb = (
        "import os, time\n"
        "children = 0\n"
        "try:\n"
        "    for _ in range(200):\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(4)\n"
        "            os._exit(0)\n"
        "        children += 1\n"
        "except OSError as error:\n"
        "    print('fork failed:', error)\n"
        "print(children)\n"
    )
    result = sandbox.exec("python3", stdin=bomb, timeout=30)
    assert "fork failed" in result.stdout
    assert int(result.stdout.split()[-1]) < LIMITS.pids
    recovered = False
    for _ in range(30):
        try:
            recovered = sandbox.exec("true").ok
        except SandboxError:
            pass
        if recovered:
            break
        time.sleep(0.5)
    assert recovered, "the sandbox must work again once the processes end"


def test_root_file_system_is_read_only(sandbox: Sandbox, enforced: frozenset[str]) -> None:
    needs(enforced, 'read_only_root')
    result = sandbox.exec("touch /usr/x")
    assert not result.ok and "Read-only file system" in result.stderr


def test_writable_space_is_bounded(sandbox: Sandbox, enforced: frozenset[str]) -> None:
    needs(enforced, 'disk')
    assert not sandbox.exec("head -c 32m /dev/zero > /tmp/fill").ok
    assert not sandbox.exec("head -c 100m /dev/zero > /testbed/fill").ok
    sandbox.exec("rm -f /tmp/fill /testbed/fill")


def test_compute_seconds_are_cpu_time(sandbox: Sandbox, enforced: frozenset[str]) -> None:
    needs(enforced, "cpu_time")
    before = sandbox.compute_seconds
    sandbox.exec("sleep 1")
    idle = sandbox.compute_seconds - before
    # Spins until the shell itself has used half a second of CPU, however busy the host is.
    spin = "python3 -c 'import time\nwhile time.process_time() < 0.5: pass'"
    before = sandbox.compute_seconds
    assert sandbox.exec(spin, timeout=120).ok
    busy = sandbox.compute_seconds - before
    assert idle < 0.3 and busy >= 0.45, (idle, busy)


def test_close_is_idempotent_and_final(sandbox: Sandbox) -> None:
    with sandbox as same:
        assert same.exec("true").ok
    sandbox.close()
    with pytest.raises(SandboxError):
        sandbox.exec("true")


# Docker specifics: the container itself.


@pytest.mark.docker
def test_docker_close_removes_container(docker_client, instance_image) -> None:
    box = DockerSandbox.start(docker_client, instance_image, LIMITS)
    container = docker_client.containers.get(box.container_id)
    assert container.labels["harness.tier"] == "sandbox"
    box.close()
    box.close()
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(box.container_id)


@pytest.mark.docker
def test_docker_host_deadline_kills_sandbox(docker_client, instance_image) -> None:
    limits = SandboxLimits(grace_seconds=1.0)
    with DockerSandbox.start(docker_client, instance_image, limits) as box:
        # Ignoring TERM keeps `timeout` waiting 5 s before its KILL: past the host's deadline.
        with pytest.raises(SandboxTimeout):
            box.exec("trap '' TERM; sleep 30", timeout=1)
        with pytest.raises(docker.errors.NotFound):
            docker_client.containers.get(box.container_id)


@pytest.mark.docker
def test_docker_dead_container_is_a_sandbox_error(docker_client, instance_image) -> None:
    with DockerSandbox.start(docker_client, instance_image, LIMITS) as box:
        docker_client.containers.get(box.container_id).kill()
        with pytest.raises(SandboxError, match="not running"):
            box.exec("true")


@pytest.mark.docker
def test_docker_image_without_testbed_is_refused(docker_client) -> None:
    from harness.images.debootstrap import ensure_base_image

    def sandboxes() -> set[str]:
        listed = docker_client.containers.list(all=True, filters={"label": "harness.tier=sandbox"})
        return {container.id for container in listed}

    # Other processes may run sandboxes meanwhile: only a container of this call would count.
    before = sandboxes()
    with pytest.raises(SandboxError, match="/opt/testbed"):
        DockerSandbox.start(docker_client, ensure_base_image(docker_client), LIMITS)
    image = ensure_base_image(docker_client)
    left = [
        container_id for container_id in sandboxes() - before
        if docker_client.containers.get(container_id).image.tags == [image]
    ]
    assert left == []
