"""The viewer's web application: Starlette routes over a store opened read-only, pages
rendered by Jinja2 with autoescaping, a restrictive Content-Security-Policy on every answer.

Why Starlette: a small, well-kept ASGI toolkit (routing, static files, Jinja2 templates) with no
JavaScript build step and nothing the viewer does not use; uvicorn serves it. Pages are plain
server-rendered HTML and SVG, so the CSP can forbid every script.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from harness.store import Store
from harness.viewer import links, text
from harness.viewer.figures import FigureCache

HERE = Path(__file__).parent
# No script of any origin, no frames, no plugins; styles and images only from the viewer itself
# (SVG is inline, styled by attributes). Forms may only submit to the viewer (the compare picker).
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every response, error pages included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


def templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        visible=text.visible,
        pct=lambda v: "-" if v is None else f"{100 * v:.1f}%",
        dollars=_dollars,
        short=lambda v: (v or "")[:10],
        seconds=lambda v: "-" if v is None else f"{v:,.1f} s",
    )
    env.globals.update(
        with_param=_with_param,
        run_path=links.run_path, task_path=links.task_path, attempt_path=links.attempt_path,
        compare_path=links.compare_path, runs_path=links.runs_path,
    )
    return env


def _with_param(request: Any, name: str, value: int) -> str:
    """The query string of `request` with `name` set to `value` (a pager keeps the others)."""
    from urllib.parse import urlencode

    return "?" + urlencode({**request.query_params, name: value})


def _dollars(value: float | None) -> str:
    if value is None:
        return "unknown"
    return f"${value:,.4f}" if abs(value) < 1 else f"${value:,.2f}"


def _warming(figures: FigureCache, store: Store, count: int):
    from harness.viewer import routes

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # Figures of the newest `count` runs, then the counts of the runs list's first page.
        figures.warm(store.run_ids()[::-1][:routes.RUNS_PER_PAGE], count)
        yield

    return lifespan


def create_app(store: Store, warm: int = 3, allowed_hosts: list[str] | None = None) -> Starlette:
    """The viewer over `store` (open it with read_only=True). `warm`: how many of the newest
    runs get their figures computed in the background at start. `allowed_hosts`: Host
    headers answered (default: loopback names only, which also defeats DNS rebinding)."""
    from harness.viewer import routes

    figures = FigureCache(store)
    env = templates()
    env.globals["diff_css"] = "/static/diff.css"

    async def diff_css(_request: Any) -> Response:
        return PlainTextResponse(text.diff_css(), media_type="text/css")

    app = Starlette(
        routes=[
            Route("/", routes.runs_page, methods=["GET"]),
            Route("/runs/{run_id}", routes.run_page, methods=["GET"]),
            Route("/runs/{run_id}/tasks/{instance_id}", routes.task_page, methods=["GET"]),
            Route("/runs/{run_id}/tasks/{instance_id}/attempts/{index:int}",
                  routes.attempt_page, methods=["GET"]),
            Route("/compare", routes.compare_page, methods=["GET"]),
            Route("/static/diff.css", diff_css, methods=["GET"]),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts or LOOPBACK_HOSTS),
        ],
        exception_handlers={404: routes.not_found, 405: routes.not_allowed},
        lifespan=_warming(figures, store, warm),
    )
    app.state.store = store
    app.state.figures = figures
    app.state.env = env
    return app
