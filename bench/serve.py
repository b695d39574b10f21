"""`gwa serve` under load: N concurrent conversations through the OpenAI-compatible endpoint
on the fake model with a fixed latency L a call.

Baseline: the same scenario run in-process (`Workspace.run`), one at a time: what the model's
latency alone costs. Then, against one `gwa serve` process on the same 2 cores as the client:
- a burst: N chat completions sent in the same instant, with a plain HTTP client (httpx: the
  server's own cost) and with the `openai` SDK's async client (what an SDK user sees), the
  worst case: every run's start and every cycle of the N runs fall due at once;
- conversations: N conversations of T turns each with the SDK (each turn sends the whole
  conversation so far, as chat clients do), started at random moments over one run's time
  (seeded), each turn sent when the previous reply arrives;
- N streams with the cycles as extra events (events/s).
Reported: latency above the baseline (p50/p95; target p95 under 50 ms for the conversations),
events/s streamed, the server's CPU seconds a run (/proc): N times that against a run's
time says whether one event loop keeps up at all, and the share of the machine's CPU time the
hypervisor took meanwhile ("stolen", /proc/stat: on a shared virtual machine it comes in
phases, and a row measured during one is not comparable with the others).

Run: python bench/serve.py [--conversations 50] [--turns 4] [--latency 0.05 0.5]
"""

import argparse
import asyncio
import contextlib
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from _common import steal_s, table, write

from gwa import Workspace, parse_scenario

SCENARIO = """
name: NAME
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
ASK = "Suggest a name for the new park."


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def scenario(latency: float) -> tuple[str, str]:
    """The model name and scenario text at ``latency`` s a call."""
    name = f"chat-{round(latency * 1000)}ms"
    return name, SCENARIO.replace("NAME", name).replace("LATENCY", str(latency))


async def baseline(text: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        ws = Workspace(parse_scenario(text), trace_path=False, runs=False, memory_path=False)
        t = time.perf_counter()
        await ws.run()
        out.append((time.perf_counter() - t) * 1000)
    return out


def start(folder: Path, files: list[Path]) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    env = {**os.environ, "GWA_SERVE_TOKEN": TOKEN, "GWA_RUNS": str(folder / "runs.sqlite")}
    cmd = [sys.executable, "-m", "gwa", "serve", *map(str, files), "--no-memory",
           "--port", str(port)]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=folder, env=env, stderr=subprocess.DEVNULL)
    for _ in range(600):
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        time.sleep(0.1)
    return proc, f"http://127.0.0.1:{port}/v1"


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def raw(url: str, model: str, n: int) -> list[float]:
    """N completions at once with a plain HTTP client (httpx): the server's own cost."""
    import httpx

    body = {"model": model, "messages": [{"role": "user", "content": ASK}]}
    limits = httpx.Limits(max_connections=n + 10)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=600, limits=limits) as c:

        async def one() -> float:
            t = time.perf_counter()
            r = await c.post("/chat/completions", json=body)
            assert r.json()["choices"][0]["message"]["content"]
            return (time.perf_counter() - t) * 1000

        return list(await asyncio.gather(*(one() for _ in range(n))))


def sdk(url: str) -> Any:
    import openai

    return openai.AsyncOpenAI(base_url=url, api_key=TOKEN, max_retries=0, timeout=600)


async def burst(url: str, model: str, n: int) -> list[float]:
    """N completions at once with the openai SDK."""
    async with sdk(url) as client:
        return list(await asyncio.gather(*(_ask(client, model) for _ in range(n))))


async def _ask(client: Any, model: str) -> float:
    t = time.perf_counter()
    messages: Any = [{"role": "user", "content": ASK}]
    done = await client.chat.completions.create(model=model, messages=messages)
    assert done.choices[0].message.content
    return (time.perf_counter() - t) * 1000


async def conversations(url: str, model: str, n: int, turns: int, spread_s: float) -> list[float]:
    """N conversations of ``turns`` turns, started at seeded random moments over ``spread_s``;
    the latency of every turn."""
    rng = random.Random(7)
    starts = [rng.uniform(0, spread_s) for _ in range(n)]

    async def talk(client: Any, delay: float) -> list[float]:
        await asyncio.sleep(delay)
        messages: list[Any] = []
        out = []
        for turn in range(turns):
            messages.append({"role": "user", "content": f"{ASK} (turn {turn + 1})"})
            t = time.perf_counter()
            done = await client.chat.completions.create(model=model, messages=messages)
            out.append((time.perf_counter() - t) * 1000)
            messages.append({"role": "assistant", "content": done.choices[0].message.content})
        return out

    async with sdk(url) as client:
        got = await asyncio.gather(*(talk(client, d) for d in starts))
    return [x for one in got for x in one]


async def streams(url: str, model: str, n: int) -> tuple[float, int]:
    """N streams with the cycles' events: events/s and how many."""
    messages: Any = [{"role": "user", "content": ASK}]

    async def streamed(client: Any) -> int:
        events = 0
        stream = await client.chat.completions.create(
            model=model, messages=messages, stream=True, extra_body={"gwa_events": True}
        )
        async for chunk in stream:
            events += 1 if getattr(chunk, "gwa_event", None) else 0
        return events

    async with sdk(url) as client:
        t = time.perf_counter()
        counts = await asyncio.gather(*(streamed(client) for _ in range(n)))
    return sum(counts) / (time.perf_counter() - t), sum(counts)


def measure(
    url: str, pid: int, model: str, base: float, args: argparse.Namespace
) -> dict[str, Any]:
    """Every load shape against one served model; latencies above ``base`` ms."""
    n, turns = args.conversations, args.turns
    out: dict[str, Any] = {}
    shapes: list[tuple[str, Callable[[], Coroutine[Any, Any, list[float]]], int]] = [
        ("burst, plain HTTP client", lambda: raw(url, model, n), n),
        ("burst, openai SDK", lambda: burst(url, model, n), n),
        (f"{turns}-turn conversations, openai SDK",
         lambda: conversations(url, model, n, turns, base / 1000), n * turns),
    ]  # fmt: skip
    for shape, go, runs in shapes:
        cpu, steal, t = cpu_s(pid), steal_s(), time.perf_counter()
        above = [x - base for x in asyncio.run(go())]
        out[shape] = {
            "p50": statistics.median(above),
            "p95": pct(above, 0.95),
            "server_cpu_ms_a_run": (cpu_s(pid) - cpu) / runs * 1000,
            "steal_share": (steal_s() - steal) / (time.perf_counter() - t) / (os.cpu_count() or 1),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--conversations", type=int, default=50)
    ap.add_argument("--turns", type=int, default=4)
    ap.add_argument("--latency", type=float, nargs="+", default=[0.05, 0.5])
    args = ap.parse_args()
    served = [scenario(latency) for latency in args.latency]
    bases = {name: statistics.median(asyncio.run(baseline(text, 5))) for name, text in served}
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = []
        for name, text in served:
            files.append(folder / f"{name}.yaml")
            files[-1].write_text(text)
        proc, url = start(folder, files)
        try:
            for name, _ in served:
                asyncio.run(burst(url, name, 2))  # warm up the server process
                results[name] = measure(url, proc.pid, name, bases[name], args)
            rate, events = asyncio.run(streams(url, served[0][0], args.conversations))
        finally:
            proc.terminate()
            proc.wait(30)
    report(args, bases, results, rate, events)


def report(
    args: argparse.Namespace,
    bases: dict[str, float],
    results: dict[str, Any],
    rate: float,
    events: int,
) -> None:
    n = args.conversations
    rows = []
    for name, shapes in results.items():
        rows.append(
            [f"{name}: a run in-process, alone (the model's time)", bases[name], "", "", ""]
        )
        for shape, r in shapes.items():
            steal = f"{r['steal_share']:.0%}"
            rows.append([f"  {n} {shape}", r["p50"], r["p95"], r["server_cpu_ms_a_run"], steal])
    heads = ["latency above the model's", "p50 ms", "p95 ms", "server CPU ms a run", "stolen"]
    print(table(heads, rows))
    print(f"events streamed: {events:,} at {rate:,.0f} events/s ({n} streams)")
    path = write(
        "serve",
        {
            "conversations": n,
            "turns": args.turns,
            "baseline_ms": bases,
            "overhead_ms": results,
            "events_per_s": rate,
            "target_overhead_p95_ms": 50,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
