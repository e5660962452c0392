"""A real image registry on loopback for tests and benchmarks, and an image in the official
SWE-bench layout made from one of our demo instance images.

The registry is Debian's `docker-registry` (the CNCF distribution registry), started with a
config file of the caller's own on a free 127.0.0.1 port. dockerd treats 127.0.0.0/8 as an
insecure registry by default (`docker info` lists it under "Insecure Registries"), so plain
HTTP on loopback needs no daemon configuration.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import docker

CONFIG = """\
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""

# Stand-in for conda's activate script: sourcing it defines `conda activate ENV` for POSIX
# shells, which puts the env's bin folder first on PATH, as conda does.
ACTIVATE = """\
conda() {
  if [ "$1" = activate ]; then
    CONDA_PREFIX="/opt/miniconda3/envs/$2"; CONDA_DEFAULT_ENV="$2"
    PATH="$CONDA_PREFIX/bin:$PATH"; export PATH CONDA_PREFIX CONDA_DEFAULT_ENV
  fi
}
"""
STANDIN_STEPS = [
    # Our layout keeps the pristine tree at /opt/testbed; the official one has it at /testbed.
    "rmdir /testbed && mv /opt/testbed /testbed",
    "mkdir -p /opt/miniconda3/bin /opt/miniconda3/envs/testbed/bin",
    "ln -s /usr/bin/python3 /opt/miniconda3/envs/testbed/bin/python",
    "ln -s /usr/bin/python3 /opt/miniconda3/envs/testbed/bin/python3",
    "printf '#!/bin/sh\\nexec /usr/bin/python3 -m pytest \"$@\"\\n' "
    "> /opt/miniconda3/envs/testbed/bin/pytest && chmod +x /opt/miniconda3/envs/testbed/bin/pytest",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalRegistry:
    def __init__(self, folder: Path) -> None:
        binary = shutil.which("docker-registry")
        if binary is None:
            raise FileNotFoundError("docker-registry is not installed (apt-get install "
                                    "docker-registry; see tools/setup/apt-packages.txt)")
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "config.yml"
        config.write_text(CONFIG.format(root=folder / "data", port=self.port))
        self.log = open(folder / "registry.log", "wb")
        self.process = subprocess.Popen([binary, "serve", str(config)], stdout=self.log,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://{self.address}/v2/", timeout=2):
                    break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.close()
                    raise RuntimeError(f"no registry started; see {folder}/registry.log") from None
                time.sleep(0.1)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


def make_official_standin(client: docker.DockerClient, instance_image: str, tag: str) -> str:
    """Commits `tag`: our instance image rearranged into the official layout (repository at
    /testbed, a stand-in conda env `testbed` under /opt/miniconda3 whose python is ours)."""
    container = client.containers.run(instance_image, ["sleep", "infinity"], detach=True,
                                      init=True)
    try:
        for step in STANDIN_STEPS:
            code, output = container.exec_run(["sh", "-c", step])
            assert code == 0, (step, output)
        put = _tar_file("opt/miniconda3/bin/activate", ACTIVATE)
        assert container.put_archive("/", put)
        repository, version = tag.rsplit(":", 1)
        # Not ours once rearranged: the labels say so, so nothing treats it as our layout.
        changes = ["LABEL harness=0", "LABEL harness.tier=official-standin"]
        container.commit(repository=repository, tag=version, changes=changes)
    finally:
        container.remove(force=True)
    return tag


def _tar_file(path: str, content: str) -> bytes:
    import io
    import tarfile

    buffer = io.BytesIO()
    data = content.encode()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo(path)
        info.size = len(data)
        info.mode = 0o644
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
