"""Services a suite names, served inside the sandbox: a spec's `loopback_hosts` resolve to
127.0.0.1 in its tasks' sandboxes, and requests' test command serves httpbin there on http and
https (a certificate the suite trusts), while the sandbox still reaches nothing outside."""

from __future__ import annotations

import json

import pytest
from data_paths import LITE, MIRRORS, ROOT

from harness.images.specs import EnvironmentSpec, SpecError, spec_for

REQUESTS_INSTANCE = "psf__requests-2317"  # version 2.4: HTTPBIN_URL defaults to httpbin.org


def _spec(**fields) -> EnvironmentSpec:
    return EnvironmentSpec.model_validate(
        {"name": "x", "repos": ["a/b"], "test_cmd": "pytest", **fields}
    )


def test_loopback_hosts_must_be_host_names():
    assert _spec(loopback_hosts=["httpbin.org", "www.google.co.uk"]).loopback_hosts == (
        "httpbin.org", "www.google.co.uk",
    )
    for bad in ["httpbin.org 127.0.0.2", "-bad.org", "a..b", "", "x/y"]:
        with pytest.raises(ValueError, match="not a host name"):
            _spec(loopback_hosts=[bad])


def test_requests_versions_that_call_httpbin_org_resolve_it_to_loopback():
    for version in ["0.14", "2.3", "2.9"]:
        assert "httpbin.org" in spec_for("psf/requests", version).loopback_hosts
    # From 2.10 the suite runs pytest-httpbin's local server and names no remote host.
    assert spec_for("psf/requests", "2.10").loopback_hosts == ()
    try:
        assert spec_for("pallets/flask", "2.3").loopback_hosts == ()
    except SpecError:
        pass


# --- real sandboxes --------------------------------------------------------------------------

# Runs inside the sandbox as a pytest file, under the spec's own test command (which serves
# httpbin for the length of the run). Each assertion names what it checks.
PROBE = '''
import errno
import socket
import ssl

import pytest
import requests


def test_httpbin_org_is_loopback():
    assert socket.gethostbyname("httpbin.org") == "127.0.0.1"


def test_plain_http_answers():
    r = requests.get("http://httpbin.org/get", params={"probe": "1"})
    assert r.status_code == 200 and r.json()["args"] == {"probe": "1"}


def test_https_answers_with_a_certificate_the_suite_trusts():
    r = requests.get("https://httpbin.org/get")  # verify=True: REQUESTS_CA_BUNDLE
    assert r.status_code == 200 and r.json()["url"] == "https://httpbin.org/get"


def test_the_certificate_is_trusted_by_certifi_not_by_the_system():
    session = requests.Session()
    session.trust_env = False  # no REQUESTS_CA_BUNDLE: requests' default, certifi's bundle
    assert session.get("https://httpbin.org/get").status_code == 200
    system = ssl.create_default_context(cafile="/etc/ssl/certs/ca-certificates.crt")
    with pytest.raises(ssl.SSLCertVerificationError):
        with socket.create_connection(("httpbin.org", 443), 5) as raw:
            system.wrap_socket(raw, server_hostname="httpbin.org")


def test_a_redirect_target_is_served_too():
    r = requests.get("http://httpbin.org/redirect-to",
                     params={"url": "http://www.google.co.uk/"})
    assert r.history and r.url == "http://www.google.co.uk/" and r.status_code == 200


def test_keep_alive():
    session = requests.Session()
    first = session.get("http://httpbin.org/get")
    assert first.headers.get("Connection", "").lower() != "close"


def test_nothing_outside_is_reachable():
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("example.com", 80)
    with pytest.raises(OSError) as raised:
        socket.create_connection(("93.184.216.34", 80), 5)
    assert raised.value.errno == errno.ENETUNREACH
'''

PROBE_TESTS = [
    "test_httpbin_org_is_loopback", "test_plain_http_answers",
    "test_https_answers_with_a_certificate_the_suite_trusts",
    "test_the_certificate_is_trusted_by_certifi_not_by_the_system",
    "test_a_redirect_target_is_served_too", "test_keep_alive",
    "test_nothing_outside_is_reachable",
]


def _lite_task(instance_id: str):
    from harness.tasks import task_from_row

    for line in LITE.read_text().splitlines():
        row = json.loads(line)
        if row["instance_id"] == instance_id:
            return task_from_row(row)
    raise AssertionError(instance_id)


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.skipif(not LITE.is_file(), reason=f"shared SWE-bench data absent ({LITE})")
@pytest.mark.skipif(not (MIRRORS / "psf" / "requests").exists(),
                    reason=f"no local mirror of psf/requests under {MIRRORS}")
def test_requests_sandbox_serves_httpbin_org_on_loopback_and_reaches_nothing_else(docker_client):
    from harness.backends.docker_backend import DockerOptions, docker_sandboxes

    task = _lite_task(REQUESTS_INSTANCE)
    factory = docker_sandboxes(DockerOptions(repos_dir=MIRRORS,
                                             cache_dir=ROOT / "results" / "cache"))
    image = factory.prepare_image(task)
    setup = factory.test_setup(task)
    sandbox = factory.start(image)
    try:
        sandbox.write_file("/tmp/probe/test_probe.py", PROBE)
        result = sandbox.exec(f"{setup.test_cmd} /tmp/probe/test_probe.py", timeout=300)
        hosts = sandbox.exec("cat /etc/hosts; echo 127.0.0.1 example.com >> /etc/hosts")
    finally:
        sandbox.close()
    output = result.stdout + result.stderr
    for name in PROBE_TESTS:
        assert f"PASSED /tmp/probe/test_probe.py::{name}" in output or (
            f"PASSED ../tmp/probe/test_probe.py::{name}" in output
        ), output[-4000:]
    assert result.exit_code == 0, output[-4000:]
    # The names are fixed when the container is made: the candidate cannot add its own.
    assert "127.0.0.1\thttpbin.org" in hosts.stdout and hosts.exit_code != 0


@pytest.mark.docker
def test_a_sandbox_without_loopback_hosts_resolves_none(docker_client, tmp_path):
    from harness.demo import load_demo_tasks
    from harness.images.build import prepare_instance_image
    from harness.repos import RepoSource
    from harness.sandboxes.docker_sandbox import DockerSandbox

    task = load_demo_tasks()[0]
    repos = RepoSource(repos_dir=None, cache_dir=tmp_path / "cache")
    image = prepare_instance_image(docker_client, task, repos)
    lookup = "getent hosts httpbin.org; echo rc=$?"
    with DockerSandbox.start(docker_client, image) as plain:
        assert "rc=2" in plain.exec(lookup).stdout
    with DockerSandbox.start(docker_client, image, loopback_hosts=("httpbin.org",)) as mapped:
        answer = mapped.exec(lookup).stdout
        bound = mapped.exec(
            "python3 -c \"import socket; s = socket.socket(); s.bind(('127.0.0.1', 443))\""
        )
    assert "127.0.0.1" in answer and "rc=0" in answer
    assert bound.exit_code == 0, bound.stderr


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.skipif(not LITE.is_file(), reason=f"shared SWE-bench data absent ({LITE})")
@pytest.mark.skipif(not (MIRRORS / "psf" / "requests").exists(),
                    reason=f"no local mirror of psf/requests under {MIRRORS}")
def test_a_requests_instance_that_calls_httpbin_org_validates(docker_client):
    """psf__requests-2317: its suite calls httpbin.org throughout, over https too (its
    FAIL_TO_PASS test_requests_history_is_saved gets https://httpbin.org/redirect/5); gold
    resolves, and the empty patch fails only the test that the fix is about."""
    from harness.backends.docker_backend import DockerOptions, docker_sandboxes
    from harness.validation import validate_task

    task = _lite_task(REQUESTS_INSTANCE)
    factory = docker_sandboxes(DockerOptions(repos_dir=MIRRORS,
                                             cache_dir=ROOT / "results" / "cache"))
    result = validate_task(task, factory.prepare_image, factory.start, factory.test_setup(task),
                           "requests", repeats=1)
    assert result.valid, result.reason
    empty = next(run for run in result.runs if run.patch == "empty")
    assert empty.against == ["test_requests.py::TestTimeout::test_encoded_methods"]


def test_a_spec_asks_its_sandboxes_for_the_cpus_the_official_harness_gives():
    """pylint 2.14+ runs jobs in parallel and gets two CPUs officially: its sandboxes get them
    whatever --cpus says; other tasks get --cpus."""
    from harness.backends.docker_backend import SandboxNeeds, own_sandbox_needs
    from harness.tasks import Task, task_from_row

    def task(repo: str, version: str) -> Task:
        return task_from_row({
            "instance_id": f"{repo.replace('/', '__')}-1", "repo": repo, "version": version,
            "base_commit": "0" * 40, "patch": "x", "test_patch": "x", "problem_statement": "x",
            "FAIL_TO_PASS": '["t::a"]', "PASS_TO_PASS": "[]",
        })

    assert own_sandbox_needs(task("pylint-dev/pylint", "2.15")).cpus == 2
    assert own_sandbox_needs(task("pylint-dev/pylint", "2.13")).cpus is None
    assert own_sandbox_needs(task("psf/requests", "2.4")).loopback_hosts == (
        "httpbin.org", "www.google.co.uk")
    assert own_sandbox_needs(task("nobody/nothing", "1.0")) == SandboxNeeds()
