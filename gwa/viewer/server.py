"""The viewer's HTTP server: the shipped page plus a small JSON API over one or two traces.

Binds 127.0.0.1 unless told otherwise. Every response carries a Content-Security-Policy that
allows only the page's own script and style, so even a rendering mistake could not run a
script smuggled into a trace; the page itself sets all trace content as text.
"""

from __future__ import annotations

import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import orjson

from gwa.viewer.data import TraceIndex

STATIC = {
    "/": ("index.html", "text/html"),
    "/app.js": ("app.js", "text/javascript"),
    "/style.css": ("style.css", "text/css"),
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _static(name: str) -> bytes:
    return resources.files("gwa.viewer").joinpath("static", name).read_bytes()


class Viewer:
    """The traces being served (``a`` and optionally ``b`` to compare), and live mode."""

    def __init__(
        self, trace: str | Path, compare: str | Path | None = None, *, live: bool = False
    ) -> None:
        self.live = live
        self.traces = {"a": TraceIndex(trace)}
        if compare is not None:
            self.traces["b"] = TraceIndex(compare)
        for index in self.traces.values():
            index.summary_json()  # encode before serving: the page's first request is the big one

    def get(self, run: str) -> TraceIndex:
        """The trace named ``a`` or ``b``; KeyError otherwise."""
        return self.traces[run]


class _Handler(BaseHTTPRequestHandler):
    viewer: Viewer
    server_version = "gwa-viewer"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the terminal shows the address, not every request."""

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, data: Any, status: int = HTTPStatus.OK) -> None:
        body = orjson.dumps(data, default=str, option=orjson.OPT_NON_STR_KEYS)
        self._send(status, body, "application/json")

    def _host_allowed(self) -> bool:
        """DNS rebinding: a page on another origin reaches this server under its own host
        name; only the names the viewer is bound to (and loopback's) are served."""
        address: Any = self.server.server_address
        bound = str(address[0])
        if bound in ("0.0.0.0", "::", ""):
            return True  # bound to every address on purpose (--host 0.0.0.0)
        host = (self.headers.get("Host") or "").strip().lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        allowed = {bound.lower(), f"[{bound}]"}
        if bound.startswith("127.") or bound in ("::1", "localhost"):
            allowed |= {"localhost", "127.0.0.1", "[::1]"}
        return name in allowed

    def do_GET(self) -> None:
        if not self._host_allowed():
            self._json({"error": "unknown Host header; open the viewer by its address"}, 403)
            return
        url = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path == "/favicon.ico":
            self.send_response(HTTPStatus.NO_CONTENT)
            self.end_headers()
            return
        if url.path in STATIC:
            name, kind = STATIC[url.path]
            self._send(HTTPStatus.OK, _static(name), kind)
            return
        try:
            self._api(url.path, query)
        except (KeyError, ValueError) as exc:
            self._json({"error": f"bad request: {exc}"}, HTTPStatus.BAD_REQUEST)

    def _api(self, path: str, q: dict[str, str]) -> None:
        v = self.viewer
        if path == "/api/runs":
            loading = any(t.loading for t in v.traces.values())
            runs = {k: str(t.path) for k, t in v.traces.items()}
            self._json({"runs": runs, "live": v.live or loading})
            return
        trace = v.get(q.get("run", "a"))
        if v.live and not trace.loading:
            trace.refresh()
        if path == "/api/summary":
            since = _bounded(q.get("since", "0"), "since")
            self._send(HTTPStatus.OK, trace.summary_json(since), "application/json")
        elif path == "/api/cycle":
            n = _bounded(q["n"], "n")
            self._json({"cycle": n, "events": trace.cycle(n)})
        elif path == "/api/event":
            record = trace.event(_bounded(q["seq"], "seq"))
            if record is None:
                self._json({"error": f"no event with seq {q['seq']}"}, HTTPStatus.NOT_FOUND)
            else:
                self._json(record)
        elif path == "/api/search":
            self._json({"cycles": trace.search(q.get("q", ""))})
        elif path == "/api/memory":
            offset = _bounded(q.get("offset", "0"), "offset")
            limit = min(_bounded(q.get("limit", "500"), "limit"), 5000)
            self._json(trace.memory_events(offset, limit))
        else:
            self._json({"error": f"no such endpoint {path}"}, HTTPStatus.NOT_FOUND)


def _bounded(value: str, name: str) -> int:
    """A query integer within 0..10^9 (anything else is a 400, never a dropped connection)."""
    n = int(value) if value.isdigit() and len(value) <= 10 else -1
    if not 0 <= n <= 10**9:
        raise ValueError(f"{name} must be a whole number from 0 to 1000000000, got {value[:30]!r}")
    return n


def make_server(viewer: Viewer, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """An HTTP server for ``viewer`` (port 0: any free port; see ``server.server_address``)."""
    handler = type("Handler", (_Handler,), {"viewer": viewer})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def serve_in_background(
    viewer: Viewer, host: str = "127.0.0.1", port: int = 0
) -> tuple[ThreadingHTTPServer, str]:
    """Start a server in a daemon thread; return it and its address (for tests and benches)."""
    server = make_server(viewer, host, port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, address(server)


def address(server: ThreadingHTTPServer) -> str:
    """The server's URL."""
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}/" if isinstance(host, str) else f"http://127.0.0.1:{port}/"
