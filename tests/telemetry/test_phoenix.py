"""End to end against a real OTLP receiver: Arize Phoenix, started on 127.0.0.1 by the test
(from the .venv-phoenix that `make test` installs) and stopped by its PID; spans are read back
through Phoenix's REST API."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gwa import read_trace
from gwa.cli import main

REPO = Path(__file__).resolve().parents[2]
PHOENIX = Path(os.environ.get("GWA_PHOENIX", REPO / ".venv-phoenix" / "bin" / "phoenix"))
CASSETTE = REPO / "gwa" / "scenarios" / "cassettes" / "brainstorm.json"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not PHOENIX.is_file():
        pytest.fail(
            f"{PHOENIX} is missing: `make test` installs Phoenix in .venv-phoenix "
            "(or set GWA_PHOENIX to a phoenix executable)"
        )
    port = _free_port()
    env = {
        **os.environ,
        "PHOENIX_WORKING_DIR": str(tmp_path_factory.mktemp("phoenix")),
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(_free_port()),
        "PHOENIX_TELEMETRY_ENABLED": "false",
    }
    patch = pytest.MonkeyPatch()
    patch.setenv("OTEL_METRICS_EXPORTER", "none")  # Phoenix takes traces only
    log = tmp_path_factory.mktemp("phoenix-log") / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen([str(PHOENIX), "serve"], env=env, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                _get(f"{url}/v1/projects")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"Phoenix did not start: {log.read_text()[-2000:]}")
                time.sleep(0.5)
        yield url
    finally:
        patch.undo()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def spans_of(url: str, conversation: str, *, at_least: int) -> list[dict[str, Any]]:
    """The spans Phoenix holds for one run, once its root and ``at_least`` spans have landed
    (Phoenix ingests a batch asynchronously)."""
    deadline = time.monotonic() + 30
    while True:
        got: list[dict[str, Any]] = []
        cursor = ""
        while True:  # the API pages at most 1,000 spans
            page = _get(f"{url}/v1/projects/default/spans?limit=1000{cursor}")
            got += page["data"]
            if not page.get("next_cursor"):
                break
            cursor = f"&cursor={page['next_cursor']}"
        mine = [s for s in got if s["attributes"].get("gen_ai.conversation.id") == conversation]
        rooted = any(s["parent_id"] is None for s in mine)
        if (rooted and len(mine) >= at_least) or time.monotonic() > deadline:
            return mine
        time.sleep(0.5)


@pytest.mark.timeout(180)
def test_a_run_exports_its_spans_to_phoenix(phoenix: str, tmp_path: Path) -> None:
    """gwa run --otlp sends the run's span tree; Phoenix's API returns it with the GenAI
    attributes."""
    os.chdir(tmp_path)
    trace = tmp_path / "t.jsonl"
    main(
        [
            "run",
            "brainstorm",
            "--replay",
            str(CASSETTE),
            "--quiet",
            "--trace",
            str(trace),
            "--otlp",
            phoenix,
        ]
    )
    records = list(read_trace(trace))
    calls = sum(r.event == "model.call" for r in records)
    spans = spans_of(phoenix, records[0].run, at_least=calls + 1)
    names = [s["name"] for s in spans]
    assert names.count("invoke_workflow brainstorm") == 1
    chats = [s for s in spans if s["name"].startswith("chat ")]
    assert len(chats) == calls
    assert {s["attributes"]["gen_ai.provider.name"] for s in chats} == {"llama_cpp"}
    root = next(s for s in spans if s["parent_id"] is None)
    assert root["name"] == "invoke_workflow brainstorm"


@pytest.mark.timeout(180)
def test_gwa_trace_export_sends_a_recorded_run(
    phoenix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`gwa trace export` replays a JSONL trace as spans with the original timestamps."""
    os.chdir(tmp_path)
    trace = tmp_path / "t.jsonl"
    main(["run", "brainstorm", "--replay", str(CASSETTE), "--quiet", "--trace", str(trace)])
    records = list(read_trace(trace))
    assert main(["trace", "export", str(trace), "--otlp", phoenix]) == 0
    assert f"exported {len(records)} events" in capsys.readouterr().err
    spans = spans_of(
        phoenix, records[0].run, at_least=len([r for r in records if r.event == "model.call"])
    )
    root = next(s for s in spans if s["name"] == "invoke_workflow brainstorm")
    started = root["start_time"]
    assert started.startswith(time.strftime("%Y-%m-%dT%H:%M", time.gmtime(records[0].ts)))
