"""`gwa serve` under load: N concurrent conversations through the OpenAI-compatible endpoint
on the fake model with a fixed latency.

Baseline: the same scenario run in-process (`Workspace.run`), one at a time: what the model's
latency alone costs. Then N chat completions at once with a plain HTTP client (httpx: the
server's own cost), the same with the `openai` SDK's async client (what an SDK user sees; the
client shares the machine's cores), and N streaming ones with the cycles as extra events.
Reported: latency above the baseline (p50/p95; target p95 under 50 ms) and events/s streamed.

Run: python bench/serve.py [--conversations 50] [--latency 0.05]
"""

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import table, write

from gwa import Workspace, parse_scenario

SCENARIO = """
name: chat
goal: Suggest a name for the new park.
models:
  default: {provider: fake, latency_s: LATENCY, final_after: 2}
agents:
  - {name: g1, role: generator}
  - {name: g2, role: generator}
  - {name: critic, role: critic}
selection: {policy: score, respond_min_score: -5}
workspace: {max_cycles: 4}
"""
TOKEN = "bench-token"


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


async def baseline(text: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        ws = Workspace(parse_scenario(text), trace_path=False, runs=False, memory_path=False)
        t = time.perf_counter()
        await ws.run()
        out.append((time.perf_counter() - t) * 1000)
    return out


def start(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    env = {**os.environ, "GWA_SERVE_TOKEN": TOKEN, "GWA_RUNS": str(folder / "runs.sqlite")}
    cmd = [sys.executable, "-m", "gwa", "serve", str(folder / "chat.yaml"), "--no-memory",
           "--port", str(port)]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=folder, env=env, stderr=subprocess.DEVNULL)
    for _ in range(600):
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        time.sleep(0.1)
    return proc, f"http://127.0.0.1:{port}/v1"


async def raw(url: str, n: int) -> list[float]:
    """N completions at once with a plain HTTP client (httpx): the server's own cost."""
    import httpx

    body = {"model": "chat", "messages": [{"role": "user", "content": "Name the new park."}]}
    limits = httpx.Limits(max_connections=n + 10)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=600, limits=limits) as c:

        async def one() -> float:
            t = time.perf_counter()
            r = await c.post("/chat/completions", json=body)
            assert r.json()["choices"][0]["message"]["content"]
            return (time.perf_counter() - t) * 1000

        return list(await asyncio.gather(*(one() for _ in range(n))))


async def load(url: str, n: int) -> tuple[list[float], float, int]:
    """N completions at once with the openai SDK, then N streams with the cycles' events."""
    import openai

    sdk = openai.AsyncOpenAI(base_url=url, api_key=TOKEN, max_retries=0, timeout=600)
    messages: Any = [{"role": "user", "content": "Suggest a name for the new park."}]

    async def one() -> float:
        t = time.perf_counter()
        done = await sdk.chat.completions.create(model="chat", messages=messages)
        assert done.choices[0].message.content
        return (time.perf_counter() - t) * 1000

    async def streamed() -> int:
        events = 0
        stream = await sdk.chat.completions.create(
            model="chat", messages=messages, stream=True, extra_body={"gwa_events": True}
        )
        async for chunk in stream:
            events += 1 if getattr(chunk, "gwa_event", None) else 0
        return events

    latencies = await asyncio.gather(*(one() for _ in range(n)))
    t = time.perf_counter()
    counts = await asyncio.gather(*(streamed() for _ in range(n)))
    wall = time.perf_counter() - t
    return list(latencies), sum(counts) / wall, sum(counts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--conversations", type=int, default=50)
    ap.add_argument("--latency", type=float, default=0.05)
    args = ap.parse_args()
    text = SCENARIO.replace("LATENCY", str(args.latency))
    base = asyncio.run(baseline(text, 10))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "chat.yaml").write_text(text)
        proc, url = start(folder)
        try:
            asyncio.run(load(url, 2))  # warm up the server process
            plain = asyncio.run(raw(url, args.conversations))
            latencies, rate, events = asyncio.run(load(url, args.conversations))
        finally:
            proc.terminate()
            proc.wait(30)
    b = statistics.median(base)
    over = [x - b for x in latencies]
    over_plain = [x - b for x in plain]
    n = args.conversations
    rows = [
        ["run in-process, one at a time (the model's latency)", b, pct(base, 0.95)],
        [f"{n} at once, plain HTTP client", statistics.median(plain), pct(plain, 0.95)],
        ["  above the model's", statistics.median(over_plain), pct(over_plain, 0.95)],
        [f"{n} at once, openai SDK client", statistics.median(latencies), pct(latencies, 0.95)],
        ["  above the model's", statistics.median(over), pct(over, 0.95)],
    ]
    print(table(["what", "p50 ms", "p95 ms"], rows))
    print(f"events streamed: {events:,} at {rate:,.0f} events/s ({args.conversations} streams)")
    path = write(
        "serve",
        {
            "conversations": args.conversations,
            "model_latency_s": args.latency,
            "baseline_ms": {"p50": b, "p95": pct(base, 0.95)},
            "latency_ms": {"p50": statistics.median(latencies), "p95": pct(latencies, 0.95)},
            "overhead_ms": {"p50": statistics.median(over), "p95": pct(over, 0.95)},
            "plain_client_overhead_ms": {
                "p50": statistics.median(over_plain),
                "p95": pct(over_plain, 0.95),
            },
            "events_per_s": rate,
            "target_overhead_p95_ms": 50,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
