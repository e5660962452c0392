"""A host-side wheelhouse: the Python packages of an environment spec, fetched by the host's pip.

Build containers may be unable to reach PyPI (no network, or a TLS proxy whose root CA the
Debian image lacks), while the host's pip can. So the wheels are downloaded on the host for the
container's interpreter (`--python-version/--abi/--platform`), copied into the build container,
and installed there with `pip install --no-index --find-links`. A requirement that PyPI has only
as an sdist is built into a wheel on the host (`pip wheel --no-deps`) when it is pure Python.
One with C extensions, or one whose build the host's newest setuptools refuses, is built for
the sandbox's interpreter by an `SdistBuilder` (images.py gives one that runs `pip wheel` in a
container of the spec's Debian suite, with Debian's gcc and pinned build requirements);
without a builder it fails with a clear error.

`pip download --python-version` picks wheels for the target but evaluates dependency markers
(`python_version < "3.11"`) for the interpreter pip runs in, so a Python 3.11 host would leave
out what Python 3.9 needs, or ask for what only 3.11 needs (pandas 1.3 wants numpy >= 1.21
there). pip therefore runs in a host interpreter of the target's version when there is one
(on PATH as pythonX.Y, or under ~/.pyenv/versions); either way the wheelhouse is closed
afterwards: every wheel's Requires-Dist is evaluated for the target and whatever is missing is
downloaded too.

Wheelhouses are cached under the harness cache folder by a hash of (requirements, Python), and
a finished one is marked by a manifest, so a crash never leaves half a wheelhouse in use.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from email.parser import HeaderParser
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from harness.locks import default_cache_dir, file_lock
from harness.sandboxes.base import ImageBuildError

PIP_TIMEOUT = 20 * 60
MANIFEST = "wheelhouse.json"
# Newer manylinux tags first; pip accepts several --platform values at once.
PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
    "linux_x86_64",
)

Log = Callable[[str], None]
# (sdist file, folder of wheels it may need to build, output folder) -> wheels in the output.
SdistBuilder = Callable[[Path, Path, Path], None]
# What a plain setuptools sdist needs to build without an index.
BUILD_REQUIREMENTS = ("setuptools==68.0.0", "wheel==0.43.0")


def wheelhouse_key(
    requirements: Sequence[str], python_version: str, extra: Sequence[str] = ()
) -> str:
    payload: dict[str, object] = {
        "requirements": list(requirements), "python": python_version, "recipe": 1
    }
    if extra:
        payload["extra"] = list(extra)
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


@functools.cache
def host_python(python_version: str) -> str:
    """A host interpreter of `python_version` that has pip, else the one running the harness."""
    if ".".join(map(str, sys.version_info[:2])) == python_version:
        return sys.executable
    candidates = [shutil.which(f"python{python_version}") or ""]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates += [str(path / "bin" / "python") for path in sorted(
        pyenv.glob(f"{python_version}.*"),
        key=lambda path: [int(part) for part in path.name.split(".")[2:3] if part.isdigit()],
        reverse=True,
    )]
    for candidate in candidates:
        if not candidate or not Path(candidate).is_file():
            continue
        try:
            probe = subprocess.run(
                [candidate, "-c", "import sys, pip; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True, text=True, timeout=60,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0 and probe.stdout.strip() == python_version:
            return candidate
    return sys.executable


def _pip(
    args: list[str], log: Log, python: str | None = None
) -> subprocess.CompletedProcess[str]:
    command = [python or sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    log("$ " + " ".join(command))
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise ImageBuildError(
            f"host pip took more than {PIP_TIMEOUT} s: {' '.join(args)}"
        ) from None


def _target_args(python_version: str) -> list[str]:
    digits = python_version.replace(".", "")
    args = ["--python-version", python_version, "--implementation", "cp", "--abi", f"cp{digits}"]
    for platform in PLATFORMS:
        args += ["--platform", platform]
    return args


def _download(requirements: Sequence[str], python_version: str, dest: Path, log: Log) -> str:
    """Downloads wheels for `requirements` and their dependencies; returns pip's error or ''."""
    done = _pip(
        ["download", "--dest", str(dest), "--only-binary=:all:", *_target_args(python_version),
         *requirements],
        log,
        host_python(python_version),
    )
    return "" if done.returncode == 0 else (done.stderr or done.stdout).strip()


class PlatformWheel(ImageBuildError):
    """The host built a wheel with compiled code, which cannot serve the sandbox's Python."""


def _build_sdist_wheel(requirement: str, dest: Path, log: Log) -> None:
    done = _pip(["wheel", "--no-deps", "--wheel-dir", str(dest), requirement], log)
    if done.returncode != 0:
        raise ImageBuildError(
            f"{requirement!r} has no wheel for the sandbox's Python and building one on the "
            f"host failed:\n{(done.stderr or done.stdout).strip()[-2000:]}"
        )
    for wheel in dest.glob("*.whl"):
        if not wheel.name.endswith("-none-any.whl"):
            raise PlatformWheel(
                f"{requirement!r} built a platform wheel ({wheel.name}) on the host; it cannot "
                "serve the sandbox's interpreter. Pin a version that PyPI has as a wheel."
            )


def _build_in_container(
    requirement: str, python_version: str, dest: Path, builder: SdistBuilder, log: Log
) -> None:
    """Fetches `requirement`'s sdist on the host and has `builder` compile it for the sandbox."""
    work = Path(tempfile.mkdtemp(prefix=".container-build-", dir=dest.parent))
    try:
        sdists, deps, out = work / "sdist", work / "deps", work / "out"
        for folder in (sdists, deps, out):
            folder.mkdir()
        # pip prepares an sdist's metadata even to download it, so it runs in a host Python
        # of the target's version; an old sdist that the newest setuptools of an isolated
        # build refuses (astropy-helpers 3.0 imports pkg_resources) gets that Python's own.
        fetch = ["download", "--no-deps", "--no-binary", ":all:", "--dest", str(sdists),
                 requirement]
        python = host_python(python_version)
        done = _pip(fetch, log, python)
        if done.returncode != 0:
            for partial in sdists.iterdir():
                partial.unlink()
            done = _pip([*fetch, "--no-build-isolation"], log, python)
        found = sorted(sdists.iterdir())
        if done.returncode != 0 or len(found) != 1:
            raise ImageBuildError(
                f"could not fetch the sdist of {requirement!r}: {(done.stderr or '')[-1000:]}"
            )
        error = _download(list(BUILD_REQUIREMENTS), python_version, deps, log)
        if error:
            raise ImageBuildError(f"could not fetch {BUILD_REQUIREMENTS}: {error[-1000:]}")
        log(f"compiling {found[0].name} for Python {python_version} in a build container")
        builder(found[0], deps, out)
        wheels = sorted(out.glob("*.whl"))
        if not wheels:
            raise ImageBuildError(f"building {found[0].name} in a container made no wheel")
        for wheel in wheels:
            shutil.move(str(wheel), dest / wheel.name)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def ensure_wheelhouse(
    requirements: Sequence[str],
    python_version: str,
    cache_dir: Path | None = None,
    log: Log = lambda line: None,
    builder: SdistBuilder | None = None,
    extra: Sequence[str] = (),
) -> Path:
    """A folder of wheels that installs `requirements` offline on CPython `python_version`;
    `builder` compiles sdists with C extensions for it (none: such a requirement fails).
    Each of `extra` is fetched too, on its own, so it may conflict with `requirements` (a
    second version of a dependency, for an install step to pick).

    Raises ImageBuildError saying which requirement could not be fetched and why.
    """
    root = (cache_dir or default_cache_dir()) / "wheelhouses"
    target = root / f"py{python_version}-{wheelhouse_key(requirements, python_version, extra)}"
    if (target / MANIFEST).is_file():
        return target
    with file_lock(f"wheelhouse:{target}"):
        if (target / MANIFEST).is_file():
            return target
        root.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".wheelhouse-", dir=root))
        try:
            _fill(list(requirements), python_version, scratch, log, builder)
            for requirement in extra:
                _fill([requirement], python_version, scratch, log, builder)
            _close(scratch, python_version, log)
            wheels = sorted(path.name for path in scratch.glob("*.whl"))
            manifest = {"requirements": list(requirements), "extra": list(extra),
                        "python": python_version, "wheels": wheels}
            (scratch / MANIFEST).write_text(json.dumps(manifest, indent=1))
            if target.exists():
                shutil.rmtree(target)
            scratch.rename(target)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    log(f"wheelhouse {target.name}: {len(list(target.glob('*.whl')))} wheels")
    return target


def _fill(
    requirements: list[str], python_version: str, dest: Path, log: Log,
    builder: SdistBuilder | None = None,
) -> None:
    if not requirements:
        return
    error = _download(requirements, python_version, dest, log)
    if not error:
        return
    # Some requirement has no wheel: find which, one by one, and build those on the host.
    log(f"not every requirement has a wheel for Python {python_version}; trying one by one")
    sdist_only: list[str] = []
    for requirement in requirements:
        if _download([requirement], python_version, dest, log):
            sdist_only.append(requirement)
    for requirement in sdist_only:
        built = Path(tempfile.mkdtemp(prefix=".sdist-", dir=dest.parent))
        try:
            try:
                _build_sdist_wheel(requirement, built, log)
            except ImageBuildError as error:
                # A platform wheel, or a build the host's newest setuptools refuses (an old
                # sdist that imports pkg_resources, astropy-helpers 3.0): the build container,
                # with its pinned BUILD_REQUIREMENTS, builds either for the sandbox.
                if builder is None:
                    raise
                if not isinstance(error, PlatformWheel):
                    log(f"building {requirement!r} on the host failed; trying the container")
                _build_in_container(requirement, python_version, dest, builder, log)
                continue
            for wheel in built.glob("*.whl"):
                shutil.move(str(wheel), dest / wheel.name)
        finally:
            shutil.rmtree(built, ignore_errors=True)
    # The dependencies of the built ones, now that pip finds them in `dest` too.
    error = _download(
        [*requirements, "--find-links", str(dest)], python_version, dest, log
    )
    if error:
        raise ImageBuildError(
            f"could not fetch wheels for Python {python_version} of {requirements}: {error[-2000:]}"
        )


def _marker_environment(python_version: str) -> dict[str, str]:
    return {
        "python_version": python_version,
        "python_full_version": f"{python_version}.0",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "platform_machine": "x86_64",
        "extra": "",
    }


def _wheel_requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(
            (item for item in archive.namelist() if item.endswith(".dist-info/METADATA")), None
        )
        if name is None:
            return []
        metadata = HeaderParser().parsestr(archive.read(name).decode("utf-8", "replace"))
    return metadata.get_all("Requires-Dist") or []


def missing_requirements(dest: Path, python_version: str) -> list[str]:
    """Dependencies of the wheels in `dest` that, on CPython `python_version`, no wheel in
    `dest` satisfies (without their markers, ready for `pip download`)."""
    available: dict[str, list[str]] = {}
    wheels = sorted(dest.glob("*.whl"))
    for wheel in wheels:
        name, version, _, _ = parse_wheel_filename(wheel.name)
        available.setdefault(canonicalize_name(name), []).append(str(version))
    environment = _marker_environment(python_version)
    missing: dict[str, str] = {}
    for wheel in wheels:
        for text in _wheel_requirements(wheel):
            try:
                requirement = Requirement(text)
            except InvalidRequirement:
                continue
            if requirement.marker is not None and not requirement.marker.evaluate(environment):
                continue
            versions = available.get(canonicalize_name(requirement.name), [])
            if any(requirement.specifier.contains(v, prereleases=True) for v in versions):
                continue
            requirement.marker = None
            missing.setdefault(str(requirement), str(requirement))
    return sorted(missing)


def _close(dest: Path, python_version: str, log: Log) -> None:
    for _ in range(6):
        missing = missing_requirements(dest, python_version)
        if not missing:
            return
        log(f"dependencies for Python {python_version} that the host's pip left out: {missing}")
        error = _download([*missing, "--find-links", str(dest)], python_version, dest, log)
        if error:
            raise ImageBuildError(
                f"could not fetch {missing} for Python {python_version}: {error[-2000:]}"
            )
    raise ImageBuildError(f"the wheelhouse for Python {python_version} does not close: {missing}")
