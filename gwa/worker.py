"""`gwa agent`: agents of a scenario in their own process, joining a run over MQTT.

The worker reads the retained ``announce`` messages on ``gwa/+/control`` to find a run of its
scenario that expects it (or the run named with ``--run``), then connects with a persistent
session and a last-will ``leave`` on that run's control topic, answers the requests naming it,
and says ``join`` / ``leave``. It exits when the run ends (retained ``run.end``) or on Ctrl-C /
SIGTERM. If it is killed, the broker publishes the will and the hub stops waiting for it.
Several agents in one process (``--role`` repeated) share one connection: a request is
received and decoded once for all of them, and the will names them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
from collections.abc import Callable, Iterator, Sequence
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
    options: MqttOptions,
    scenario: str,
    names: Sequence[str],
    *,
    run: str | None,
    wait_s: float,
) -> Announcement:
    """Wait for a retained announcement of a run of ``scenario`` that expects ``names``."""
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
                if all(n in p.get("remote", []) for n in names):
                    return Announcement(str(p["run"]), scenario, tuple(p["remote"]))
    except TimeoutError:
        pass
    finally:
        await bus.close(drain=False)
    listed = ", ".join(names)
    which = f"run {run}" if run else f"a run of {scenario!r} expecting {listed}"
    raise ConfigError(
        f"no announcement of {which} within {wait_s:g} s on {options.host}:{options.port}; start "
        f"it with `gwa run {scenario} --bus URL --remote {','.join(names)}`"
    )


async def serve(
    ws: Workspace,
    names: Sequence[str],
    options: MqttOptions,
    *,
    run: str | None = None,
    wait_s: float = 300.0,
    say: Callable[[str], None] = print,
) -> int:
    """Run agents of ``ws`` (one, or several sharing one connection: each request is received
    and decoded once for all of them) for one run; returns an exit code."""
    built = {a.name: a for a in ws.build_agents()}
    found = await discover(options, ws.scenario.name, names, run=run, wait_s=wait_s)
    topics = Topics(found.run)
    worker = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"
    control = Sender(f"worker:{names[0]}@{worker}")
    bus = _worker_bus(options, topics, control, list(names), worker)
    await bus.start()
    ended = asyncio.Event()
    runners = {n: AgentRunner(built[n], bus, topics, sender=f"agent:{n}@{worker}") for n in names}

    async def on_control(env: Envelope) -> None:
        who = env.payload.get("agent")
        if env.kind == "run.end":
            ended.set()
        elif env.kind == "stop" and who in runners:  # one agent stopped: it leaves alone
            await runners.pop(who).detach()
            await _leave(bus, control, topics, [who], worker, "stopped", say, found.run)
            if not runners:
                ended.set()

    for runner in runners.values():
        runner.attach()
    bus.handle(topics.control, on_control)
    await bus.ready()
    for n in names:
        await bus.publish(control.envelope(topics.control, "join", {"agent": n, "worker": worker}))
        say(f"agent {n} joined run {found.run} as {worker}")
    try:
        with _signals(ended):
            await ended.wait()
    finally:
        for runner in runners.values():
            await runner.detach()
        await _leave(bus, control, topics, list(runners), worker, "worker stopped", say, found.run)
        await bus.close(drain=False)
    return 0


async def _leave(
    bus: MqttBus,
    control: Sender,
    topics: Topics,
    names: list[str],
    worker: str,
    reason: str,
    say: Callable[[str], None],
    run: str,
) -> None:
    """Tell the run that ``names`` left (one message for all of them)."""
    if not names:
        return
    bye: dict[str, Any] = {"agent": names[0], "agents": names, "worker": worker, "reason": reason}
    try:
        async with asyncio.timeout(5):
            await bus.publish(control.envelope(topics.control, "leave", bye))
    except (TimeoutError, Exception):  # the run is over or the broker is gone: nothing to tell
        pass
    for n in names:
        say(f"agent {n} left run {run}")


@contextlib.contextmanager
def _signals(stop: asyncio.Event) -> Iterator[None]:
    """Ctrl-C and SIGTERM set ``stop`` while inside."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        yield
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _worker_bus(
    options: MqttOptions, topics: Topics, control: Sender, agents: list[str], worker: str
) -> MqttBus:
    """A persistent MQTT session whose last will tells the run that this worker's agents are
    gone."""
    lost = {"agent": agents[0], "agents": agents, "worker": worker, "reason": "worker lost"}
    leave = control.envelope(topics.control, "leave", lost)
    return MqttBus(
        options,
        client_id=f"gwa-agent-{agents[0]}-{worker}"[:64],
        persistent=True,
        keepalive_s=5,
        will=(topics.control, leave),
    )


def worker_workspace(scenario: Scenario, override: ModelSpec | None, base_dir: Any) -> Workspace:
    """A workspace used only to build the agent (its models) the way a run would."""
    return Workspace(scenario, model_override=override, base_dir=base_dir, trace_path=False)


async def run_agent(
    scenario: Scenario,
    agent: str | Sequence[str],
    options: MqttOptions,
    *,
    model: ModelSpec | None = None,
    base_dir: Any = None,
    run: str | None = None,
    wait_s: float = 300.0,
    say: Callable[[str], None] = print,
) -> int:
    """Run agents of ``scenario`` (each by name, or by a role only one agent has) in this
    process for one run over MQTT, as `gwa agent` does; returns an exit code."""
    wanted = [agent] if isinstance(agent, str) else list(agent)
    names = [pick_agent(scenario, a) for a in wanted]
    if not names or len(set(names)) < len(names):
        raise ConfigError(f"name each agent once: {', '.join(wanted) or 'none given'}")
    ws = worker_workspace(scenario, model, base_dir)
    return await serve(ws, names, options, run=run, wait_s=wait_s, say=say)
