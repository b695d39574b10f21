"""`gwa agent`: one agent of a scenario in its own process, joining a run over MQTT.

The worker reads the retained ``announce`` messages on ``gwa/+/control`` to find a run of its
scenario that expects it (or the run named with ``--run``), then connects with a persistent
session and a last-will ``leave`` on that run's control topic, answers the requests naming it,
and says ``join`` / ``leave``. It exits when the run ends (retained ``run.end``) or on Ctrl-C /
SIGTERM. If it is killed, the broker publishes the will and the hub stops waiting for it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gwa.broadcast import Envelope, Sender, Topics
from gwa.broadcast.mqtt import MqttBus, MqttOptions
from gwa.errors import ConfigError
from gwa.hub import AgentRunner
from gwa.scenario import ModelSpec, Scenario
from gwa.workspace import Workspace


@dataclass(frozen=True, slots=True)
class Announcement:
    """A run that is waiting for remote agents."""

    run: str
    scenario: str
    remote: tuple[str, ...]


def pick_agent(scenario: Scenario, name: str) -> str:
    """The agent to run: by agent name, or by role when exactly one agent has it."""
    names = [a.name for a in scenario.agents]
    if name in names:
        return name
    by_role = [a.name for a in scenario.agents if a.role == name]
    if len(by_role) == 1:
        return by_role[0]
    if by_role:
        raise ConfigError(f"several agents have role {name!r} ({', '.join(by_role)}); name one")
    raise ConfigError(
        f"no agent or role {name!r} in scenario {scenario.name!r}: {', '.join(names)}"
    )


async def discover(
    options: MqttOptions, scenario: str, agent: str, *, run: str | None, wait_s: float
) -> Announcement:
    """Wait for a retained announcement of a run of ``scenario`` that expects ``agent``."""
    bus = MqttBus(options)
    await bus.start()
    sub = bus.subscribe("gwa/+/control")
    await bus.ready()
    try:
        async with asyncio.timeout(wait_s):
            async for env in sub:
                p = env.payload
                if env.kind != "announce" or p.get("scenario") != scenario:
                    continue
                if run is not None and p.get("run") != run:
                    continue
                if agent in p.get("remote", []):
                    return Announcement(str(p["run"]), scenario, tuple(p["remote"]))
    except TimeoutError:
        pass
    finally:
        await bus.close(drain=False)
    which = f"run {run}" if run else f"a run of {scenario!r} expecting {agent!r}"
    raise ConfigError(
        f"no announcement of {which} within {wait_s:g} s on {options.host}:{options.port}; start "
        f"it with `gwa run {scenario} --bus URL --remote {agent}`"
    )


async def serve(
    ws: Workspace,
    agent_name: str,
    options: MqttOptions,
    *,
    run: str | None = None,
    wait_s: float = 300.0,
    say: Callable[[str], None] = print,
) -> int:
    """Run one agent for one run; returns an exit code."""
    agent = next(a for a in ws.build_agents() if a.name == agent_name)
    found = await discover(options, ws.scenario.name, agent_name, run=run, wait_s=wait_s)
    topics = Topics(found.run)
    worker = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"
    control = Sender(f"worker:{agent_name}@{worker}")
    bus = _worker_bus(options, topics, control, agent_name, worker)
    await bus.start()
    ended = asyncio.Event()

    async def on_control(env: Envelope) -> None:
        if env.kind == "run.end" or (env.kind == "stop" and env.payload.get("agent") == agent_name):
            ended.set()

    runner = AgentRunner(agent, bus, topics, sender=f"agent:{agent_name}@{worker}")
    runner.attach()
    bus.handle(topics.control, on_control)
    await bus.ready()
    await bus.publish(
        control.envelope(topics.control, "join", {"agent": agent_name, "worker": worker})
    )
    say(f"agent {agent_name} joined run {found.run} as {worker}")
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, ended.set)
    try:
        await ended.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await runner.detach()
        bye: dict[str, Any] = {"agent": agent_name, "worker": worker, "reason": "worker stopped"}
        try:
            async with asyncio.timeout(5):
                await bus.publish(control.envelope(topics.control, "leave", bye))
        except (TimeoutError, Exception):  # the run is over or the broker is gone: nothing to tell
            pass
        await bus.close(drain=False)
    say(f"agent {agent_name} left run {found.run}")
    return 0


def _worker_bus(
    options: MqttOptions, topics: Topics, control: Sender, agent: str, worker: str
) -> MqttBus:
    """A persistent MQTT session whose last will tells the run that this worker is gone."""
    leave = control.envelope(
        topics.control, "leave", {"agent": agent, "worker": worker, "reason": "worker lost"}
    )
    return MqttBus(
        options,
        client_id=f"gwa-agent-{agent}-{worker}"[:64],
        persistent=True,
        keepalive_s=5,
        will=(topics.control, leave),
    )


def worker_workspace(scenario: Scenario, override: ModelSpec | None, base_dir: Any) -> Workspace:
    """A workspace used only to build the agent (its models) the way a run would."""
    return Workspace(scenario, model_override=override, base_dir=base_dir, trace_path=False)


async def run_agent(
    scenario: Scenario,
    agent: str,
    options: MqttOptions,
    *,
    model: ModelSpec | None = None,
    base_dir: Any = None,
    run: str | None = None,
    wait_s: float = 300.0,
    say: Callable[[str], None] = print,
) -> int:
    """Run one agent of ``scenario`` (by name, or by a role only one agent has) in this process
    for one run over MQTT, as `gwa agent` does; returns an exit code."""
    name = pick_agent(scenario, agent)
    ws = worker_workspace(scenario, model, base_dir)
    return await serve(ws, name, options, run=run, wait_s=wait_s, say=say)
