"""The package works installed from its wheel, not only from an editable checkout: agent
definitions, environment specs and the demo suite travel as package data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel_python(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
         "-w", str(out), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stderr
    wheel = next(out.glob("harness-*.whl"))
    # Dependencies come from this interpreter's site-packages (a virtual environment's too, which
    # `system_site_packages` would miss): the test is about the package's own files, and the
    # machine may be offline. A .pth line adds a folder without running the .pth files in it, so
    # an editable install of the checkout there does not shadow the wheel.
    environment = out / "venv"
    venv.EnvBuilder(system_site_packages=False, with_pip=False).create(environment)
    python = environment / "bin" / "python"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
         "--force-reinstall", str(wheel)],
        capture_output=True, text=True, timeout=300, env=_clean_env(),
    )
    assert installed.returncode == 0, installed.stderr
    # Only now: pip, seeing the checkout's own install there, would take it for the wheel.
    (_site_packages(python) / "running-interpreter.pth").write_text(
        "\n".join(_running_site_packages()) + "\n"
    )
    return python


def _site_packages(python: Path) -> Path:
    found = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True, timeout=60,
    )
    return Path(found.stdout.strip())


def _running_site_packages() -> list[str]:
    """The folders this interpreter imports installed packages from, in its order."""
    return [entry for entry in sys.path
            if entry.endswith(("site-packages", "dist-packages")) and Path(entry).is_dir()]


def _clean_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


def test_the_wheel_carries_its_data(wheel_python, tmp_path):
    probe = (
        "import json, harness; from harness.agents.llm_config import project_agents_dir; "
        "from harness.images.specs import load_specs; "
        "from harness.selection.llm.config import load_definition; "
        "print(json.dumps({'file': harness.__file__, "
        "'agents': sorted(p.name for p in project_agents_dir().glob('*.yaml')), "
        "'selectors': [load_definition(k).selector for k in ('repro', 'judge')], "
        "'specs': sorted(s.name for s in load_specs())}))"
    )
    done = subprocess.run([str(wheel_python), "-c", probe], capture_output=True, text=True,
                          cwd=tmp_path, env=_clean_env(), timeout=120)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert str(wheel_python.parents[1]) in found["file"], found["file"]
    assert found["agents"] == ["bash.yaml", "mutation.yaml", "oneshot.yaml"]
    assert found["selectors"] == ["repro", "judge"]  # the LLM selectors' bundled definitions
    assert "demo" in found["specs"] and "sympy" in found["specs"]


@pytest.mark.docker
def test_a_run_from_the_wheel_finishes(wheel_python, tmp_path, docker_client):
    done = subprocess.run(
        [str(wheel_python), "-m", "harness", "run", "--k", "2", "--instances", "demo__textkit-1",
         "--db", str(tmp_path / "h.db"), "--cache-dir", str(tmp_path / "cache"), "--json"],
        capture_output=True, text=True, cwd=tmp_path, env=_clean_env(), timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["status"] == "finished"
    assert report["attempts_counted"] == 2
