"""`harness view` driven in a real headless browser (Debian's chromium through Playwright) over
a store made by real demo runs in Docker: the mutation agent on two tasks, and the replay agent
with a gold patch, a report-spoofing patch (flagged as tampering) and a hostile candidate whose
patch and test output carry <script>, HTML, terminal escapes and a 50,000-character line.

Also, without Docker or a browser: the store is opened read-only, writes are refused, and the
command refuses a non-loopback address unless told.

Screenshots of the run, task and attempt pages go to $HARNESS_VIEWER_SCREENSHOTS when set.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from needs import missing

from harness.demo import load_demo_tasks
from harness.reports.synthetic import add_run, random_tasks
from harness.store import Store
from harness.viewer import links

ROOT = Path(__file__).resolve().parent.parent
TASKS = {task.instance_id: task for task in load_demo_tasks()}
MUTATION_TASKS = ["demo__textkit-1", "demo__intervals-1"]
HOSTILE_TASK = "demo__textkit-1"
PACKAGE_INIT = "textkit/__init__.py"
# What the hostile candidate's code prints and raises at import: if the viewer ran any of it,
# the page's title would change or window.pwned would be set.
ESC = "\x1b"
PAYLOAD = (
    "<script>document.title='pwned';window.pwned=1</script>"
    "<img src=x onerror=\"document.title='pwned';window.pwned=2\">"
    f"<b>not bold</b> {ESC}[31mred{ESC}[0m {ESC}]0;retitled{ESC}\\"
)
LONG_LINE = "0123456789" * 5000


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _harness(*argv: str, timeout: float = 1200) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *argv], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=timeout)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _diff(path: str, old: str, new: str) -> str:
    import difflib

    body = "".join(difflib.unified_diff(old.splitlines(keepends=True),
                                        new.splitlines(keepends=True), f"a/{path}", f"b/{path}"))
    return f"diff --git a/{path} b/{path}\n{body}"


def _base_file(tmp: Path, instance_id: str, path: str) -> str:
    task = TASKS[instance_id]
    bundle = ROOT / "harness" / "demo" / "repos" / f"{task.repo.replace('/', '__')}.bundle"
    checkout = tmp / "checkout"
    subprocess.run(["git", "clone", "-q", str(bundle), str(checkout)], check=True)
    subprocess.run(["git", "-C", str(checkout), "checkout", "-q", task.base_commit], check=True)
    return (checkout / path).read_text()


def _hostile_patch(base: str) -> str:
    code = (
        f"\nPAYLOAD = {PAYLOAD!r}\n"
        f"LONG = '{LONG_LINE}'\n"
        "print(PAYLOAD)\n"
        "raise RuntimeError(PAYLOAD + ' ' + LONG)\n"
    )
    # The escape characters themselves, not their Python spelling, go into the patch too.
    code = f"# {PAYLOAD}\n" + code
    return _diff(PACKAGE_INIT, base, base + code)


def _serve(db: Path | str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "harness", "view", "--db", str(db), "--port", str(port)],
        cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"harness view exited: {server.stderr.read()[-3000:]}")
        try:
            urllib.request.urlopen(base + "/", timeout=5).read()
            return server, base
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    server.kill()
    raise AssertionError("harness view did not answer within 60 s")


def _stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()


def _store_digest(db: Path) -> str:
    """The store's content: every table's rows, in order (the file's bytes as well)."""
    import sqlite3

    digest = hashlib.sha256(db.read_bytes())
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        for (table,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"
        ):
            for row in connection.execute(f'SELECT * FROM "{table}" ORDER BY 1'):
                digest.update(repr(row).encode())
    return digest.hexdigest()


def _request(url: str, method: str) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=b"x", method=method)) as r:
            return r.status
    except urllib.error.HTTPError as error:
        return error.code


# --- without Docker or a browser -------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_db(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("viewer") / "synthetic.db"
    store = Store(db)
    add_run(store, "small", random_tasks(6, 12, seed=1))
    store.close()
    return db


def test_the_store_is_opened_read_only_and_no_route_writes_it(synthetic_db):
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    store = Store(synthetic_db, read_only=True)
    try:
        with pytest.raises(OperationalError, match="readonly"):
            with store.writing() as session:
                session.execute(text("DELETE FROM runs"))
    finally:
        store.close()
    before = _store_digest(synthetic_db)
    server, base = _serve(synthetic_db)
    try:
        run = base + links.run_path("small")
        with urllib.request.urlopen(run) as answer:
            assert answer.status == 200
            policy = answer.headers["content-security-policy"]
            assert "default-src 'none'" in policy and "script-src" not in policy
        for url in (base + "/", run, base + links.task_path("small", "org0__repo0-1000")):
            assert _request(url, "POST") == 405
            assert _request(url, "PUT") == 405
            assert _request(url, "DELETE") == 405
        rebound = urllib.request.Request(base + "/", headers={"Host": "attacker.example"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(rebound)
        assert refused.value.code == 400
    finally:
        _stop(server)
    assert _store_digest(synthetic_db) == before


def test_every_page_answers_over_http_on_sqlite_and_postgresql(db_url):
    store = Store(db_url)
    add_run(store, "base", random_tasks(5, 8, seed=2))
    add_run(store, "cand", random_tasks(5, 8, seed=3))
    store.close()
    server, base = _serve(db_url)
    task = "org2__repo2-1002"
    try:
        pages = {
            "/": "cand",
            links.run_path("base"): "Scaling fit",
            links.task_path("base", task): "Distinct patches",
            links.attempt_path("base", task, 3): "Test output",
            links.compare_path("base", "cand"): "Prompt gate",
        }
        for path, expected in pages.items():
            with urllib.request.urlopen(base + path) as answer:
                assert answer.status == 200, path
                assert expected in answer.read().decode(), path
        with pytest.raises(urllib.error.HTTPError) as absent:
            urllib.request.urlopen(base + links.attempt_path("base", task, 99))
        assert absent.value.code == 404
    finally:
        _stop(server)


def test_a_non_loopback_address_needs_an_explicit_flag(synthetic_db):
    refused = _harness("view", "--db", str(synthetic_db), "--host", "0.0.0.0", timeout=60)
    assert refused.returncode == 2
    assert "--allow-remote" in refused.stderr and "Traceback" not in refused.stderr
    missing_store = _harness("view", "--db", str(synthetic_db.parent / "nothing.db"), timeout=60)
    assert missing_store.returncode == 2 and "no results store" in missing_store.stderr


# --- a real demo store in a real browser -----------------------------------------------------


@pytest.fixture(scope="module")
def chromium():
    path = shutil.which("chromium")
    if path is None:
        missing("chromium is not installed (apt-get install chromium): the viewer's browser "
                "tests drive it")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("Playwright is not installed: pip install -e '.[view]'")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def demo_db(docker_client, tmp_path_factory) -> Path:
    """A store made by two real runs on the demo suite (see the module docstring)."""
    tmp = tmp_path_factory.mktemp("viewer-demo")
    db = tmp / "demo.db"
    common = ["--db", str(db), "--max-sandboxes", "1", "--cache-dir", str(tmp / "cache")]
    mutation = _harness("run", "--k", "4", "--run-id", "mutation", "--instances",
                        *MUTATION_TASKS, *common)
    assert mutation.returncode == 0, mutation.stderr[-3000:]
    from test_hostile import SPOOF_REPORTS

    base = _base_file(tmp, HOSTILE_TASK, PACKAGE_INIT)
    patches = [_hostile_patch(base), TASKS[HOSTILE_TASK].patch,
               _diff(PACKAGE_INIT, base, base + "\n" + SPOOF_REPORTS)]
    predictions = tmp / "preds.jsonl"
    predictions.write_text("".join(
        json.dumps({"instance_id": HOSTILE_TASK, "model_name_or_path": "hostile",
                    "model_patch": patch}) + "\n"
        for patch in patches
    ))
    replay = _harness("run", "--agent", "replay", "--predictions", str(predictions), "--k", "3",
                      "--run-id", "replay", "--instances", HOSTILE_TASK, *common)
    assert replay.returncode == 0, replay.stderr[-3000:]
    # An LLM agent against a scripted OpenAI-compatible server: a trajectory of model messages
    # (the answer carries the payload too) and ledger rows of its calls.
    from fake_openai import FakeOpenAI, text_reply
    from llm_helpers import MODEL, price_file

    with FakeOpenAI(responder=lambda body: text_reply(
            f"I will not edit anything. {PAYLOAD}", prompt_tokens=1500,
            completion_tokens=40)) as server:
        oneshot = _harness("run", "--agent", "oneshot", "--model", MODEL, "--api-base",
                           server.base_url, "--prices", str(price_file(tmp)), "--k", "2",
                           "--run-id", "oneshot", "--instances", HOSTILE_TASK, *common)
    assert oneshot.returncode == 0, oneshot.stderr[-3000:]
    return db


@pytest.fixture(scope="module")
def viewer(demo_db):
    before = _store_digest(demo_db)
    server, base = _serve(demo_db)
    yield base
    _stop(server)
    assert _store_digest(demo_db) == before, "browsing changed the store"


class Visit:
    """A browser page that records every console error, uncaught exception and failed
    request (a CSP violation is a console error)."""

    def __init__(self, browser, base: str) -> None:
        self.base = base
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("requestfailed", lambda r: self.errors.append(f"failed {r.url}"))

    def go(self, path: str):
        answer = self.page.goto(self.base + path)
        assert answer is not None and answer.status == 200, (path, answer and answer.status)
        assert not self.errors, (path, self.errors)
        return self.page

    def shot(self, name: str) -> None:
        folder = os.environ.get("HARNESS_VIEWER_SCREENSHOTS")
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


@pytest.mark.docker
@pytest.mark.slow
def test_every_page_loads_without_a_console_error(chromium, viewer):
    visit = Visit(chromium, viewer)
    page = visit.go("/")
    assert page.locator("table.runs a", has_text="mutation").count() == 1
    for run_id in ("mutation", "replay"):
        page = visit.go(links.run_path(run_id))
        # The curve, with its interval, from the same analysis `report` prints.
        assert page.locator("svg.curve polyline.oracle").count() == 1
        assert page.locator("svg.curve polygon.interval").count() == 1
        assert page.locator("section.figures table").count() == 2
    visit.shot("run")
    page = visit.go(links.task_path("mutation", "demo__intervals-1"))
    assert page.locator(".grid a.cell").count() == 4
    visit.go(links.attempt_path("mutation", "demo__intervals-1", 0))
    visit.go(links.compare_path("mutation", "replay"))
    assert "Prompt gate" in visit.page.inner_text("p.verdict")
    # The compare picker on the runs page submits to the same page.
    page = visit.go("/")
    page.select_option("select[name=baseline]", "mutation")
    page.select_option("select[name=candidate]", "replay")
    page.click("form.pick button")
    page.wait_for_load_state()
    assert "/compare?" in page.url and not visit.errors


@pytest.mark.docker
@pytest.mark.slow
def test_a_link_from_the_run_page_reaches_an_attempts_diff(chromium, viewer):
    visit = Visit(chromium, viewer)
    page = visit.go(links.run_path("mutation"))
    page.click("section#tasks a:text('demo__textkit-1')")
    page.wait_for_load_state()
    assert page.locator(".grid a.cell").count() == 4 and not visit.errors
    visit.shot("task")
    page.click(".grid a.cell >> nth=1")
    page.wait_for_load_state()
    assert page.url.endswith(links.attempt_path("mutation", "demo__textkit-1", 1))
    diff = page.inner_text("pre.diff")
    assert diff.startswith("diff --git") and not visit.errors
    # Highlighted server-side: added and removed lines are spans Pygments classed.
    assert page.locator("pre.diff span.gi, pre.diff span.gd").count() >= 1


@pytest.mark.docker
@pytest.mark.slow
def test_a_hostile_candidate_shows_as_text_and_runs_nothing(chromium, viewer):
    visit = Visit(chromium, viewer)
    page = visit.go(links.attempt_path("replay", HOSTILE_TASK, 0))
    title = page.title()
    assert title == f"{HOSTILE_TASK} attempt 0 · harness view"
    assert page.evaluate("() => typeof window.pwned") == "undefined"
    assert page.evaluate("() => document.querySelectorAll('script, img').length") == 0
    assert not page.evaluate(
        "() => [...document.querySelectorAll('b')].some(b => b.textContent.includes('bold'))")
    diff = page.inner_text("pre.diff")
    assert "<script>document.title='pwned'" in diff and "<b>not bold</b>" in diff
    assert "ESC[31mred" in diff and ESC not in diff  # escapes shown as labels, not obeyed
    assert page.locator("pre.diff span.ctl").count() >= 4
    assert LONG_LINE in diff.replace("\n", "")
    output = page.inner_text("#output pre")
    assert "<script>document.title='pwned'" in output and "ESC[31m" in output
    # The 50,000-character line wraps inside its box: the page does not scroll sideways.
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 1280, width
    verdict = page.inner_text("#outcome")
    assert "unresolved" in verdict or "error" in verdict
    visit.shot("attempt-hostile")
    page = visit.go(links.attempt_path("replay", HOSTILE_TASK, 2))
    assert "suspicious" in page.inner_text("#outcome")
    page = visit.go(links.attempt_path("replay", HOSTILE_TASK, 1))
    assert "resolved" in page.inner_text("#outcome")
    visit.shot("attempt")
    page = visit.go(links.attempt_path("oneshot", HOSTILE_TASK, 1))
    assert page.locator("#ledger tbody tr").count() >= 1
    assert page.locator("#trajectory .turn.role-assistant").count() >= 1
    assert "<script>document.title='pwned'" in page.inner_text("#trajectory")
    visit.shot("attempt-llm")
    page = visit.go(links.task_path("replay", HOSTILE_TASK))
    assert page.locator(".grid a.cell.v-resolved").count() >= 1
    assert page.locator(".grid a.cell.suspicious").count() == 1
    visit.shot("task-replay")
    assert page.title() == f"{HOSTILE_TASK} in replay · harness view"


def test_browse_queries_read_a_read_only_store_on_sqlite_and_postgresql(db_url):
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from harness.reports.synthetic import Attempt, patch_for

    store = Store(db_url)
    task = "org0__repo0-1000"
    attempts = [Attempt(""), Attempt(patch_for(task, 1)), Attempt(patch_for(task, 0), True),
                Attempt(patch_for(task, 1)), Attempt("", error_kind="infra")]
    add_run(store, "r", {task: attempts, "org1__repo1-1001": [Attempt(patch_for("x", 2))]})
    store.close()
    store = Store(db_url, read_only=True)
    try:
        [row] = store.run_list()
        assert (row.id, row.tasks) == ("r", 2)
        assert sorted(store.run_counts("r").counts) == [(1, 0), (4, 1)]
        found = store.task_in_run("r", task)
        assert found is not None and found.attempts == 5
        cells = store.attempt_cells("r", found.task_id)
        assert [cell.verdict for cell in cells] == [
            "empty_patch", "unresolved", "resolved", "unresolved", "infra"]
        assert [cell.index for cell in store.attempt_cells("r", found.task_id, 2, 2)] == [2, 3]
        groups = store.patch_groups("r", found.task_id)
        assert [(g.attempts, g.first_index) for g in groups] == [(2, 1), (1, 0), (1, 2)]
        attempt = store.attempt_in_run("r", found.task_id, 2)
        summary = store.evaluation_summary(attempt.evaluation_id)
        output = f"test output of {task}: resolved\n"
        assert summary["test_output_chars"] == len(output)
        assert store.text_slice(attempt.evaluation_id, "test_output", 5, 6) == output[5:11]
        assert store.run_fingerprint("r") is not None and store.run_fingerprint("x") is None
        with pytest.raises(DBAPIError):
            with store.writing() as session:
                session.execute(text("DELETE FROM test_results"))
    finally:
        store.close()


def test_a_store_at_an_older_schema_is_refused_not_upgraded(tmp_path):
    from harness.store import StoreError
    from harness.store.database import make_engine
    from harness.store.migrations import upgrade_through_revisions

    db = tmp_path / "old.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade_through_revisions(engine, "0006")
    engine.dispose()
    before = _store_digest(db)
    with pytest.raises(StoreError, match=rf"{db} has schema revision 0006, this harness reads"):
        Store(db, read_only=True)
    assert _store_digest(db) == before
    viewed = _harness("view", "--db", str(db), timeout=60)
    assert viewed.returncode == 2 and "schema revision 0006" in viewed.stderr
