"""The viewer's server: local binding, security headers, clear errors."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from gwa.cli import main
from gwa.viewer import Viewer, serve_in_background

LINE = (
    json.dumps(
        {
            "v": 1,
            "ts": 0,
            "run": "r",
            "seq": 1,
            "cycle": 1,
            "event": "cycle.start",
            "temperature": 0.7,
        }
    )
    + "\n"
)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    path = tmp_path / "t.jsonl"
    path.write_text(LINE)
    server, url = serve_in_background(Viewer(path))
    yield url
    server.shutdown()
    server.server_close()


def test_binds_loopback_and_sends_a_strict_csp(served: str) -> None:
    """The default address is 127.0.0.1; pages forbid inline and foreign scripts."""
    assert served.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(served) as response:
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert b'<script src="/app.js"' in response.read()


def test_api_answers_and_rejects_bad_requests(served: str) -> None:
    """The summary is JSON; a bad cycle number is 400 and an unknown endpoint 404."""
    with urllib.request.urlopen(served + "api/summary") as response:
        assert json.loads(response.read())["columns"]["temperature"] == [0.7]
    for path, status in (("api/cycle?n=x", 400), ("api/cycle?run=zzz&n=1", 400), ("api/nope", 404)):
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(served + path)
        assert info.value.code == status


def test_view_command_explains_a_busy_port(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A port already in use is exit 2 with the fix, not a traceback."""
    import socket

    path = tmp_path / "t.jsonl"
    path.write_text(LINE)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["view", str(path), "--port", str(port), "--no-browser"]) == 2
    assert "choose another with --port N" in capsys.readouterr().err


def test_view_command_refuses_a_missing_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`gwa view` on a missing file exits 2 naming it."""
    assert main(["view", str(tmp_path / "none.jsonl"), "--no-browser"]) == 2
    assert "trace file not found" in capsys.readouterr().err
