"""The HTTP face of `gwa serve` (Starlette): the run API with server-sent events, the
OpenAI-compatible endpoint, and the live console page.

Every ``/api`` and ``/v1`` route needs the server's token (``Authorization: Bearer TOKEN``;
an ``EventSource``, which cannot send headers, may pass ``?token=``). Errors are JSON:
``{"error": {"message": …, "type": …}}`` with the fitting status code.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from gwa.errors import ConfigError, GwaError
from gwa.serve.hub import RunHub
from gwa.serve.openai_api import body, chat_completions, models
from gwa.workspace import Decision

STATIC = Path(__file__).resolve().parent / "static"
Handler = Callable[[Request], Awaitable[Response]]


def error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
    """The JSON error body (OpenAI's shape, so its clients show the message)."""
    return JSONResponse({"error": {"message": message, "type": kind}}, status_code=status)


def text_field(data: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    """A string field of a body (a 400 when it is missing or not a string)."""
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise HTTPException(400, f"'{name}' must be a non-empty string")
    return value


def guarded(hub: RunHub, fn: Callable[[Request, RunHub], Awaitable[Response]]) -> Handler:
    """A route handler with its errors as JSON: unknown run → 404, bad input → 400/409."""

    async def handle(request: Request) -> Response:
        try:
            return await fn(request, hub)
        except HTTPException as exc:
            return error(exc.status_code, str(exc.detail))
        except KeyError as exc:
            return error(404, str(exc.args[0]), "not_found")
        except ValueError as exc:
            return error(409, str(exc), "conflict")
        except (ConfigError, GwaError) as exc:
            return error(422, str(exc))

    return handle


async def list_runs(request: Request, hub: RunHub) -> Response:
    return JSONResponse(
        {
            "runs": [r.info() for r in hub.runs.values()],
            "scenarios": {n: s.scenario.goal for n, s in hub.served.items()},
        }
    )


async def start_run(request: Request, hub: RunHub) -> Response:
    data = await body(request)
    name = text_field(data, "scenario") or ""
    goal = text_field(data, "goal", required=False)
    inputs = data.get("inputs", [])
    if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
        raise HTTPException(400, "'inputs' must be a list of strings")
    run = await hub.start(name, goal, tuple((i, "api") for i in inputs))
    return JSONResponse(run.info(), status_code=201)


async def show_run(request: Request, hub: RunHub) -> Response:
    return JSONResponse(hub.get(request.path_params["run"]).info())


async def events(request: Request, hub: RunHub) -> Response:
    run = hub.get(request.path_params["run"])
    since = request.headers.get("last-event-id") or request.query_params.get("since") or "0"
    if not since.isdigit():
        raise HTTPException(400, "'since' / Last-Event-ID must be a sequence number")

    async def stream() -> AsyncIterator[dict[str, Any]]:
        async for e in run.follow(int(since)):
            yield {"id": str(e.seq or ""), "data": e.json}
        yield {"data": json.dumps({"event": "end", "run": run.info()})}

    return EventSourceResponse(stream(), ping=15)


async def submit(request: Request, hub: RunHub) -> Response:
    run = hub.get(request.path_params["run"])
    text = text_field(await body(request), "text") or ""
    if not run.live or run.ws is None:
        raise ValueError(f"run {run.id} is {run.status}; start a new run to talk to it")
    await run.ws.submit(text)
    return JSONResponse({"ok": True}, status_code=202)


async def stop(request: Request, hub: RunHub) -> Response:
    run = hub.get(request.path_params["run"])
    stopping = run.ws is not None and run.ws.stop("stopped over the API")
    return JSONResponse({"stopping": stopping}, status_code=202)


async def idle(request: Request, hub: RunHub) -> Response:
    run = hub.get(request.path_params["run"])
    enabled = (await body(request)).get("enabled")
    if not isinstance(enabled, bool):
        raise HTTPException(400, "'enabled' must be true or false")
    if not run.live or run.ws is None:
        raise ValueError(f"run {run.id} is {run.status}")
    await run.ws.set_idle(enabled)
    return JSONResponse({"idle": enabled}, status_code=202)


async def decide(request: Request, hub: RunHub) -> Response:
    run = hub.get(request.path_params["run"])
    data = await body(request)
    verdict = text_field(data, "verdict") or ""
    text = text_field(data, "text", required=False)
    try:
        decision = Decision.parse(verdict, text)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    await hub.decide(run, decision)
    return JSONResponse({"decision": verdict}, status_code=202)


def _authorised(request: Request, token: str) -> bool:
    given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if not given and request.method == "GET":
        given = request.query_params.get("token", "")
    return bool(given) and hmac.compare_digest(given.encode(), token.encode())


class TokenAuth:
    """ASGI middleware: ``/api`` and ``/v1`` need the token (CORS preflights aside)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope["path"]).startswith(("/api/", "/v1/")):
            request = Request(scope)
            if request.method != "OPTIONS" and not _authorised(request, self.token):
                refused = error(
                    401, "missing or wrong token: send 'Authorization: Bearer TOKEN'", "auth"
                )
                await refused(scope, receive, send)
                return
        await self.app(scope, receive, send)


def build_app(hub: RunHub, token: str, *, cors: Sequence[str] = ()) -> Starlette:
    """The Starlette app of a hub (``cors``: origins allowed to call it; none by default)."""

    def route(path: str, fn: Any, methods: list[str]) -> Route:
        return Route(path, guarded(hub, fn), methods=methods)

    routes = [
        Route("/", lambda _: FileResponse(STATIC / "console.html")),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        route("/api/runs", list_runs, ["GET"]),
        route("/api/runs", start_run, ["POST"]),
        route("/api/runs/{run}", show_run, ["GET"]),
        route("/api/runs/{run}/events", events, ["GET"]),
        route("/api/runs/{run}/input", submit, ["POST"]),
        route("/api/runs/{run}/stop", stop, ["POST"]),
        route("/api/runs/{run}/idle", idle, ["POST"]),
        route("/api/runs/{run}/decision", decide, ["POST"]),
        route("/v1/models", models, ["GET"]),
        route("/v1/chat/completions", chat_completions, ["POST"]),
    ]
    middleware = [
        Middleware(
            CORSMiddleware, allow_origins=list(cors), allow_headers=["*"], allow_methods=["*"]
        )
        for _ in cors[:1]
    ]
    middleware.append(Middleware(TokenAuth, token=token))

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await hub.close()

    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)

    app.add_exception_handler(404, lambda r, e: error(404, f"no route {r.url.path}", "not_found"))
    app.add_exception_handler(405, lambda r, e: error(405, f"{r.method} is not allowed here"))
    return app
