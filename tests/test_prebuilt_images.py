"""Prebuilt images from a real registry on loopback: named by the official rule, pulled,
adapted, graded as on our own image; what happens when no registry answers; push, prune and
the disk bound."""

from __future__ import annotations

import http.client
import http.server
import json
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import docker.errors
import pytest

from harness.demo import load_demo_tasks
from harness.evaluation.evaluator import TestSetup
from harness.images.build import prepare_instance_image
from harness.images.image_names import (
    ImageOptions,
    ImageOptionsError,
    official_id,
    prebuilt_name,
    registry_of,
    split_reference,
)
from harness.images.prebuilt import ImageResolver, PrebuiltImageError
from harness.images.registry import Puller, RetryPolicy
from harness.repos import RepoSource
from harness.sandboxes.docker_sandbox import DockerSandbox
from harness.sandboxes.prune import prune
from tests.registry_helpers import LocalRegistry, free_port, make_official_standin

ROOT = Path(__file__).resolve().parent.parent
TASK = load_demo_tasks()[0]
SPOOF_CONFTEST = """\
import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    outcome.get_result().outcome = "passed"
"""


# --- naming (no Docker) ----------------------------------------------------------------------


def test_official_names_follow_the_published_rule():
    hub = ImageOptions(arch="x86_64")
    assert official_id("django__django-11099") == "django_1776_django-11099"
    assert prebuilt_name("django__django-11099", hub) == (
        "swebench/sweb.eval.x86_64.django_1776_django-11099:latest"
    )
    assert prebuilt_name("Foo__Bar-1", ImageOptions(arch="arm64", tag="v2")) == (
        "swebench/sweb.eval.arm64.foo_1776_bar-1:v2"
    )
    local = ImageOptions(registry="127.0.0.1:5000", arch="x86_64")
    assert prebuilt_name("psf__requests-2317", local) == (
        "127.0.0.1:5000/swebench/sweb.eval.x86_64.psf_1776_requests-2317:latest"
    )
    epoch = ImageOptions(layout="epoch", arch="x86_64")
    assert prebuilt_name("psf__requests-2317", epoch) == (
        "ghcr.io/epoch-research/swe-bench.eval.x86_64.psf__requests-2317:latest"
    )
    template = ImageOptions(layout="{registry}/mirror/{instance_id}", registry="r.example:1")
    assert prebuilt_name("psf__requests-2317", template) == (
        "r.example:1/mirror/psf__requests-2317:latest"
    )
    assert split_reference("127.0.0.1:5000/a/b:t") == ("127.0.0.1:5000/a/b", "t")
    assert split_reference("127.0.0.1:5000/a/b") == ("127.0.0.1:5000/a/b", "latest")
    assert registry_of("swebench/x:1") == "docker.io"
    assert registry_of("127.0.0.1:5000/a/b:1") == "127.0.0.1:5000"
    with pytest.raises(ImageOptionsError):
        ImageOptions(layout="{nonsense}/x")
    with pytest.raises(ImageOptionsError):
        ImageOptions(layout="no-placeholder")


DJANGO_OUTPUT = """\
test_ascii_validator (auth_tests.test_validators.UsernameValidatorsTests) ... ok
test_help_text (auth_tests.test_validators.UserAttributeSimilarityValidatorTest) ... FAIL
test_override_file_upload_permissions (test_utils.tests.OverrideSettingsTests)
An exception is setUp() is reraised after disable() is called. ... ok
test_skip (a.tests.T) ... skipped 'needs sqlite 3.9'
test_lost (a.tests.T) ...
======================================================================
ERROR: test_lost (a.tests.T)
----------------------------------------------------------------------
"""


def test_official_setup_activates_conda_and_uses_the_official_directives():
    from harness.evaluation.log_parsers import parser_for
    from harness.evaluation.status import TestStatus
    from harness.images.official_layout import official_directives, official_test_setup

    assert official_directives("django/django", [
        "tests/auth_tests/test_validators.py", "tests/auth_tests/fixtures/x.json",
    ]) == ["auth_tests.test_validators"]
    assert official_directives("psf/requests", ["test_requests.py"]) == ["test_requests.py"]
    setup = official_test_setup(TASK, TestSetup("pytest -rA", "pytest", 60.0))
    # As the official eval script: in bash, activation by sourcing, never the image's PATH.
    assert setup.preamble.splitlines()[:2] == [
        "source /opt/miniconda3/bin/activate", "conda activate testbed",
    ]
    assert setup.shell == "bash"
    assert setup.test_targets == tuple(TASK.test_files)
    statuses = parser_for("django")(DJANGO_OUTPUT, [])
    assert statuses == {
        "test_ascii_validator (auth_tests.test_validators.UsernameValidatorsTests)":
            TestStatus.PASSED,
        "test_help_text (auth_tests.test_validators.UserAttributeSimilarityValidatorTest)":
            TestStatus.FAILED,
        "An exception is setUp() is reraised after disable() is called.": TestStatus.PASSED,
        "test_skip (a.tests.T)": TestStatus.SKIPPED,
        # As the official parser reads an `ERROR:` header: the first word after it.
        "test_lost": TestStatus.ERROR,
    }


def test_bad_image_options_are_one_clear_line_and_exit_code_2(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--images", "prebuilt", "--image-layout",
         "{bogus}", "--db", str(tmp_path / "db.sqlite"), "--k", "1"],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: --image-layout")
    assert "Traceback" not in done.stderr


# --- with a registry -------------------------------------------------------------------------


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    try:
        server = LocalRegistry(tmp_path_factory.mktemp("registry"))
    except FileNotFoundError as error:
        pytest.skip(str(error))
    yield server
    server.close()


@pytest.fixture(scope="module")
def our_image(docker_client, tmp_path_factory):
    repos = RepoSource(repos_dir=None, cache_dir=tmp_path_factory.mktemp("repo-cache"))
    return prepare_instance_image(docker_client, TASK, repos)


def _remove(client, *names: str) -> None:
    for name in names:
        try:
            client.images.remove(name, force=True)
        except docker.errors.ImageNotFound:
            pass


@pytest.fixture(scope="module")
def published(docker_client, registry, our_image):
    """The demo task's image in the official layout, pushed under its official name to the
    loopback registry and then deleted locally."""
    options = ImageOptions(registry=registry.address)
    reference = prebuilt_name(TASK.instance_id, options)
    local = make_official_standin(docker_client, our_image, "harness-test-standin:official")
    from harness.images.registry import push_image

    digest = push_image(docker_client, local, reference)
    _remove(docker_client, reference, local)
    yield {"reference": reference, "digest": digest, "options": options}
    adapted = docker_client.images.list(filters={"label": f"harness.source={reference}"})
    _remove(docker_client, reference, *[image.id for image in adapted])


def _predictions(path: Path) -> Path:
    lines = len(SPOOF_CONFTEST.splitlines())
    spoof = (
        "diff --git a/tests/conftest.py b/tests/conftest.py\nnew file mode 100644\n"
        f"--- /dev/null\n+++ b/tests/conftest.py\n@@ -0,0 +1,{lines} @@\n"
        + "".join(f"+{line}\n" for line in SPOOF_CONFTEST.splitlines())
    )
    rows = [("gold", TASK.patch), ("empty", ""), ("spoof", spoof)]
    path.write_text("".join(
        json.dumps({"instance_id": TASK.instance_id, "model_name_or_path": name,
                    "model_patch": patch}) + "\n"
        for name, patch in rows
    ))
    return path


def _run(tmp_path: Path, db: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "harness", "run", "--agent", "replay", "--predictions",
         str(_predictions(tmp_path / "preds.jsonl")), "--k", "3", "--instances",
         TASK.instance_id, "--db", str(db), "--max-sandboxes", "1",
         "--cache-dir", str(tmp_path / "cache"), *extra],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=900,
    )


def _verdicts(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return connection.execute(
            "SELECT a.[index], e.status, e.image_source, e.image_name, e.image_digest, e.log "
            "FROM attempts a JOIN evaluations e ON e.id = a.evaluation_id ORDER BY 1"
        ).fetchall()


@pytest.mark.docker
def test_a_prebuilt_run_pulls_and_grades_exactly_as_on_our_image(
    docker_client, published, tmp_path
):
    reference = published["reference"]
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(reference)
    registry = published["options"].registry
    done = _run(tmp_path, tmp_path / "prebuilt.db", "--images", "prebuilt",
                "--image-registry", registry)
    assert done.returncode == 0, done.stderr[-3000:]
    docker_client.images.get(reference)  # pulled
    prebuilt = _verdicts(tmp_path / "prebuilt.db")
    statuses = [status for _, status, *_ in prebuilt]
    assert statuses[0] == "RESOLVED"
    assert statuses[1] == "EMPTY_PATCH"
    assert statuses[2] == "UNRESOLVED"  # the conftest spoof
    for _, status, source, name, digest, log in prebuilt:
        assert (source, name) == ("prebuilt", reference)
        assert digest == f"{reference.rsplit(':', 1)[0]}@{published['digest']}"
        if status != "EMPTY_PATCH":
            assert "conda-env: testbed python: /opt/miniconda3/envs/testbed/bin/python" in log
            assert "could not activate" not in log
    with sqlite3.connect(tmp_path / "prebuilt.db") as connection:
        config = json.loads(connection.execute("SELECT config FROM runs").fetchone()[0])
    assert config["images"]["mode"] == "prebuilt"
    assert config["images"]["resolved_registry"] == registry

    built = tmp_path / "built"
    built.mkdir()
    done = _run(built, built / "built.db", "--images", "build")
    assert done.returncode == 0, done.stderr[-3000:]
    ours = _verdicts(built / "built.db")
    assert [row[1] for row in ours] == statuses
    assert {row[2] for row in ours} == {"build"}


@pytest.mark.docker
def test_agents_run_in_the_prebuilt_image_with_the_env_active(docker_client, published):
    from harness.agents.retrieval import _grep_scores

    resolver = ImageResolver(docker_client, ImageOptions(
        mode="prebuilt", registry=published["options"].registry), lambda task: "unused")
    local = resolver.prepare(TASK)
    with DockerSandbox.start(docker_client, local) as sandbox:
        which = sandbox.exec("command -v python; echo $CONDA_DEFAULT_ENV; git rev-parse HEAD")
        assert which.stdout.split() == [
            "/opt/miniconda3/envs/testbed/bin/python", "testbed", TASK.base_commit,
        ]
        # The oneshot agent's retrieval greps the repository in the same sandbox.
        assert _grep_scores(sandbox, ["slugify"], {"textkit/slug.py"})
        sandbox.exec("echo junk > textkit/slug.py; touch new_file")
        sandbox.reset()
        assert sandbox.exec("git status --porcelain").stdout == ""


@pytest.mark.docker
def test_no_registry_answering_auto_builds_and_prebuilt_fails_in_one_line(
    docker_client, our_image, tmp_path
):
    down = f"127.0.0.1:{free_port()}"
    done = _run(tmp_path, tmp_path / "p.db", "--images", "prebuilt", "--image-registry", down)
    assert done.returncode == 2, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: no registry reachable; use --images build"), last
    assert "Traceback" not in done.stderr

    done = _run(tmp_path, tmp_path / "a.db", "--images", "auto", "--image-registry", down)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("no registry reachable") == 1
    verdicts = _verdicts(tmp_path / "a.db")
    assert [row[1] for row in verdicts] == ["RESOLVED", "EMPTY_PATCH", "UNRESOLVED"]
    assert {(row[2], row[3]) for row in verdicts} == {("build", our_image)}


@pytest.mark.docker
def test_a_missing_prebuilt_image_is_built_in_auto_and_an_error_in_prebuilt(
    docker_client, registry, our_image
):
    options = dict(registry=registry.address, namespace="nobody-published-this")
    auto = ImageResolver(docker_client, ImageOptions(mode="auto", **options), lambda t: our_image)
    assert auto.prepare(TASK) == our_image
    assert auto.identity(our_image).source == "build"
    only = ImageResolver(docker_client, ImageOptions(mode="prebuilt", **options), lambda t: "")
    with pytest.raises(PrebuiltImageError, match="not in its registry"):
        only.prepare(TASK)


class _Throttling(http.server.ThreadingHTTPServer):
    """A proxy in front of the registry that answers its first manifest requests with 429."""

    def __init__(self, upstream: str, refusals: int) -> None:
        self.upstream = upstream
        self.refusals = refusals
        self.refused = 0
        super().__init__(("127.0.0.1", 0), _ProxyHandler)


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    server: _Throttling

    def _forward(self) -> None:
        if "/manifests/" in self.path and self.server.refused < self.server.refusals:
            self.server.refused += 1
            body = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}'
            self.send_response(429)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        upstream = http.client.HTTPConnection(self.server.upstream, timeout=60)
        upstream.putrequest(self.command, self.path, skip_accept_encoding=True)
        # Every header as sent: the daemon sends several Accept lines (manifest types).
        for key, value in self.headers.items():
            if key.lower() != "host":
                upstream.putheader(key, value)
        upstream.endheaders(body)
        answer = upstream.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        upstream.close()

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = _forward

    def log_message(self, *args) -> None:
        pass


@pytest.mark.docker
def test_a_throttled_pull_is_retried_with_backoff(docker_client, published):
    proxy = _Throttling(published["options"].registry, refusals=2)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        through = f"127.0.0.1:{proxy.server_address[1]}"
        reference = prebuilt_name(TASK.instance_id, ImageOptions(registry=through))
        lines: list[str] = []
        puller = Puller(docker_client, retry=RetryPolicy(tries=4, first_delay=0.2),
                        log=lines.append, progress=False)
        pulled = puller.pull(reference)
        assert pulled.pulled and pulled.digest.endswith(published["digest"])
        assert proxy.refused == 2
        assert sum("registry busy" in line for line in lines) >= 1, lines
    finally:
        proxy.shutdown()
        _remove(docker_client, reference)


@pytest.mark.docker
def test_prune_and_the_disk_bound_remove_pulled_images(docker_client, published):
    options = ImageOptions(mode="prebuilt", registry=published["options"].registry,
                           pull_policy="always")
    reference = published["reference"]
    ImageResolver(docker_client, options, lambda task: "").prepare(TASK)
    adapted = docker_client.images.list(filters={"label": f"harness.source={reference}"})
    assert adapted
    # Another run's resolver, over a bound of zero bytes, removes what it does not use.
    removed = ImageResolver(docker_client, options, lambda task: "").bound_disk(0)
    assert reference in removed
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(reference)

    ImageResolver(docker_client, options, lambda task: "").prepare(TASK)
    report = prune(docker_client, label=f"harness.source={reference}")
    assert reference in report.images, report
    assert not docker_client.images.list(filters={"label": f"harness.source={reference}"})
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(reference)


@pytest.mark.docker
def test_images_push_shares_our_build_under_the_official_name(
    docker_client, registry, our_image, tmp_path
):
    done = subprocess.run(
        [sys.executable, "-m", "harness", "images", "push", "--registry", registry.address,
         "--image-namespace", "team", TASK.instance_id],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    reference = prebuilt_name(TASK.instance_id, ImageOptions(registry=registry.address,
                                                             namespace="team"))
    assert f"-> {reference} sha256:" in done.stdout
    _remove(docker_client, reference)
    # A teammate pulls it: one of ours, so used as is, with our own test setup.
    resolver = ImageResolver(docker_client, ImageOptions(
        mode="prebuilt", registry=registry.address, namespace="team"), lambda task: "")
    assert resolver.prepare(TASK) == reference
    mine = TestSetup("python3 -m pytest -rA", "pytest", 60.0)
    assert resolver.test_setup(TASK, lambda task: mine) is mine
    _remove(docker_client, reference)


# Content, size, mode, owner, type and modification time of every entry, files hashed.
SNAPSHOT = (
    "cd /testbed && find . -printf '%P %y %s %m %U %G %T@ %l\\n' | sort && "
    "find . -type f -print0 | sort -z | xargs -0 sha256sum"
)


@pytest.mark.docker
def test_the_path_by_path_reset_restores_the_pristine_tree_exactly(docker_client, our_image):
    with DockerSandbox.start(docker_client, our_image) as sandbox:
        pristine = sandbox.exec(SNAPSHOT, timeout=120).stdout
        sandbox.exec(
            "printf 'x' >> textkit/slug.py && touch -r textkit/case.py textkit/slug.py; "
            "chmod 600 textkit/wrap.py; rm tests/test_case.py; mkdir -p new/deep && "
            "echo n > new/deep/f; rm -rf textkit/__pycache__; echo s > .git/hooks/post-x; "
            "ln -sf /etc/passwd conftest.py; chmod 700 tests; sleep 600 &"
        )
        assert sandbox.exec(SNAPSHOT, timeout=120).stdout != pristine
        sandbox.reset()
        assert sandbox.wholesale_resets == 0
        assert sandbox.exec(SNAPSHOT, timeout=120).stdout == pristine
        assert "sleep 600" not in sandbox.exec("ps -eo args").stdout
        # A second round from the new baseline.
        sandbox.exec("rm -rf textkit && echo gone > textkit")
        sandbox.reset()
        assert sandbox.exec(SNAPSHOT, timeout=120).stdout == pristine


def _prebuilt_factory(docker_client, published):
    """Sandboxes of the demo task's image pulled from the loopback registry (official layout),
    graded with our test setup adapted to it."""
    from harness.images.specs import spec_for
    from harness.runner import SandboxFactory

    resolver = ImageResolver(docker_client, ImageOptions(
        mode="prebuilt", registry=published["options"].registry), lambda task: "unused")
    spec = spec_for(TASK.repo, TASK.version)
    own = TestSetup(spec.test_cmd, spec.log_parser, float(spec.test_timeout))
    return SandboxFactory(
        prepare_image=resolver.prepare,
        start=lambda tag: DockerSandbox.start(docker_client, tag),
        test_setup=lambda task: resolver.test_setup(task, lambda t: own),
        describe_image=resolver.identity,
    )


@pytest.mark.docker
def test_the_bash_agent_works_in_the_prebuilt_image_with_the_env_active(
    docker_client, published, tmp_path
):
    from fake_openai import FakeOpenAI, text_reply
    from llm_helpers import MODEL, attempts, definition_file, price_file, run

    from harness.agents.llm_factory import build_llm_agent
    from harness.models.llm import RetryPolicy as ModelRetryPolicy
    from harness.store import Store

    answers = [
        "Which Python?\n```bash\necho env=$CONDA_DEFAULT_ENV; command -v python\n```",
        f"Fixing.\n```bash\ncat > /tmp/fix.diff <<'PATCH'\n{TASK.patch}PATCH\n"
        "git apply /tmp/fix.diff\n```",
        "Done.\n```bash\nsubmit\n```",
    ]

    def respond(body):
        turn = sum(1 for message in body["messages"] if message["role"] == "assistant")
        return text_reply(answers[min(turn, len(answers) - 1)], prompt_tokens=100,
                          completion_tokens=10)

    factory = _prebuilt_factory(docker_client, published)
    store = Store(tmp_path / "harness.db")
    try:
        with FakeOpenAI(responder=respond) as server:
            agent = build_llm_agent(
                str(definition_file(tmp_path, "bash")), model=MODEL, api_base=server.base_url,
                prices_path=price_file(tmp_path), max_connections=1, store=store,
                retry=ModelRetryPolicy(tries=2, first_wait=0.01),
            )
            assert run(store, agent, factory, "bash-prebuilt", 1, [TASK]) == "finished"
        [attempt] = attempts(store, "bash-prebuilt")
    finally:
        store.close()
    assert attempt["status"] == "resolved", attempt["error_message"]
    text = json.dumps(attempt["trajectory"])
    assert "env=testbed" in text and "/opt/miniconda3/envs/testbed/bin/python" in text


@pytest.mark.docker
def test_validate_runs_gold_and_empty_on_the_prebuilt_image(published, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "harness", "validate", "--instances", TASK.instance_id,
         "--images", "prebuilt", "--image-registry", published["options"].registry,
         "--db", str(tmp_path / "v.db"), "--cache-dir", str(tmp_path / "cache"), "--json"],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    [row] = json.loads(done.stdout)
    assert (row["spec"], row["valid"], row["gold_resolves"], row["empty_unresolved"]) == (
        "prebuilt", True, True, True,
    ), row


@pytest.mark.docker
def test_mini_swe_agent_works_in_the_prebuilt_image(docker_client, published, tmp_path):
    """mini-swe-agent's own loop, in the official layout: its commands run in /testbed with the
    testbed env active, and its submission is graded resolved."""
    pytest.importorskip("minisweagent", reason="pip install 'harness[mini]'")
    from fake_openai import FakeOpenAI, mini_swe_conversation
    from llm_helpers import MODEL, attempts, price_file, run

    from harness.agents.registry import AgentOptions, build_agent
    from harness.store import Store

    factory = _prebuilt_factory(docker_client, published)
    store = Store(tmp_path / "harness.db")
    try:
        conversation = mini_swe_conversation({TASK.problem_statement[:200]: TASK.patch})
        with FakeOpenAI(responder=conversation) as server:
            agent = build_agent("mini", AgentOptions(
                model=MODEL, api_base=server.base_url, prices=str(price_file(tmp_path)),
                max_connections=1, store=store,
            ))
            agent.llm.check_environment()
            assert run(store, agent, factory, "mini-prebuilt", 1, [TASK]) == "finished"
            bill = server.bill
        [attempt] = attempts(store, "mini-prebuilt")
    finally:
        store.close()
    assert attempt["status"] == "resolved", attempt["error_message"]
    assert attempt["details"]["exit_status"] == "Submitted"
    assert attempt["details"]["steps"] == bill.calls
