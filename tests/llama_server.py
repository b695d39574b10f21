"""llama.cpp's own server for tests: started on the shipped GGUF and stopped (by PID) by the test.

`make test` builds it (`make llama-server`: from the llama.cpp sources that llama-cpp-python's
source package vendors) into the virtual environment's bin folder, next to this Python.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from broker import free_port

from gwa.agents.local import shipped_model_path

LLAMA_SERVER = Path(sys.executable).parent / "llama-server"


@contextmanager
def llama_server(folder: Path, *, parallel: int) -> Iterator[str]:
    """llama-server with ``parallel`` slots (2,048 tokens of context each), continuous
    batching and its Prometheus metrics; yields the OpenAI base URL."""
    if not LLAMA_SERVER.exists():
        pytest.fail(f"{LLAMA_SERVER} is not built: `make test` builds it (`make llama-server`)")
    port = free_port()
    log_path = folder / f"llama-server-{port}.log"
    args = [str(LLAMA_SERVER), "--model", str(shipped_model_path()), "--host", "127.0.0.1"]
    args += ["--port", str(port), "--parallel", str(parallel), "--ctx-size", str(2048 * parallel)]
    args += ["--threads", "2", "--metrics", "--no-webui"]
    with log_path.open("w") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_healthy(proc, f"http://127.0.0.1:{port}", log_path)
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()


def _wait_healthy(proc: subprocess.Popen[bytes], root: str, log_path: Path) -> None:
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"llama-server exited: {log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{root}/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"llama-server did not start: {log_path.read_text()[-2000:]}")
        time.sleep(0.3)


def metrics(base_url: str) -> dict[str, float]:
    """The server's Prometheus metrics (``llamacpp:`` names, prefix dropped)."""
    root = base_url.removesuffix("/v1")
    with urllib.request.urlopen(f"{root}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("llamacpp:"):
            name, _, value = line.partition(" ")
            out[name.removeprefix("llamacpp:")] = float(value)
    return out
