"""MqttBus throughput beside raw aiomqtt, and its per-cycle cost beside LocalBus.

Both throughput rows use the same mosquitto (started here on a free port with
`max_queued_messages 0`), the same process, one publishing and one subscribing connection,
QoS 1, a ~600-byte payload; first with publishes awaited one after another (each returns on
PUBACK: a round trip), then with 64 publishes in flight (throughput).
Raw aiomqtt publishes bytes and counts messages; MqttBus publishes envelopes (JSON encode,
sequence numbers) and delivers them decoded and de-duplicated to a subscription, with its
coalescing (envelopes published to one topic in one turn of the loop travel as one MQTT
message) on, as shipped, and off. Reported: messages/s (envelopes delivered; median of 5
interleaved rounds; all with TCP_NODELAY) and the ratio to raw aiomqtt.

Per-cycle overhead: the same 4-agent scenario on the fake model (no latency), 30 cycles, run
on LocalBus and on MqttBus through the broker; ms per cycle and the difference.

Run: python bench/mqtt.py [--messages N]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import shutil
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
from gwa.agents.testing import FakeModel
from gwa.broadcast import Sender
from gwa.broadcast.mqtt import MqttBus

PAYLOAD = {"text": "x" * 500, "cycle": 1}
WINDOW = 64
"""Publishes in flight at once for the throughput rows (the round-trip rows await each)."""
SWARM_LATENCY = 0.2
"""The fake model's latency a call in the swarm row (two rounds a cycle)."""


def start_broker(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    conf = folder / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n")
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen([exe, "-c", str(conf)], stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("mosquitto did not start")


async def send_all(publish: Any, n: int, window: int) -> None:
    """``n`` publishes, at most ``window`` in flight at once (1: each awaited in turn)."""
    if window == 1:
        for _ in range(n):
            await publish()
        return
    slots = asyncio.Semaphore(window)

    async def one() -> None:
        async with slots:
            await publish()

    await asyncio.gather(*(one() for _ in range(n)))


async def raw_round(port: int, n: int, window: int = 1) -> float:
    import aiomqtt
    import orjson

    body = orjson.dumps({"topic": "bench/raw", "payload": PAYLOAD})
    got = 0
    done = asyncio.Event()
    opts = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]  # as MqttBus sets
    rx_client = aiomqtt.Client("127.0.0.1", port, socket_options=opts)
    tx_client = aiomqtt.Client("127.0.0.1", port, socket_options=opts)
    for client in (rx_client, tx_client):
        client.pending_calls_threshold = 10_000  # as MqttBus sets: no warning per publish
    async with rx_client as rx, tx_client as tx:
        await rx.subscribe("bench/raw", qos=1)

        async def receive() -> None:
            nonlocal got
            async for _ in rx.messages:
                got += 1
                if got == n:
                    done.set()
                    return

        task = asyncio.create_task(receive())
        start = time.perf_counter()
        await send_all(lambda: tx.publish("bench/raw", body, qos=1), n, window)
        await done.wait()
        elapsed = time.perf_counter() - start
        await task
    return n / elapsed


async def bus_round(port: int, n: int, window: int = 1, coalesce: bool = True) -> float:
    url = f"mqtt://127.0.0.1:{port}"
    rx, tx = MqttBus(url), MqttBus(url, coalesce=coalesce)
    await rx.start()
    await tx.start()
    sub = rx.subscribe("bench/bus")
    await rx.ready()
    sender = Sender("bench")
    got = 0
    done = asyncio.Event()

    async def receive() -> None:
        nonlocal got
        async for _ in sub:
            got += 1
            if got == n:
                done.set()
                return

    task = asyncio.create_task(receive())
    start = time.perf_counter()
    await send_all(lambda: tx.publish(sender.envelope("bench/bus", "request", PAYLOAD)), n, window)
    await done.wait()
    elapsed = time.perf_counter() - start
    await task
    await tx.close()
    await rx.close()
    return n / elapsed


SCENARIO = """
goal: compare buses
agents:
  - {name: a, role: attention}
  - {name: g1, role: generator}
  - {name: g2, role: generator}
  - {name: c, role: critic}
selection: {policy: score}
workspace: {max_cycles: 30}
"""


async def cycle_ms(port: int | None) -> float:
    bus = MqttBus(f"mqtt://127.0.0.1:{port}") if port else None
    if bus is not None:
        await bus.start()
    ws = Workspace(
        parse_scenario(SCENARIO),
        models={"default": FakeModel(final_after=10_000)},
        bus=bus,
        trace_path=False,
    )
    start = time.perf_counter()
    result = await ws.run()
    elapsed = time.perf_counter() - start
    if bus is not None:
        await bus.close()
    return 1000 * elapsed / result.cycles


SWARM_GENERATORS, SWARM_CRITICS, SWARM_WORKERS, SWARM_CYCLES = 56, 8, 8, 12


def swarm_scenario(latency: float) -> str:
    """64 agents (56 generators, 8 critics) on the fake model at ``latency`` s a call."""
    agents = [f"  - {{name: g{i}, role: generator}}" for i in range(1, SWARM_GENERATORS + 1)]
    agents += [f"  - {{name: c{i}, role: critic}}" for i in range(1, SWARM_CRITICS + 1)]
    return (
        "name: swarm\ngoal: Name the new park.\n"
        f"models:\n  default: {{provider: fake, latency_s: {latency}, final_after: 100000}}\n"
        "agents:\n" + "\n".join(agents) + "\nselection: {policy: score}\n"
        f"workspace: {{max_cycles: {SWARM_CYCLES}, agent_deadline_s: 30}}\n"
    )


async def swarm_cycle_ms(
    folder: Path, port: int | None, latency: float, coalesce: bool = True
) -> float:
    """Median ms between cycle starts (the first two left out: joining, warming up) of the
    64-agent swarm: all in this process on LocalBus, or (``port``) every agent in one of 8
    `gwa agent` worker processes over the broker."""
    path = folder / "swarm.yaml"
    path.write_text(swarm_scenario(latency))
    names = [a.name for a in parse_scenario(path.read_text()).agents]
    workers: list[asyncio.subprocess.Process] = []
    url = f"mqtt://127.0.0.1:{port}" + ("" if coalesce else "?coalesce=off")
    bus = MqttBus(url) if port else None
    if bus is not None:
        await bus.start()
        per = len(names) // SWARM_WORKERS
        for w in range(SWARM_WORKERS):
            roles = [x for n in names[w * per : (w + 1) * per] for x in ("--role", n)]
            cmd = ["agent", str(path), *roles, "--bus", url]
            workers.append(
                await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "gwa.cli", *cmd, stderr=asyncio.subprocess.DEVNULL
                )
            )
    ws = Workspace.from_yaml(
        path, bus=bus, remote_agents=names if bus else (), trace_path=False, runs=False
    )
    starts: list[float] = []
    ws.add_listener(
        lambda e: starts.append(time.perf_counter()) if e.event == "cycle.start" else None
    )
    try:
        await ws.run()
    finally:
        if bus is not None:
            await bus.close()
        for proc in workers:
            await asyncio.wait_for(proc.wait(), 30)
    gaps = [b - a for a, b in itertools.pairwise(starts[2:])]
    return 1000 * statistics.median(gaps)


async def swarm(folder: Path, port: int, latency: float, repeat: int = 3) -> dict[str, float]:
    """The swarm row: ms a cycle on LocalBus and over MQTT with and without coalescing
    (``repeat`` interleaved rounds, medians; a difference is the median of the rounds'
    differences), and each minus the model's time (two rounds of calls a cycle: the
    generators propose, then the critics review)."""
    runs = []
    for _ in range(repeat):
        local = await swarm_cycle_ms(folder, None, latency)
        on = await swarm_cycle_ms(folder, port, latency)
        runs.append((local, on, await swarm_cycle_ms(folder, port, latency, coalesce=False)))
    return {
        "latency_s": latency,
        "model_ms": 2 * latency * 1000,
        "repeat": repeat,
        "local_ms": statistics.median(r[0] for r in runs),
        "mqtt_ms": statistics.median(r[1] for r in runs),
        "mqtt_no_coalescing_ms": statistics.median(r[2] for r in runs),
        "above_local_ms": statistics.median(r[1] - r[0] for r in runs),
        "above_local_each_ms": [round(r[1] - r[0], 1) for r in runs],
        "no_coalescing_above_local_ms": statistics.median(r[2] - r[0] for r in runs),
        "no_coalescing_above_local_each_ms": [round(r[2] - r[0], 1) for r in runs],
    }


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = start_broker(Path(tmp))
        try:
            await raw_round(port, 200)  # warm up
            rates: dict[str, list[float]] = {}
            for _ in range(5):  # interleaved, so drift affects all alike
                for window in (1, WINDOW):
                    rates.setdefault(f"raw {window}", []).append(await raw_round(port, n, window))
                    for co in (True, False):
                        rate = await bus_round(port, n, window, coalesce=co)
                        rates.setdefault(f"bus {window} {co}", []).append(rate)
            med = {k: statistics.median(v) for k, v in rates.items()}
            local = statistics.median([await cycle_ms(None) for _ in range(3)])
            mqtt = statistics.median([await cycle_ms(port) for _ in range(3)])
            crowd = await swarm(Path(tmp), port, SWARM_LATENCY)
        finally:
            proc.terminate()
            proc.wait()
    rows = []
    for window, how in ((1, "awaited in turn"), (WINDOW, f"{WINDOW} in flight")):
        raw = med[f"raw {window}"]
        rows.append(["raw aiomqtt", how, raw, "1.00"])
        for co, name in (
            (True, "MqttBus (coalescing, default)"),
            (False, "MqttBus, no coalescing"),
        ):
            rows.append(
                [name, how, med[f"bus {window} {co}"], f"{med[f'bus {window} {co}'] / raw:.2f}"]
            )
    print(table(["transport", "publishes", "messages/s", "vs raw"], rows))
    print()
    print(
        table(
            ["bus", "ms per cycle (4 agents, fake model)"],
            [["LocalBus", local], ["MqttBus", mqtt], ["overhead", mqtt - local]],
        )
    )
    print()
    m = crowd["model_ms"]
    print(
        table(
            ["64 agents (8 worker processes over MQTT)", "ms a cycle", "minus the model's"],
            [
                ["LocalBus, one process", crowd["local_ms"], crowd["local_ms"] - m],
                ["MqttBus, 8 `gwa agent` workers", crowd["mqtt_ms"], crowd["mqtt_ms"] - m],
                [
                    "  the same, no coalescing",
                    crowd["mqtt_no_coalescing_ms"],
                    crowd["mqtt_no_coalescing_ms"] - m,
                ],
                ["MQTT above LocalBus", crowd["above_local_ms"], ""],
                ["  no coalescing", crowd["no_coalescing_above_local_ms"], ""],
            ],
        )
    )
    path = write(
        "mqtt",
        {
            "messages": n,
            "window": WINDOW,
            "raw_aiomqtt_msgs_per_s": round(med["raw 1"], 1),
            "mqttbus_msgs_per_s": round(med["bus 1 True"], 1),
            "mqttbus_no_coalescing_msgs_per_s": round(med["bus 1 False"], 1),
            "ratio": round(med["bus 1 True"] / med["raw 1"], 3),
            "ratio_no_coalescing": round(med["bus 1 False"] / med["raw 1"], 3),
            "raw_aiomqtt_inflight_msgs_per_s": round(med[f"raw {WINDOW}"], 1),
            "mqttbus_inflight_msgs_per_s": round(med[f"bus {WINDOW} True"], 1),
            "mqttbus_inflight_no_coalescing_msgs_per_s": round(med[f"bus {WINDOW} False"], 1),
            "ratio_inflight": round(med[f"bus {WINDOW} True"] / med[f"raw {WINDOW}"], 3),
            "ratio_inflight_no_coalescing": round(
                med[f"bus {WINDOW} False"] / med[f"raw {WINDOW}"], 3
            ),
            "cycle_ms_localbus": round(local, 2),
            "cycle_ms_mqttbus": round(mqtt, 2),
            "swarm": {k: round(v, 2) if isinstance(v, float) else v for k, v in crowd.items()},
        },
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=5000)
    asyncio.run(main(ap.parse_args().messages))
