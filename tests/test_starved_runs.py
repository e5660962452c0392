"""A test run that runs out of time because the host starved it is retried, never graded
`timeout`; one that loops forever on a CPU it has is a `timeout`. Compute is CPU time."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from harness.agents.replay import ReplayAgent
from harness.evaluation.evaluator import evaluate
from harness.evaluation.status import EvalStatus
from harness.runner import Runner, RunPlan, SandboxFactory
from harness.sandboxes.cpu import CpuSample, cpu_use
from harness.sandboxes.docker_sandbox import DockerSandbox, SandboxLimits
from harness.store import EvaluationRecord, Store
from tests.tiny_repo import build_tiny_task, tiny_setup


def sample(at: float, cpu: float, throttled: float = 0.0, waiting: float = 0.0) -> CpuSample:
    return CpuSample(at, cpu, throttled, waiting)


def test_starved_means_little_cpu_while_kept_from_it():
    start = sample(0, 0)
    # 3 s of CPU in 10 s on a 1-CPU share, waiting in the run queue for 6 s: starved.
    assert cpu_use(start, sample(10, 3, waiting=6), share=1.0).starved
    # Held back by its quota just as much: starved.
    assert cpu_use(start, sample(10, 1, throttled=8), share=1.0).starved
    # Busy on its CPU: a timeout.
    assert not cpu_use(start, sample(10, 9, waiting=1), share=1.0).starved
    # Asleep (a deadlock, a wait on a socket): no CPU and no wait for one: a timeout.
    assert not cpu_use(start, sample(10, 0.1), share=1.0).starved
    # A small share used in full is not starved, however little that is.
    assert not cpu_use(start, sample(10, 0.5, throttled=9.5), share=0.05).starved



# A sliver of a CPU, Docker's smallest quota: what a test run gets on a host at load 100.
SLIVER_NANO_CPUS = 10_000_000
# Enough work that a sliver cannot finish it in the timeout, a full CPU in a second or two.
WORK = "total = 0\nfor i in range(1_000_000):\n    total += i\nreturn 42"


def set_quota(sandbox: DockerSandbox, nano_cpus: int) -> None:
    """Changes the live container's CPU quota through the Docker API (`docker update`)."""
    api = sandbox._api
    response = api._post_json(
        api._url("/containers/{0}/update", sandbox.container_id), data={"NanoCpus": nano_cpus}
    )
    api._raise_for_status(response)


class StarvedOnceSandbox(DockerSandbox):
    """A real sandbox whose first evaluation runs on a sliver of a CPU, as on a loaded host."""

    resets = 0

    def reset(self) -> None:
        super().reset()
        type(self).resets += 1
        set_quota(self, SLIVER_NANO_CPUS if type(self).resets == 1 else int(1e9))


@pytest.fixture(scope="module")
def tiny(docker_client, tmp_path_factory):
    built = build_tiny_task(docker_client, tmp_path_factory.mktemp("starved"))
    yield built
    docker_client.images.remove(built.image, force=True)


@pytest.mark.docker
def test_a_starved_run_is_retried_never_graded_timeout(docker_client, tiny, tmp_path):
    slow_but_right = tiny.patch(WORK)
    predictions = tmp_path / "preds.jsonl"
    predictions.write_text(json.dumps({"instance_id": tiny.task.instance_id,
                                       "model_patch": slow_but_right}) + "\n")
    factory = SandboxFactory(
        prepare_image=lambda task: tiny.image,
        start=lambda tag: StarvedOnceSandbox.start(docker_client, tag, SandboxLimits()),
        test_setup=lambda task: tiny_setup(timeout=20.0),
    )
    store = Store(str(tmp_path / "runs.db"))
    plan = RunPlan(run_id="starved", k=1, seed=0, max_sandboxes=1, vcpu_hour_dollars=0.04,
                   starved_retry_wait=1.0)
    status = Runner(store, ReplayAgent([predictions]), factory, plan, log=print).run([tiny.task])
    with store.reading() as session:
        rows = session.execute(
            select(EvaluationRecord.status, EvaluationRecord.seconds,
                   EvaluationRecord.cpu_seconds, EvaluationRecord.compute_seconds)
        ).all()
    store.close()
    assert status == "finished"
    # Starved on its first try (a sliver of a CPU for 20 s), graded on the retry.
    assert StarvedOnceSandbox.resets >= 2
    assert [row[0] for row in rows] == [EvalStatus.RESOLVED]
    _, seconds, cpu_seconds, compute_seconds = rows[0]
    # Compute is the CPU the container used, not wall time times CPUs.
    assert cpu_seconds is not None and 0 < cpu_seconds <= compute_seconds < seconds


@pytest.mark.docker
def test_an_endless_loop_busy_on_its_share_is_a_timeout(docker_client, tiny):
    endless = tiny.patch("while True:\n    pass")
    # A twentieth of a CPU: a share even this shared host gives in full.
    limits = SandboxLimits(cpus=0.05)
    with DockerSandbox.start(docker_client, tiny.image, limits) as sandbox:
        outcome = evaluate(tiny.task, endless, sandbox, tiny_setup(timeout=30.0))
    assert outcome.status is EvalStatus.TIMEOUT
    assert outcome.cpu_seconds is not None and outcome.cpu_seconds >= 0.5 * 0.05 * 30
    assert outcome.decided_by_stage == 2
