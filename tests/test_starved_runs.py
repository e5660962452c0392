"""A test run that runs out of time because the host starved it is retried, never graded
`timeout`; one that loops forever on a CPU it has is a `timeout`. Compute is CPU time."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from harness.agents.replay import ReplayAgent
from harness.evaluation.status import EvalStatus
from harness.runner import Runner, RunPlan, SandboxFactory
from harness.sandboxes.docker_sandbox import DockerSandbox, SandboxLimits
from harness.store import AttemptRecord, EvaluationRecord, Store
from tests.tiny_repo import build_tiny_task, tiny_setup

pytestmark = pytest.mark.docker

# A sliver of a CPU, Docker's smallest quota: what a test run gets on a host at load 100.
SLIVER_NANO_CPUS = 10_000_000
# Enough work that a sliver cannot finish it in the timeout, a full CPU in a second or two.
WORK = "total = 0\nfor i in range(3_000_000):\n    total += i\nreturn 42"


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


def test_a_starved_run_is_retried_and_an_endless_loop_is_a_timeout(
    docker_client, tiny, tmp_path
):
    slow_but_right = tiny.patch(WORK)
    endless = tiny.patch("while True:\n    pass")
    predictions = tmp_path / "preds.jsonl"
    predictions.write_text("".join(
        json.dumps({"instance_id": tiny.task.instance_id, "model_name_or_path": name,
                    "model_patch": patch}) + "\n"
        for name, patch in (("slow", slow_but_right), ("endless", endless))
    ))
    factory = SandboxFactory(
        prepare_image=lambda task: tiny.image,
        start=lambda tag: StarvedOnceSandbox.start(docker_client, tag, SandboxLimits()),
        test_setup=lambda task: tiny_setup(timeout=8.0),
    )
    lines: list[str] = []
    store = Store(str(tmp_path / "runs.db"))
    plan = RunPlan(run_id="starved", k=2, seed=0, max_sandboxes=1, vcpu_hour_dollars=0.04,
                   starved_retry_wait=1.0)
    runner = Runner(store, ReplayAgent([predictions]), factory, plan, log=lines.append)
    status = runner.run([tiny.task])

    with store.reading() as session:
        rows = session.execute(
            select(AttemptRecord.index, EvaluationRecord.status, EvaluationRecord.seconds,
                   EvaluationRecord.cpu_seconds, EvaluationRecord.compute_seconds,
                   EvaluationRecord.decided_by_stage)
            .join(EvaluationRecord, AttemptRecord.evaluation_id == EvaluationRecord.id)
            .order_by(AttemptRecord.index)
        ).all()
    store.close()
    assert status == "finished"
    by_index = {row[0]: row for row in rows}
    # Starved on its first try (a sliver of a CPU for 8 s), right on the retry.
    assert StarvedOnceSandbox.resets >= 3
    assert by_index[0][1] is EvalStatus.RESOLVED
    # Busy on its CPU until the limit: the candidate's own timeout.
    _, status_1, seconds, cpu_seconds, compute_seconds, stage = by_index[1]
    assert status_1 is EvalStatus.TIMEOUT
    assert cpu_seconds is not None and cpu_seconds >= 0.5 * 8.0 * 0.5
    # Compute is the CPU the container used, not wall time times CPUs.
    assert compute_seconds >= cpu_seconds and compute_seconds <= seconds + 5
    assert stage == 2
