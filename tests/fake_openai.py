"""A real OpenAI-compatible HTTP server on 127.0.0.1 with scripted answers, for tests.

It speaks `POST /v1/chat/completions` (with `n` and `usage`) and `GET /v1/models`. Each request
takes the next `Reply` from the script, or asks `responder(request)` when the script is empty.
A reply may be an HTTP error (429, 500, 401, a context-window 400) or a slow answer (to provoke
a client timeout). Every request body is kept in `requests` (with its arrival time in
`request_times`), so tests can assert what litellm really sent.

It keeps its own bill, as a provider does: every answer it sent with status 200 adds its
tokens and their dollars (at `prices`, dollars per million tokens) to `bill`. A test then
holds the harness's ledger against this bill.

The selector modes at the end (repro_responder, judge_responder) write reproduction tests and
judge choices from the prompt, deterministically.

Not a test module: pytest collects only test_*.py.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer. `texts` are the choices; with `n` > len(texts) they repeat."""

    texts: list[str] = field(default_factory=lambda: ["ok"])
    status: int = 200
    error_message: str = ""
    error_code: str | None = None
    delay: float = 0.0  # seconds to wait before answering (a client timeout test)
    prompt_tokens: int | None = None  # None: about one token per 4 characters of the prompt
    completion_tokens: int | None = None  # None: one token per 4 characters of each choice
    cached_tokens: int = 0
    headers: dict[str, str] = field(default_factory=dict)


def text_reply(*texts: str, **kwargs: Any) -> Reply:
    return Reply(texts=list(texts), **kwargs)


def error_reply(status: int, message: str = "", code: str | None = None, **kwargs: Any) -> Reply:
    return Reply(texts=[], status=status, error_message=message or f"HTTP {status}",
                 error_code=code, **kwargs)


def _prompt_chars(body: dict[str, Any]) -> int:
    total = 0
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            total += len(content)
        elif isinstance(content, list):
            total += sum(len(part.get("text", "")) for part in content if isinstance(part, dict))
    return total


@dataclass(frozen=True)
class Prices:
    """Dollars per million tokens: uncached input, output, cached input."""

    input: float = 1.0
    output: float = 2.0
    cache_read: float = 0.1


@dataclass
class Bill:
    calls: int = 0
    samples: int = 0
    prompt_tokens: int = 0  # cached included, as the usage field counts them
    completion_tokens: int = 0
    cached_tokens: int = 0
    dollars: float = 0.0
    errors: int = 0  # answered with an HTTP error: billed nothing


class FakeOpenAI:
    """Use as a context manager; `base_url` is what to give litellm as api_base."""

    def __init__(
        self,
        script: Iterable[Reply] = (),
        responder: Callable[[dict[str, Any]], Reply] | None = None,
        model_name: str = "fake-model",
        prices: Prices | None = None,
    ) -> None:
        self.script: deque[Reply] = deque(script)
        self.responder = responder
        self.model_name = model_name
        self.requests: list[dict[str, Any]] = []
        self.request_times: list[float] = []
        self.prices = prices or Prices()
        self.bill = Bill()
        self.lock = threading.Lock()
        self.closing = threading.Event()
        self.in_flight = 0
        self.max_in_flight = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle ---------------------------------------------------------------------------

    def __enter__(self) -> FakeOpenAI:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [
                        {"id": fake.model_name, "object": "model", "owned_by": "tests"}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    self._send(400, {"error": {"message": "body is not JSON"}})
                    return
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                fake._handle(self, body)

            def _send(self, status: int, payload: dict[str, Any],
                      headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test): nothing to answer

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    # -- answers ------------------------------------------------------------------------------

    def add(self, *replies: Reply) -> None:
        with self.lock:
            self.script.extend(replies)

    @property
    def completions(self) -> list[dict[str, Any]]:
        return [body for body in self.requests if "messages" in body]

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self.lock:
            self.requests.append(body)
            self.request_times.append(time.monotonic())
            if self.script:
                return self.script.popleft()
        if self.responder is not None:
            return self.responder(body)
        return Reply(texts=["(the fake server's script is empty)"])

    def _handle(self, handler: Any, body: dict[str, Any]) -> None:
        reply = self._next_reply(body)
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if reply.delay:
                # Ends early when the server stops, so no test waits for a sleeping handler.
                self.closing.wait(reply.delay)
            if reply.status != 200:
                error: dict[str, Any] = {"message": reply.error_message, "type": "test_error"}
                if reply.error_code:
                    error["code"] = reply.error_code
                with self.lock:
                    self.bill.errors += 1
                handler._send(reply.status, {"error": error}, reply.headers)
                return
            if self.closing.is_set():
                return  # stopped while it waited: the client got no answer, nothing billed
            answer = self._completion(body, reply)
            self._charge(answer)
            handler._send(200, answer, reply.headers)
        finally:
            with self.lock:
                self.in_flight -= 1

    def _charge(self, answer: dict[str, Any]) -> None:
        usage = answer["usage"]
        cached = usage["prompt_tokens_details"]["cached_tokens"]
        prices = self.prices
        dollars = (
            (usage["prompt_tokens"] - cached) * prices.input
            + cached * prices.cache_read
            + usage["completion_tokens"] * prices.output
        ) / 1e6
        with self.lock:
            bill = self.bill
            bill.calls += 1
            bill.samples += len(answer["choices"])
            bill.prompt_tokens += usage["prompt_tokens"]
            bill.completion_tokens += usage["completion_tokens"]
            bill.cached_tokens += cached
            bill.dollars += dollars

    def _completion(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        n = int(body.get("n") or 1)
        texts = [reply.texts[i % len(reply.texts)] for i in range(n)] if reply.texts else [""] * n
        prompt_tokens = (
            reply.prompt_tokens
            if reply.prompt_tokens is not None
            else max(1, _prompt_chars(body) // 4)
        )
        completion_tokens = (
            reply.completion_tokens
            if reply.completion_tokens is not None
            else sum(max(1, len(text) // 4) for text in texts)
        )
        return {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", self.model_name),
            "choices": [
                {
                    "index": index,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
                for index, text in enumerate(texts)
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": reply.cached_tokens},
            },
        }


# -- modes that answer the LLM selectors' prompts (harness/selection/llm) ---------------------
#
# Deterministic answers written from the prompt itself, as a model would write them from the
# issue: `repro_responder` writes reproduction tests, `judge_responder` answers a judge prompt,
# `selection_responder` tells the two prompts apart. The scripted `Reply`s above still come
# first when a test queues any.

_ISSUE = re.compile(r"<issue>\n?(.*?)</issue>", re.DOTALL)
_ANY_BLOCK = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)```", re.DOTALL)
_CANDIDATE = re.compile(r"^#+\s*Candidate (\d+)\b", re.MULTILINE)

# What each test of a repro answer is, in sample order (repeating when n is larger):
# - "reproduce": runs the issue's reproduction code and asserts its expected output;
# - "first_line": the same, up to the code's first print and the first expected line;
# - "passes": a test that passes at the base commit (does not reproduce the issue);
# - "prose": no code block; "syntax": a syntax error; "no_test": code without a test function.
REPRO_KINDS = ("reproduce", "first_line", "passes", "prose", "syntax", "no_test")

_REPRO_TEST = '''\
import contextlib
import io

CODE = {code!r}
EXPECTED = {expected!r}


def test_issue_is_fixed():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(CODE, "<issue>", "exec"), {{"__name__": "__issue__"}})
    assert out.getvalue().strip() == EXPECTED.strip()
'''


def _user_text(body: dict[str, Any]) -> str:
    parts = []
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
    return "\n".join(parts)


def issue_of(body: dict[str, Any]) -> str:
    text = _user_text(body)
    found = _ISSUE.search(text)
    return found.group(1) if found else text


def reproduction(issue: str) -> tuple[str, str] | None:
    """(code, expected output) of an issue written as the demo tasks are: a ```python block
    under "Reproduction" and a block after "Expected output"."""
    code = next((body for tag, body in _ANY_BLOCK.findall(issue) if tag == "python"), None)
    marker = issue.find("Expected output")
    if code is None or marker < 0:
        return None
    after = _ANY_BLOCK.search(issue, marker)
    return (code, after.group(2)) if after else None


def repro_answer(kind: str, issue: str) -> str:
    found = reproduction(issue)
    if kind in ("reproduce", "first_line") and found is not None:
        code, expected = found
        if kind == "first_line":
            lines = code.splitlines()
            first = next(i for i, line in enumerate(lines) if line.lstrip().startswith("print"))
            code = "\n".join(lines[: first + 1]) + "\n"
            expected = expected.splitlines()[0] + "\n"
        test = _REPRO_TEST.format(code=code, expected=expected)
        return f"Here is the test.\n\n```python\n{test}```\n"
    if kind in ("reproduce", "first_line", "passes"):
        return "```python\ndef test_arithmetic():\n    assert 1 + 1 == 2\n```\n"
    if kind == "prose":
        return "I would write a test that calls the function and checks what it returns."
    if kind == "syntax":
        return "```python\ndef test_broken(:\n    assert True\n```\n"
    if kind == "no_test":
        return "```python\nprint('hello')\n```\n"
    raise ValueError(f"unknown repro kind {kind!r}; known: {REPRO_KINDS}")


def repro_responder(
    kinds: tuple[str, ...] = ("reproduce",), **reply: Any
) -> Callable[[dict[str, Any]], Reply]:
    """Answers every prompt with n reproduction tests. The samples of one prompt are numbered
    across calls (a second call for the same issue goes on where the first stopped), and sample
    i is of kind kinds[i % len(kinds)]."""
    served: dict[str, int] = {}
    lock = threading.Lock()

    def respond(body: dict[str, Any]) -> Reply:
        n = int(body.get("n") or 1)
        issue = issue_of(body)
        key = json.dumps(body.get("messages"), sort_keys=True)
        with lock:
            first = served.get(key, 0)
            served[key] = first + n
        texts = [repro_answer(kinds[(first + i) % len(kinds)], issue) for i in range(n)]
        return Reply(texts=texts, **reply)

    return respond


def judge_candidates(body: dict[str, Any]) -> dict[int, str]:
    """Candidate number -> its section of a judge prompt."""
    text = _user_text(body)
    marks = list(_CANDIDATE.finditer(text))
    return {
        int(mark.group(1)): text[mark.end(): marks[i + 1].start() if i + 1 < len(marks) else None]
        for i, mark in enumerate(marks)
    }


def judge_responder(prefer: str, **reply: Any) -> Callable[[dict[str, Any]], Reply]:
    """Answers a judge prompt with the first candidate whose diff holds `prefer`; with no such
    candidate, with prose that names none (garbage a judge must survive)."""

    def respond(body: dict[str, Any]) -> Reply:
        for number, section in sorted(judge_candidates(body).items()):
            if prefer in section:
                return Reply(texts=[f"Candidate {number} fixes it.\nCHOICE: {number}"], **reply)
        return Reply(texts=["They all look plausible to me."], **reply)

    return respond


def selection_responder(
    kinds: tuple[str, ...] = ("reproduce",), prefer: str = "", **reply: Any
) -> Callable[[dict[str, Any]], Reply]:
    """Repro prompts get tests, judge prompts (with candidates) a choice."""
    repro = repro_responder(kinds, **reply)
    judge = judge_responder(prefer, **reply)
    return lambda body: judge(body) if judge_candidates(body) else repro(body)
