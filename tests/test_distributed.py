"""Runs over a real mosquitto: agents in other processes, outside clients, lost workers, a
broker restarted mid-run. Every test starts its own broker and stops it by PID."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from broker import Broker

from gwa import Workspace, read_trace
from gwa.broadcast import Envelope
from gwa.broadcast.mqtt import MqttBus
from gwa.events import Event

SCENARIO = """
name: duo
goal: name a good reading-club book for teenagers
models:
  default: {provider: fake, latency_s: LATENCY, final_after: 999}
agents:
  - {name: local-gen, role: generator}
  - {name: remote-gen, role: generator}
selection: {policy: score}
workspace: {max_cycles: CYCLES, agent_deadline_s: 4}
"""


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "broker").start()
    yield b
    b.stop()


def scenario_file(tmp_path: Path, cycles: int, latency: float) -> Path:
    path = tmp_path / "duo.yaml"
    path.write_text(SCENARIO.replace("CYCLES", str(cycles)).replace("LATENCY", str(latency)))
    return path


async def start_worker(path: Path, broker: Broker, name: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gwa.cli",
        "agent",
        str(path),
        "--role",
        name,
        "--bus",
        broker.url,
        "--wait",
        "60",
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def events(path: Path, kind: str) -> list[Any]:
    return [r for r in read_trace(path) if r.event == kind]


async def test_an_agent_in_another_process_joins_and_answers(
    tmp_path: Path, broker: Broker
) -> None:
    path = scenario_file(tmp_path, cycles=4, latency=0.0)
    worker = await start_worker(path, broker, "remote-gen")
    bus = MqttBus(broker.url)
    await bus.start()
    trace = tmp_path / "t.jsonl"
    ws = Workspace.from_yaml(path, bus=bus, remote_agents=["remote-gen"], trace_path=trace)
    result = await ws.run()
    await bus.close()
    assert await asyncio.wait_for(worker.wait(), 30) == 0  # it leaves when the run ends
    assert result.cycles == 4
    assert [r.agent for r in events(trace, "agent.join")] == ["remote-gen"]
    remote_calls = [r for r in events(trace, "model.call") if r.agent == "remote-gen"]
    assert len(remote_calls) == 4  # it proposed in every cycle
    assert events(trace, "agent.error") == []
    assert bus.tracker.gaps == []


async def test_outside_clients_feed_inputs_and_watch_broadcasts(
    tmp_path: Path, broker: Broker
) -> None:
    path = scenario_file(tmp_path, cycles=8, latency=0.2)
    watcher = await asyncio.create_subprocess_exec(
        "mosquitto_sub",
        "-h",
        "127.0.0.1",
        "-p",
        str(broker.port),
        "-t",
        "gwa/+/broadcast",
        "-C",
        "1",
        "-q",
        "1",
        stdout=asyncio.subprocess.PIPE,
    )
    await asyncio.sleep(0.3)
    bus = MqttBus(broker.url)
    await bus.start()
    trace = tmp_path / "t.jsonl"
    ws = Workspace.from_yaml(path, bus=bus, trace_path=trace)
    published: list[int] = []

    async def feed(run: str) -> None:
        body = (
            f'{{"topic": "gwa/{run}/input", "sender": "mosquitto_pub", "seq": 1, '
            '"kind": "input", "payload": {"text": "consider graphic novels"}, "v": 1}'
        )
        pub = await asyncio.create_subprocess_exec(
            "mosquitto_pub",
            "-h",
            "127.0.0.1",
            "-p",
            str(broker.port),
            "-q",
            "1",
            "-t",
            f"gwa/{run}/input",
            "-m",
            body,
        )
        published.append(await pub.wait())

    tasks: list[asyncio.Task[None]] = []

    def on_event(event: Event) -> None:
        if event.event == "cycle.start" and event.cycle == 2:
            tasks.append(asyncio.get_running_loop().create_task(feed(event.run)))

    ws.add_listener(on_event)
    await ws.run()
    await bus.close()
    assert published == [0]
    perceived = [r.field("inputs") for r in events(trace, "cycle.start")]
    assert ["consider graphic novels"] in perceived
    out, _ = await asyncio.wait_for(watcher.communicate(), 20)
    assert b'"kind":"request"' in out


TRIO = SCENARIO.replace(
    "  - {name: remote-gen, role: generator}\n",
    "  - {name: remote-a, role: generator}\n  - {name: remote-b, role: generator}\n",
)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
async def test_one_worker_process_hosts_several_agents_and_they_leave_together(
    tmp_path: Path, broker: Broker, sig: signal.Signals
) -> None:
    """`gwa agent --role a --role b`: both join and answer from one process (one connection);
    SIGTERM makes both leave in one message and the process exit cleanly; SIGKILL leaves it to
    the connection's will, which names both. Either way the run marks them absent and goes
    on."""
    path = tmp_path / "trio.yaml"
    path.write_text(TRIO.replace("CYCLES", "8").replace("LATENCY", "0.2"))
    worker = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "gwa.cli", "agent", str(path), "--role", "remote-a"),
        *("--role", "remote-b", "--bus", broker.url, "--wait", "60"),
        stderr=asyncio.subprocess.PIPE,
    )
    bus = MqttBus(broker.url)
    await bus.start()
    trace = tmp_path / "t.jsonl"
    remote = ["remote-a", "remote-b"]
    ws = Workspace.from_yaml(path, bus=bus, remote_agents=remote, trace_path=trace)

    def on_event(event: Event) -> None:
        if event.event == "cycle.start" and event.cycle == 4:
            os.kill(worker.pid, sig)

    ws.add_listener(on_event)
    result = await ws.run()
    await bus.close()
    assert await asyncio.wait_for(worker.wait(), 30) == (0 if sig == signal.SIGTERM else -sig)
    assert result.cycles == 8
    assert sorted(r.agent for r in events(trace, "agent.join")) == remote
    calls = [r for r in events(trace, "model.call") if r.agent in remote]
    assert {(r.agent, r.cycle) for r in calls} >= {(a, c) for a in remote for c in (1, 2, 3)}
    assert sorted(r.agent for r in events(trace, "agent.absent")) == remote
    assert not [r for r in calls if r.cycle > 6]  # none asked once they had left
    assert worker.stderr is not None
    said = (await worker.stderr.read()).decode()
    assert said.count("joined run") == 2
    assert said.count("left run") == (2 if sig == signal.SIGTERM else 0)


def test_a_worker_names_each_agent_once() -> None:
    from gwa import parse_scenario
    from gwa.errors import ConfigError
    from gwa.worker import run_agent

    trio = parse_scenario(TRIO.replace("CYCLES", "2").replace("LATENCY", "0"))
    with pytest.raises(ConfigError, match="name each agent once"):
        asyncio.run(run_agent(trio, ["remote-a", "remote-a"], None))  # type: ignore[arg-type]


async def test_a_killed_worker_is_marked_absent_and_the_run_goes_on(
    tmp_path: Path, broker: Broker
) -> None:
    path = scenario_file(tmp_path, cycles=12, latency=0.3)
    worker = await start_worker(path, broker, "remote-gen")
    bus = MqttBus(broker.url)
    await bus.start()
    trace = tmp_path / "t.jsonl"
    ws = Workspace.from_yaml(path, bus=bus, remote_agents=["remote-gen"], trace_path=trace)

    def on_event(event: Event) -> None:
        if event.event == "cycle.start" and event.cycle == 3:
            os.kill(worker.pid, signal.SIGKILL)

    ws.add_listener(on_event)
    result = await ws.run()
    await bus.close()
    await worker.wait()
    assert result.cycles == 12
    absent = events(trace, "agent.absent")
    assert [r.agent for r in absent] == ["remote-gen"]
    asked_after = [
        r
        for r in events(trace, "model.call")
        if r.agent == "remote-gen" and r.cycle > absent[0].cycle
    ]
    assert asked_after == []  # no longer waited for once absent
    late = [r.cycle for r in events(trace, "agent.error") if r.agent == "remote-gen"]
    assert len(late) <= 1  # at most the one deadline that revealed it


async def test_the_run_completes_when_the_broker_is_killed_and_restarted(
    tmp_path: Path, broker: Broker
) -> None:
    path = scenario_file(tmp_path, cycles=10, latency=0.1)
    worker = await start_worker(path, broker, "remote-gen")
    watcher = MqttBus(broker.url, client_id="gwa-test-watcher", persistent=True)
    await watcher.start()
    seen: list[Envelope] = []

    async def watch(env: Envelope) -> None:
        seen.append(env)

    watcher.handle("gwa/+/broadcast", watch)
    await watcher.ready()
    bus = MqttBus(broker.url, client_id="gwa-test-host", persistent=True)
    await bus.start()
    trace = tmp_path / "t.jsonl"
    ws = Workspace.from_yaml(path, bus=bus, remote_agents=["remote-gen"], trace_path=trace)
    restarted = asyncio.Event()

    async def bounce() -> None:
        broker.stop(signal.SIGKILL)
        await asyncio.sleep(0.5)
        broker.start()
        restarted.set()

    tasks: list[asyncio.Task[None]] = []

    def on_event(event: Event) -> None:
        if event.event == "cycle.start" and event.cycle == 4:
            tasks.append(asyncio.get_running_loop().create_task(bounce()))

    ws.add_listener(on_event)
    result = await ws.run()
    assert restarted.is_set()
    await asyncio.sleep(0.5)
    await bus.close()
    await watcher.close()
    await asyncio.wait_for(worker.wait(), 30)
    assert result.cycles == 10
    assert events(trace, "bus.reconnect")
    requests = [e.seq for e in seen if e.sender == "workspace"]
    assert requests == list(range(1, len(requests) + 1))  # every broadcast arrived, in order
    assert len(requests) >= 10
    assert watcher.tracker.gaps == []
    assert bus.tracker.gaps == []
