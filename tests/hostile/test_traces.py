"""Hostile traces in the viewer: a wrong-typed or broken line is listed and skipped, never
fatal; huge events are capped; bad query values are a 400; only the bound host names are
served; a killed run's trace says 'interrupted'."""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from gwa import Workspace, parse_scenario
from gwa.agents.testing import FakeModel
from gwa.viewer.server import Viewer, serve_in_background

SCENARIO = (
    "goal: pick a fruit\nagents:\n  - {name: g, role: generator}\n  - {name: c, role: critic}\n"
    "selection: {policy: score}\nworkspace: {max_cycles: 3}\n"
)


@pytest.fixture(scope="module")
def good_lines(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    trace = tmp_path_factory.mktemp("good") / "t.jsonl"
    ws = Workspace(parse_scenario(SCENARIO), models={"default": FakeModel()}, trace_path=trace)
    asyncio.run(ws.run())
    return [json.loads(line) for line in trace.read_text().splitlines()]


def with_line(lines: list[dict[str, Any]], bad: dict[str, Any] | str, at: int = 3) -> str:
    """The trace with ``bad`` inserted as line ``at + 1``; records are renumbered so that
    ``seq`` keeps rising."""
    rows: list[dict[str, Any] | str] = [*lines[:at], bad, *lines[at:]]
    out = []
    for i, row in enumerate(rows, 1):
        out.append(row if isinstance(row, str) else json.dumps({**row, "seq": i}))
    return "\n".join(out) + "\n"


def kind(lines: list[dict[str, Any]], event: str) -> dict[str, Any]:
    return dict(next(r for r in lines if r["event"] == event))


def get(url: str, host: str | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


BAD_FIELDS = [
    ("model.call", {"tokens_in": "<b>12</b>"}),
    ("model.call", {"tokens_in": [1]}),
    ("model.call", {"latency_ms": {"x": 1}}),
    ("model.call", {"ok": "yes"}),
    ("run.start", {"agents": 5}),
    ("run.start", {"agents": ["a", "b"]}),
    ("run.start", {"goal": ["<script>alert(1)</script>"]}),
    ("broadcast", {"memories": "abc"}),
    ("broadcast", {"working_memory": "abc"}),
    ("broadcast", {"working_memory": [1, 2]}),
    ("selection", {"scores": [1]}),
    ("selection", {"text": 42}),
    ("selection", {"tag": {"a": 1}}),
    ("proposal", {"text": None}),
    ("proposal", {"salience": "high"}),
    ("critique", {"score": "5"}),
    ("cycle.start", {"temperature": "hot"}),
    ("cycle.start", {"inputs": "x"}),
    ("drive.update", {"temperatures": [0.7]}),
    ("drive.update", {"h": "low"}),
    ("run.end", {"answer": {"nested": True}}),
    ("run.end", {"cycles": "three"}),
]


@pytest.mark.parametrize(
    ("event", "patch"), BAD_FIELDS, ids=[f"{e}-{next(iter(p))}" for e, p in BAD_FIELDS]
)
def test_a_wrong_typed_line_is_listed_and_skipped(
    good_lines: list[dict[str, Any]], tmp_path: Path, event: str, patch: dict[str, Any]
) -> None:
    """The server starts, lists the line as broken, and every API answer is JSON."""
    bad = {**kind(good_lines, event), **patch}
    path = tmp_path / "t.jsonl"
    path.write_text(with_line(good_lines, bad))
    server, url = serve_in_background(Viewer(path))
    try:
        status, summary = get(f"{url}api/summary")
        assert status == 200
        assert [e["line"] for e in summary["errors"]] == [4]
        assert "skipped" in summary["errors"][0]["message"]
        for cycle in summary["columns"]["cycle"]:
            assert get(f"{url}api/cycle?n={cycle}")[0] == 200
        assert get(f"{url}api/memory")[0] == 200
    finally:
        server.shutdown()


BROKEN = [
    "{truncated",
    "[1, 2]",
    '"just a string"',
    '{"event": 5, "seq": 1}',
    "\x00\x01",
    "{}" * 1000,
]


@pytest.mark.parametrize("line", BROKEN, ids=range(len(BROKEN)))
def test_a_broken_line_is_listed(
    good_lines: list[dict[str, Any]], tmp_path: Path, line: str
) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(with_line(good_lines, line))
    server, url = serve_in_background(Viewer(path))
    try:
        status, summary = get(f"{url}api/summary")
        assert status == 200
        assert len(summary["errors"]) == 1
        assert summary["total_cycles"] == 3
    finally:
        server.shutdown()


def test_a_huge_event_is_capped_and_fetched_whole_on_request(
    good_lines: list[dict[str, Any]], tmp_path: Path
) -> None:
    """A 5 MB proposal is cut when its cycle is sent; /api/event gives it whole."""
    big = {**kind(good_lines, "proposal"), "text": "x" * 5_000_000}
    path = tmp_path / "t.jsonl"
    path.write_text(with_line(good_lines, big))
    server, url = serve_in_background(Viewer(path))
    try:
        _, events = get(f"{url}api/cycle?n={big['cycle']}")
        (cut,) = [e for e in events["events"] if e.get("seq") == 4]
        assert cut["_truncated"] == ["text"]
        assert len(cut["text"]) < 25_000
        status, whole = get(f"{url}api/event?seq=4")
        assert status == 200
        assert len(whole["text"]) == 5_000_000
    finally:
        server.shutdown()


@pytest.mark.parametrize(
    "query",
    [
        "api/cycle?n=99999999999999999999",
        "api/cycle?n=-1",
        "api/cycle?n=abc",
        "api/cycle",
        "api/summary?since=1e9",
        "api/memory?limit=-5",
        "api/event?seq=x",
        "api/summary?run=c",
        "api/nothing",
    ],
)
def test_bad_queries_get_a_json_error(
    good_lines: list[dict[str, Any]], tmp_path: Path, query: str
) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in good_lines) + "\n")
    server, url = serve_in_background(Viewer(path))
    try:
        status, body = get(url + query)
        assert status in (400, 404)
        assert "error" in body
        assert get(f"{url}api/summary")[0] == 200  # still serving
    finally:
        server.shutdown()


def test_only_the_bound_host_names_are_served(
    good_lines: list[dict[str, Any]], tmp_path: Path
) -> None:
    """DNS rebinding: another host name is refused (403); loopback names are served."""
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in good_lines) + "\n")
    server, url = serve_in_background(Viewer(path))
    port = server.server_address[1]
    try:
        assert get(f"{url}api/summary", host="evil.example:80")[0] == 403
        assert get(f"{url}api/summary", host=f"attacker.test:{port}")[0] == 403
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost"):
            assert get(f"{url}api/summary", host=host)[0] == 200
    finally:
        server.shutdown()


def test_a_killed_runs_trace_says_interrupted(
    good_lines: list[dict[str, Any]], tmp_path: Path
) -> None:
    """No run.end: 'running' while the file grows, 'interrupted' once it has not for a while."""
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in good_lines[:-1]) + "\n")
    viewer = Viewer(path, live=True)
    assert viewer.get("a").summary()["status"] == "running"
    old = time.time() - 60
    os.utime(path, (old, old))
    assert viewer.get("a").summary()["status"] == "interrupted"
