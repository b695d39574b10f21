"""`gwa serve` as its own process for tests: on a free port, stopped by its PID."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

TOKEN = "test-token-0123456789"
PICNIC = """
name: picnic
goal: pick a fruit for the picnic
agents:
  - {name: g, role: generator}
selection: {policy: score, respond_min_score: -5}
workspace: {max_cycles: 6}
approval: {respond: true}
"""
"""A served scenario whose answer waits for a person's approval."""


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def listening(cmd: list[str], port: int, what: str, **popen: Any) -> Iterator[None]:
    """Run ``cmd`` until it accepts connections on ``port`` (a test failure naming ``what``
    and its stderr if it does not within 60 s); stop it by its PID afterwards."""
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, **popen)
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.stderr else ""
                pytest.fail(f"{what} did not start: {err[-800:]}")
            time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextlib.contextmanager
def serving(folder: Path, *args: str, fake: bool = True) -> Iterator[str]:
    """`gwa serve ARGS --model fake --no-memory` in ``folder`` (``fake=False``: the
    scenarios' own models); yields its URL."""
    port = free_port()
    env = {**os.environ, "GWA_SERVE_TOKEN": TOKEN, "GWA_RUNS": str(folder / "runs.sqlite")}
    model = ["--model", "fake"] if fake else []
    cmd = [sys.executable, "-m", "gwa", "serve", *args, *model, "--no-memory",
           "--port", str(port)]  # fmt: skip
    with listening(cmd, port, "gwa serve", cwd=folder, env=env):
        yield f"http://127.0.0.1:{port}"
