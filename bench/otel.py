"""Cycle time with OpenTelemetry export on (batch span processor → a local Arize Phoenix
receiver over OTLP/HTTP) beside export off, on the fake model with a fixed latency.

Runs alternate off/on so machine noise hits both alike; reported: mean cycle time (from each
cycle.start to its drive.update) per mode and the overhead of export. Target: under 5%.

Run: python bench/otel.py [--cycles 40] [--runs 4] [--latency 0.05]
(needs .venv-phoenix, which `make test` / `make bench` installs)
"""

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from _common import table, write

from gwa import Workspace, parse_scenario
from gwa.agents.testing import FakeModel
from gwa.events import Event

REPO = Path(__file__).resolve().parent.parent
PHOENIX = Path(os.environ.get("GWA_PHOENIX", REPO / ".venv-phoenix" / "bin" / "phoenix"))
SCENARIO = """
goal: plan a community garden
agents:
  - {name: g1, role: generator}
  - {name: g2, role: generator}
  - {name: g3, role: generator}
  - {name: critic, role: critic}
selection: {policy: score}
workspace: {max_cycles: CYCLES, working_memory_tokens: 200}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_phoenix(workdir: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "PHOENIX_WORKING_DIR": workdir,
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(free_port()),
        "PHOENIX_TELEMETRY_ENABLED": "false",
    }
    os.environ["OTEL_METRICS_EXPORTER"] = "none"  # Phoenix takes traces only
    proc = subprocess.Popen(
        [str(PHOENIX), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(180):
        try:
            with urllib.request.urlopen(f"{url}/v1/projects", timeout=2) as r:
                json.loads(r.read())
            return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("Phoenix did not start")


async def cycle_ms(cycles: int, latency: float, otlp: str | None) -> float:
    events: list[Event] = []
    ws = Workspace(
        parse_scenario(SCENARIO.replace("CYCLES", str(cycles))),
        models={"default": FakeModel(latency_s=latency, final_after=10**9)},
        trace_path=False,
        otlp=otlp,
    )
    ws.add_listener(events.append)
    await ws.run()
    starts = {e.cycle: e.ts for e in events if e.event == "cycle.start"}
    ends = {e.cycle: e.ts for e in events if e.event == "drive.update"}
    return 1000 * statistics.mean(ends[c] - starts[c] for c in starts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=40)
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--latency", type=float, default=0.05)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_phoenix(tmp)
        try:
            off: list[float] = []
            on: list[float] = []
            for i in range(args.runs):
                off.append(asyncio.run(cycle_ms(args.cycles, args.latency, None)))
                on.append(asyncio.run(cycle_ms(args.cycles, args.latency, url)))
                print(f"  run {i + 1}: off {off[-1]:.2f} ms, on {on[-1]:.2f} ms", flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    m_off, m_on = statistics.mean(off), statistics.mean(on)
    overhead = 100 * (m_on - m_off) / m_off
    print(
        table(
            ["export", "cycle ms (mean)", "runs"],
            [["off", round(m_off, 2), len(off)], ["on (Phoenix)", round(m_on, 2), len(on)]],
        )
    )
    print(
        f"overhead {overhead:+.2f}% per cycle (target < 5%): {'met' if overhead < 5 else 'not met'}"
    )
    body: dict[str, Any] = {
        "latency_s": args.latency,
        "cycles": args.cycles,
        "off_ms": off,
        "on_ms": on,
        "overhead_pct": round(overhead, 2),
    }
    print(f"wrote {write('otel', body)}")


if __name__ == "__main__":
    main()
