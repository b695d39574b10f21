"""The flagship scenario on llama.cpp's own server, one slot against parallel slots.

The brainstorm scenario (5 cycles; its two generators are one phase, asked at once) on the
shipped SmolLM2-135M-Instruct GGUF, in three modes, interleaved over ``--repeat`` rounds:
- embedded: the in-process model as shipped (`LocalChatModel`; one llama.cpp context, so the
  calls of a phase queue);
- llama-server, 1 slot: `llama-server --parallel 1` through GWA's ``openai`` provider, the
  schema enforced by the server (``structured_output: json_schema``);
- llama-server, 2 slots: `--parallel 2` with continuous batching: the generators' requests
  are decoded in the same batches.

Each server run starts a fresh server (empty caches; 2,048 tokens of context a slot, 2
threads) and stops it by PID; its start is not timed. Every run starts from the same
long-term memory (empty, or a copy of ``--memory-from DIR``).

Reported: mean cycle (cycle.start → drive.update), the run's wall time, the model calls'
summed latency ÷ the run's wall time (above 1 when calls overlap or queue: a queued call's
latency includes its wait), the server's mean busy slots per ``llama_decode`` (1: no two
requests were ever decoded together), the share of prompt tokens served from a cache (the
server's slots and prompt cache; the embedded model's kept states), the server's prompt and
generation rates, and the shares of first-try invalid and rejected outputs (the grammar's
promise).

Needs ``llama-server`` beside this Python (`make llama-server`).
Run: python bench/llama_server.py [--cycles N] [--repeat R] [--memory-from DIR]
"""

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _common import steal_s, table, write
from local_model import SCENARIO, SHIPPED, Outputs, _median, _model, trace_figures

from gwa import Workspace, load_scenario
from gwa.agents.local import shipped_model_path
from gwa.agents.providers import OpenAIChatModel
from gwa.events import Event

SERVER = Path(sys.executable).parent / "llama-server"
MODES = {"embedded (shipped)": 0, "llama-server, 1 slot": 1, "llama-server, 2 slots": 2}


@contextmanager
def serve(parallel: int, slot_ctx: int = 2048) -> Iterator[str]:
    """A fresh llama-server with ``parallel`` slots of ``slot_ctx`` tokens; yields its OpenAI
    base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [str(SERVER), "-m", str(shipped_model_path()), "--host", "127.0.0.1", "--port"]
    args += [str(port), "--parallel", str(parallel), "--ctx-size", str(slot_ctx * parallel)]
    args += ["--threads", "2", "--metrics", "--no-webui"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while not _healthy(root):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"llama-server did not start ({' '.join(args)})")
            time.sleep(0.3)
        yield f"{root}/v1"
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def _healthy(root: str) -> bool:
    try:
        with urllib.request.urlopen(f"{root}/health", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def _metrics(base: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{base.removesuffix('/v1')}/metrics", timeout=10) as resp:
        lines = resp.read().decode().splitlines()
    pairs = (line.partition(" ") for line in lines if line.startswith("llamacpp:"))
    return {name.removeprefix("llamacpp:"): float(value) for name, _, value in pairs}


async def _run(model: Any, cycles: int, store: Path) -> tuple[list[Event], float, Outputs]:
    scenario = load_scenario(SCENARIO)
    ws_spec = scenario.workspace.model_copy(update={"max_cycles": cycles})
    memory = scenario.memory.model_copy(update={"path": str(store)})
    scenario = scenario.model_copy(update={"workspace": ws_spec, "memory": memory})
    events: list[Event] = []
    ws = Workspace(scenario, trace_path=False)
    outputs = Outputs(model)
    ws.register_model("default", outputs)
    ws.add_listener(events.append)
    started = time.perf_counter()
    await ws.run()
    wall = time.perf_counter() - started
    if isinstance(model, OpenAIChatModel):
        await model.aclose()
    return events, wall, outputs


def measure(mode: str, cycles: int, memory_from: Path | None) -> dict[str, Any]:
    parallel = MODES[mode]
    with tempfile.TemporaryDirectory(prefix="gwa-bench-memory-") as tmp:
        store = Path(tmp) / "memory"
        if memory_from is not None:
            shutil.copytree(memory_from, store)
        steal = steal_s()
        if parallel == 0:
            local = _model(SHIPPED)
            events, wall, outputs = asyncio.run(_run(local, cycles, store))
            server = {"prefix_hit": local.profile.prefix_hit_share}
        else:
            with serve(parallel) as base:
                model = OpenAIChatModel("smollm2", base_url=base, structured_output="json_schema")
                events, wall, outputs = asyncio.run(_run(model, cycles, store))
                server = _metrics(base)
            cached = server["prompt_tokens_cached_total"]
            server["prefix_hit"] = cached / (cached + server["prompt_tokens_total"])
    return _figures(mode, events, wall, outputs, server) | {"steal_s": steal_s() - steal}


def _figures(
    mode: str, events: list[Event], wall: float, outputs: Outputs, server: dict[str, float]
) -> dict[str, Any]:
    figures = trace_figures(events)
    seconds = figures.pop("model_seconds")
    return {
        "mode": mode,
        **figures,
        "run_wall_s": wall,
        "latency_sum_over_wall": seconds / wall,
        "busy_slots_per_decode": server.get("n_busy_slots_per_decode", 1.0),
        "prefix_hit_share": server["prefix_hit"],
        "server_prompt_tokens_per_s": server.get("prompt_tokens_seconds", 0.0),
        "server_generation_tokens_per_s": server.get("predicted_tokens_seconds", 0.0),
        "on_topic_share": outputs.on_topic(load_scenario(SCENARIO).goal),
        "thoughts": [text for text, _ in outputs.thoughts],
    }


def _row(r: dict[str, Any]) -> list[Any]:
    pct = "{:.0%}".format
    rates = [r["server_prompt_tokens_per_s"], r["server_generation_tokens_per_s"]]
    return [
        r["mode"],
        r["model_calls"],
        r["mean_cycle_s"],
        r["run_wall_s"],
        r["latency_sum_over_wall"],
        r["busy_slots_per_decode"],
        pct(r["prefix_hit_share"]),
        *(f"{x:.0f}" if x else "-" for x in rates),
        pct(r["first_try_invalid_share"]),
        pct(r["rejected_share"]),
        pct(r["on_topic_share"]),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--memory-from", type=Path, default=None, help="a store to start from")
    args = parser.parse_args()
    # A terminated run stops its server too (the context manager's exit runs on SystemExit).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not SERVER.exists():
        parser.error(f"{SERVER} is not built: run `make llama-server`")
    if args.memory_from is not None and not args.memory_from.is_dir():
        parser.error(f"--memory-from {args.memory_from}: no such store directory")
    every = []
    for round_ in range(args.repeat):
        for mode in MODES:
            print(f"round {round_ + 1}/{args.repeat}: {mode}", file=sys.stderr, flush=True)
            every.append(measure(mode, args.cycles, args.memory_from))
    runs = {m: _median([r for r in every if r["mode"] == m]) for m in MODES}
    head = ["mode", "calls", "cycle s", "run s", "latency sum ÷ wall", "busy slots/decode"]
    head += ["prefix hit"]
    head += ["prompt tok/s", "gen tok/s", "1st-try invalid", "rejected", "on topic"]
    print(f"SmolLM2-135M-Instruct Q4_1, brainstorm, memory: {args.memory_from or 'empty'}")
    print(table(head, [_row(r) for r in runs.values()]))
    one, two = runs["llama-server, 1 slot"], runs["llama-server, 2 slots"]
    speedup = one["mean_cycle_s"] / two["mean_cycle_s"]
    print(f"cycle 1 slot ÷ 2 slots: {speedup:.2f}")
    data = {"benchmark": "llama_server", "runs": list(runs.values()), "every_run": every}
    data.update(slots_speedup=speedup, memory_from=str(args.memory_from or ""))
    print(f"wrote {write('llama_server', data)}")


if __name__ == "__main__":
    main()
