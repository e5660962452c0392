"""`python -m harness doctor`: what this host has and lacks for a run, and what to do about each.

Every check is one line: `ok`, `warn` (works, but worth knowing) or `FAIL` (a run will not work)
with the fix. Exit code 0 when nothing failed, 1 otherwise. Nothing is changed: `./setup.sh`
installs what can be installed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# Below this much free space a long run's images and store may not fit.
LOW_DISK_BYTES = 20 * 2**30
REGISTRY_TIMEOUT_SECONDS = 3.0
DEFAULT_REGISTRY = "registry-1.docker.io"


@dataclass(frozen=True)
class Check:
    name: str
    level: str  # "ok", "warn" or "FAIL"
    detail: str

    def line(self) -> str:
        return f"{self.level:<4}  {self.name}: {self.detail}"


def _docker_client():
    import docker

    client = docker.from_env(timeout=10)
    client.ping()
    return client


def check_docker() -> list[Check]:
    try:
        client = _docker_client()
    except Exception as error:  # any failure to reach the daemon means the same to a user
        return [Check("docker", "FAIL", f"no daemon reachable ({error}); start Docker "
                      "(e.g. `systemctl start docker`) or set DOCKER_HOST")]
    info = client.info()
    checks = [Check("docker", "ok", f"Docker {info.get('ServerVersion')}, storage "
                    f"{info.get('Driver')}, {info.get('NCPU')} CPUs")]
    root = Path(info.get("DockerRootDir") or "/var/lib/docker")
    if root.exists():
        checks.append(_disk("docker disk", root))
    from harness.images.debootstrap import SUITE_PYTHON, BaseImageSpec, image_exists

    present = [suite for suite in sorted(SUITE_PYTHON)
               if image_exists(client, BaseImageSpec(suite=suite).tag)]
    checks.append(Check("base images", "ok", f"built: {', '.join(present)}" if present else
                        "none built yet: the first run builds one with debootstrap (~1 min)"))
    client.close()
    return checks


def check_debootstrap() -> Check:
    from harness.backends.docker_backend import debootstrap_path

    found = debootstrap_path()
    if found:
        return Check("debootstrap", "ok", found)
    return Check("debootstrap", "FAIL", "not installed; it builds base images without a "
                 "registry: run ./setup.sh, or as root `apt-get install debootstrap`")


def _disk(name: str, path: Path) -> Check:
    usage = shutil.disk_usage(path)
    free = f"{usage.free / 2**30:.0f} GiB free at {path}"
    if usage.free < LOW_DISK_BYTES:
        return Check(name, "warn", f"{free}; images and stores of long runs need more")
    return Check(name, "ok", free)


def check_registry(registry: str) -> Check:
    """A registry answers /v2/ (401 counts: it is there, it wants a token)."""
    scheme = "http" if registry.startswith(("127.", "localhost")) else "https"
    url = f"{scheme}://{registry}/v2/"
    try:
        urllib.request.urlopen(url, timeout=REGISTRY_TIMEOUT_SECONDS)  # noqa: S310
    except urllib.error.HTTPError as error:
        if error.code in (200, 401):
            return Check("registry", "ok", f"{registry} answers")
        return Check("registry", "warn", f"{registry} answered HTTP {error.code}")
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return Check("registry", "warn", f"{registry} not reachable ({reason}); images are "
                     "built locally (`--images build`)")
    return Check("registry", "ok", f"{registry} answers")


def check_mirrors(repos_dir: str | None) -> Check:
    if not repos_dir:
        return Check("mirrors", "ok", "none given: real SWE-bench repositories are cloned from "
                     "GitHub on first use (--repos-dir DIR uses local mirrors)")
    root = Path(repos_dir)
    if not root.is_dir():
        return Check("mirrors", "FAIL", f"{root} is not a directory")
    found = sorted(f"{owner.name}/{repo.name}" for owner in root.iterdir() if owner.is_dir()
                   for repo in owner.iterdir() if (repo / "HEAD").exists()
                   or (repo / ".git").exists())
    if not found:
        return Check("mirrors", "warn", f"no git repository under {root}/<owner>/<name>")
    return Check("mirrors", "ok", f"{len(found)} in {root}: {', '.join(found)}")


def check_cache(cache_dir: str) -> Check:
    path = Path(cache_dir)
    probe = path if path.exists() else next((p for p in path.parents if p.exists()), Path("."))
    if not os.access(probe, os.W_OK):
        return Check("cache", "FAIL", f"{probe} is not writable: pass --cache-dir")
    return _disk("cache", probe)


# extra -> (module that shows it is installed, what it adds)
EXTRAS = {
    "dev": ("pytest", "the test suite"),
    "local": ("llama_cpp", "a real local model (SmolLM2-135M via llama.cpp)"),
    "hf": ("datasets", "official dataset names from the Hugging Face Hub"),
    "postgres": ("psycopg", "PostgreSQL stores (postgresql:// URLs)"),
    "ray": ("ray", "--executor ray"),
    "crosscheck": ("swebench", "the cross-check of our log parsers against the official ones"),
}


def check_extras() -> list[Check]:
    checks = []
    for extra, (module, purpose) in EXTRAS.items():
        if importlib.util.find_spec(module) is not None:
            checks.append(Check(f"extra {extra}", "ok", purpose))
        else:
            checks.append(Check(f"extra {extra}", "warn", f"not installed; for {purpose}: "
                                f"./setup.sh {extra}"))
    return checks


def run_checks(args: argparse.Namespace) -> list[Check]:
    checks: list[Check] = []
    steps: list[Callable[[], Check | list[Check]]] = [
        check_docker,
        check_debootstrap,
        lambda: check_cache(args.cache_dir),
        lambda: check_mirrors(args.repos_dir),
        lambda: check_registry(args.image_registry),
        check_extras,
    ]
    for step in steps:
        result = step()
        checks += result if isinstance(result, list) else [result]
    return checks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repos-dir", default=os.environ.get("HARNESS_MIRRORS"),
                        help="local mirrors to check (default $HARNESS_MIRRORS)")
    parser.add_argument("--cache-dir", default=str(Path("results") / "cache"),
                        help="cache directory to check (default results/cache)")
    parser.add_argument("--image-registry", default=DEFAULT_REGISTRY,
                        help=f"registry whose reachability to check (default {DEFAULT_REGISTRY})")


def register(commands: argparse._SubParsersAction) -> None:
    doctor = commands.add_parser("doctor", help="check what this host has and lacks for a run")
    add_arguments(doctor)
    doctor.set_defaults(handler=command_doctor)


def command_doctor(args: argparse.Namespace) -> int:
    checks = run_checks(args)
    for check in checks:
        print(check.line())
    failed = [check.name for check in checks if check.level == "FAIL"]
    if failed:
        print(f"{len(failed)} check(s) failed: {', '.join(failed)}")
        return 1
    print("ready: `python -m harness run --k 250` runs the demo suite")
    return 0
