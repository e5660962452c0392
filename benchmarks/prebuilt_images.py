"""Prebuilt image vs our own build, for one demo instance, with a real registry on loopback.

    python benchmarks/prebuilt_images.py [--repeats 5] [--ballast-mb 300]

Prints:
  - the time to get the environment by pulling it from the local registry (pull, then the
    one-time adaptation to our sandbox) vs the time to build it here (env and instance tiers;
    the Debian base image is cached in both cases, so debootstrap is not counted);
  - per-candidate evaluation time (the gold patch, median of --repeats) on the prebuilt image
    vs on ours, and their ratio (goal: <= 1.0);
  - the reset between candidates (median) on both, and on an official-layout image whose
    testbed carries --ballast-mb of extra files (a django-sized tree).

The "official" image is a stand-in made from our instance image (tests/registry_helpers.py):
its lower layers are already on this host, so the pull moves only its own top layer. A pull
from Docker Hub moves gigabytes and is not measured here (no network). Needs Docker and the
`docker-registry` binary. Not a test: nothing is asserted, figures are printed.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import docker  # noqa: E402
import docker.errors  # noqa: E402

from harness.demo import load_demo_tasks  # noqa: E402
from harness.evaluation.evaluator import TestSetup, evaluate  # noqa: E402
from harness.images.build import prepare_instance_image  # noqa: E402
from harness.images.image_names import ImageOptions, prebuilt_name  # noqa: E402
from harness.images.prebuilt import ImageResolver  # noqa: E402
from harness.images.registry import Puller, human_size, push_image  # noqa: E402
from harness.images.specs import DEFAULT_SPEC_DIR, spec_for  # noqa: E402
from harness.repos import RepoSource  # noqa: E402
from harness.sandboxes.docker_sandbox import DockerSandbox, SandboxLimits  # noqa: E402
from tests.registry_helpers import LocalRegistry, make_official_standin  # noqa: E402


def _remove(client: docker.DockerClient, *names: str) -> None:
    for name in names:
        try:
            client.images.remove(name, force=True)
        except docker.errors.ImageNotFound:
            pass


class WholesaleReset(DockerSandbox):
    """The baseline: every reset copies the whole tree back, as before path-by-path resets."""

    restore_limit = -1


def _median_eval(
    client, image, task, setup, repeats: int, kind=DockerSandbox, limits=None
) -> tuple[float, float, str]:
    """(median evaluation seconds, median reset seconds, last status) in one sandbox."""
    seconds, resets = [], []
    with kind.start(client, image, limits or SandboxLimits()) as sandbox:
        status = ""
        for _ in range(repeats):
            outcome = evaluate(task, task.patch, sandbox, setup)
            seconds.append(outcome.seconds)
            status = outcome.status.value
            started = time.monotonic()
            sandbox.reset()
            sandbox.exec("true")  # a reset's restore rides ahead of the next command
            resets.append(time.monotonic() - started)
    return statistics.median(seconds), statistics.median(resets), status


def _ballast_image(client, standin: str, megabytes: int) -> str:
    """The stand-in with `megabytes` of extra files (6000 of them) under /testbed/.git."""
    container = client.containers.run(standin, ["sleep", "infinity"], detach=True, init=True)
    try:
        per_file = max(1, megabytes * 1024 // 6000)
        script = (
            "mkdir -p /testbed/.git/ballast && cd /testbed/.git/ballast && "
            f"for i in $(seq 6000); do head -c {per_file}K /dev/urandom > f$i; done"
        )
        code, output = container.exec_run(["sh", "-c", script])
        assert code == 0, output
        container.commit(repository="harness-bench-standin", tag="ballast",
                         changes=["LABEL harness=0", "LABEL harness.tier=official-standin"])
    finally:
        container.remove(force=True)
    return "harness-bench-standin:ballast"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ballast-mb", type=int, default=300)
    args = parser.parse_args(argv)
    client = docker.from_env()
    task = load_demo_tasks()[0]
    scratch = Path(tempfile.mkdtemp(prefix="harness-bench-prebuilt-"))
    registry = LocalRegistry(scratch / "registry")
    cleanup: list[str] = []
    try:
        # 1. Our local build of the same environment (fresh env and instance tiers).
        specs = scratch / "specs"
        specs.mkdir()
        text = (DEFAULT_SPEC_DIR / "demo.yaml").read_text().replace("name: demo", "name: bench")
        (specs / "demo.yaml").write_text(text)
        repos = RepoSource(repos_dir=None, cache_dir=scratch / "cache")
        started = time.monotonic()
        ours = prepare_instance_image(client, task, repos, spec_dir=specs)
        build_seconds = time.monotonic() - started
        bench_env = client.images.list(filters={"label": "harness.spec=bench"})
        cleanup += [tag for image in bench_env for tag in image.tags] + [ours]

        # 2. The same environment in the official layout, pushed and then deleted locally.
        options = ImageOptions(mode="prebuilt", registry=registry.address)
        reference = prebuilt_name(task.instance_id, options)
        standin = make_official_standin(client, ours, "harness-bench-standin:official")
        push_image(client, standin, reference)
        _remove(client, reference, standin)
        puller = Puller(client, progress=False)
        pulled = puller.pull(reference)
        started = time.monotonic()
        resolver = ImageResolver(client, options, lambda t: "")
        adapted = resolver.prepare(task)
        adapt_seconds = time.monotonic() - started
        layer = client.images.get(reference).attrs["Size"] - client.images.get(ours).attrs["Size"]
        cleanup += [adapted, reference]
        print(f"environment: pull {pulled.seconds:.2f} s + adapt {adapt_seconds:.2f} s "
              f"= {pulled.seconds + adapt_seconds:.2f} s (top layer {human_size(max(layer, 0))})"
              f" vs local build {build_seconds:.2f} s (env+instance tiers, base cached): "
              f"ratio {(pulled.seconds + adapt_seconds) / build_seconds:.2f}")

        # 3. Per-candidate evaluation and reset, prebuilt vs ours.
        spec = spec_for(task.repo, task.version)
        own = TestSetup(spec.test_cmd, spec.log_parser, float(spec.test_timeout))
        official = resolver.test_setup(task, lambda t: own)
        eval_p, reset_p, status_p = _median_eval(client, adapted, task, official, args.repeats)
        eval_o, reset_o, status_o = _median_eval(client, ours, task, own, args.repeats)
        print(f"per-candidate evaluation (gold, median of {args.repeats}): prebuilt "
              f"{eval_p:.2f} s ({status_p}) vs ours {eval_o:.2f} s ({status_o}): "
              f"ratio {eval_p / eval_o:.2f}")
        print(f"reset between candidates (median): prebuilt {reset_p * 1000:.0f} ms vs ours "
              f"{reset_o * 1000:.0f} ms")

        # 4. Reset of a django-sized tree.
        if args.ballast_mb > 0:
            heavy = _ballast_image(client, make_official_standin(
                client, ours, "harness-bench-standin:official"), args.ballast_mb)
            heavy_ref = prebuilt_name(task.instance_id, ImageOptions(
                registry=registry.address, tag="ballast"))
            push_image(client, heavy, heavy_ref)
            cleanup += [heavy, heavy_ref, "harness-bench-standin:official"]
            heavy_resolver = ImageResolver(client, ImageOptions(
                mode="prebuilt", registry=registry.address, tag="ballast"), lambda t: "")
            heavy_local = heavy_resolver.prepare(task)
            cleanup.append(heavy_local)
            limits = SandboxLimits(testbed_size="1g", memory="3g")
            with DockerSandbox.start(client, heavy_local, limits) as sandbox:
                size = sandbox.exec("du -sm /testbed | cut -f1").stdout.strip()
            print(f"{size} MB testbed (6000 extra files), gold evaluation then reset, median "
                  f"of {args.repeats}:")
            for kind in (DockerSandbox, WholesaleReset):
                evaluation, reset, status = _median_eval(
                    client, heavy_local, task, official, args.repeats, kind, limits)
                print(f"  {kind.__name__}: evaluation {evaluation:.2f} s ({status}), "
                      f"reset {reset:.2f} s")
    finally:
        registry.close()
        _remove(client, *reversed(cleanup))
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
