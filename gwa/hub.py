"""The broadcast hub: agents as bus subscribers, and the scatter-gather of one phase.

The workspace publishes a ``request`` envelope on the broadcast topic naming the agents that
should act; each `AgentRunner` (a bus handler) acts and publishes a ``reply`` on the proposal
topic. `Hub.gather` waits for the named agents until the phase deadline. Agents never call each
other; everything goes over the bus, so the same requests and replies can cross processes.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter

from gwa.agents.agent import Agent, AgentContext, CallRecord
from gwa.agents.roles import Role, parse_output
from gwa.broadcast import Bus, Envelope, HandlerHandle, Sender, Subscription, Topics
from gwa.errors import GwaError
from gwa.types import Request, plain

REQUEST = TypeAdapter(Request)


class Reply(BaseModel):
    """An agent's answer to a phase request, as it crosses the bus."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    request_id: str
    agent: str
    ok: bool
    output: dict[str, Any] | None = None
    """The role's output as JSON data, validated by the agent's runner."""
    error_type: str | None = None
    error: str | None = None
    calls: tuple[CallRecord, ...] = ()
    """The model calls the turn made."""


def normalise_output(
    kind: str, raw: BaseModel | dict[str, Any], n_candidates: int
) -> dict[str, Any]:
    """Validate an agent's output against its role's schema; return it as JSON data."""
    data = raw.model_dump(mode="json") if isinstance(raw, BaseModel) else raw
    parsed = parse_output(kind, json.dumps(data), n_candidates=n_candidates)
    return parsed.model_dump(mode="json")


class AgentRunner:
    """Subscribes one agent to the broadcast topic and answers the requests naming it."""

    def __init__(
        self, agent: Agent, bus: Bus, topics: Topics, *, sender: str | None = None
    ) -> None:
        self.agent = agent
        self._bus = bus
        self._topics = topics
        self._sender = Sender(sender or f"agent:{agent.name}")
        self._handle: HandlerHandle | None = None

    def attach(self) -> None:
        """Start handling requests."""
        self._handle = self._bus.handle(self._topics.broadcast, self._on_request)

    async def detach(self) -> None:
        """Stop handling requests; a turn still in progress is cancelled (its run is over)."""
        if self._handle is not None:
            await self._handle.cancel()
            self._handle = None

    async def _on_request(self, envelope: Envelope) -> None:
        payload = envelope.payload
        name = self.agent.name
        if envelope.kind != "request" or name not in payload["agents"]:
            return
        request = REQUEST.validate_python(
            {**payload["request"], "temperature": payload["temperatures"][name]}
        )
        ctx = AgentContext(max_tokens=payload["max_tokens"][name], seed=payload.get("seed"))
        reply: dict[str, Any] = {"request_id": payload["request_id"], "agent": name}
        timeout = float(payload["timeout_s"])
        pump = (
            self._stream(ctx, payload["request_id"], envelope.cycle)
            if payload.get("stream")
            else None
        )
        try:
            async with asyncio.timeout(timeout):
                raw = await self.agent.act(request, ctx)
            kind = self.agent.role.output
            reply.update(ok=True, output=normalise_output(kind, raw, len(request.candidates)))
        except TimeoutError:
            reply.update(ok=False, error_type="late", error=f"no answer within {timeout:g} s")
        except GwaError as exc:
            reply.update(ok=False, error_type=type(exc).__name__, error=str(exc))
        except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # an agent's bug is traced as its failure, not the run's
            reply.update(ok=False, error_type=f"crash:{type(exc).__name__}", error=str(exc))
        finally:
            if pump is not None:
                await pump.close()
        reply["calls"] = [plain(c) for c in ctx.calls]
        envelope = self._sender.envelope(self._topics.proposal, "reply", reply, envelope.cycle)
        await self._bus.publish(envelope)

    def _stream(self, ctx: AgentContext, request_id: str, cycle: int | None) -> _Pump:
        """Publish the turn's output text, piece by piece, on the tokens topic (in order)."""
        pump = _Pump(
            self._bus, self._sender, self._topics.tokens, self.agent.name, request_id, cycle
        )
        ctx.on_text = pump.put
        return pump


class _Pump:
    """Publishes text pieces in the order they come, from a queue (callers do not wait)."""

    def __init__(
        self, bus: Bus, sender: Sender, topic: str, agent: str, request_id: str, cycle: int | None
    ) -> None:
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._task = asyncio.create_task(self._run(bus, sender, topic, agent, request_id, cycle))

    def put(self, text: str) -> None:
        self._queue.put_nowait(text)

    async def _run(
        self, bus: Bus, sender: Sender, topic: str, agent: str, request_id: str, cycle: int | None
    ) -> None:
        while (text := await self._queue.get()) is not None:
            payload = {"agent": agent, "request_id": request_id, "text": text}
            await bus.publish(sender.envelope(topic, "token", payload, cycle))

    async def close(self) -> None:
        self._queue.put_nowait(None)
        await self._task


class RemoteAgent:
    """Stands for an agent that runs in another process (`gwa agent`) and answers over the bus."""

    def __init__(self, name: str, role: Role) -> None:
        self._name = name
        self._role = role

    @property
    def name(self) -> str:
        """The agent's name in the scenario."""
        return self._name

    @property
    def role(self) -> Role:
        """Its role."""
        return self._role

    async def act(self, request: Request, ctx: AgentContext) -> dict[str, Any]:
        """Never called here: the workspace asks the remote worker over the bus."""
        raise GwaError(f"agent {self._name!r} runs in another process; it answers over the bus")


@dataclass(slots=True)
class _Pending:
    expected: set[str]
    replies: dict[str, Reply] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Hub:
    """Publishes phase requests and collects the replies that arrive before the deadline."""

    def __init__(self, bus: Bus, topics: Topics) -> None:
        self._bus = bus
        self._topics = topics
        self.sender = Sender("workspace")
        self._pending: dict[str, _Pending] = {}
        self._sub: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._stale: list[Reply] = []

    async def start(self) -> None:
        """Subscribe to replies."""
        self._sub = self._bus.subscribe(self._topics.proposal)
        self._task = asyncio.create_task(self._route(self._sub))

    async def stop(self) -> None:
        """Stop routing replies."""
        if self._sub is not None:
            await self._sub.close()
        if self._task is not None:
            await self._task

    def take_stale(self) -> list[Reply]:
        """Replies that came after their deadline (their model calls are still traced)."""
        taken, self._stale = self._stale, []
        return taken

    async def _route(self, sub: Subscription) -> None:
        async for envelope in sub:
            if envelope.kind != "reply":
                continue
            try:
                reply = Reply.model_validate(envelope.payload)
            except ValueError:
                continue  # not a reply this GWA understands: nobody waits for it
            pending = self._pending.get(reply.request_id)
            if pending is None or reply.agent not in pending.expected:
                self._stale.append(reply)
                continue
            pending.replies[reply.agent] = reply
            if len(pending.replies) == len(pending.expected):
                pending.done.set()

    async def gather(
        self,
        request_id: str,
        request: Request,
        agents: dict[str, tuple[float, int]],
        *,
        timeout_s: float,
        seed: int | None,
        stream: bool = False,
    ) -> dict[str, Reply]:
        """Ask ``agents`` (name → (temperature, max_tokens)) to act; return the replies that
        came before the deadline, by agent (``stream``: they publish their output text on the
        tokens topic as it is generated)."""
        pending = _Pending(set(agents))
        self._pending[request_id] = pending
        payload = {
            "request_id": request_id,
            "agents": list(agents),
            "temperatures": {name: t for name, (t, _) in agents.items()},
            "max_tokens": {name: m for name, (_, m) in agents.items()},
            "timeout_s": timeout_s,
            "seed": seed,
            "request": REQUEST.dump_python(request, mode="json"),
        }
        if stream:
            payload["stream"] = True
        envelope = self.sender.envelope(
            self._topics.broadcast, "request", payload, request.broadcast.cycle
        )
        try:
            await self._bus.publish(envelope)
            try:
                async with asyncio.timeout(timeout_s):
                    await pending.done.wait()
            except TimeoutError:
                pass
        finally:
            del self._pending[request_id]
        return pending.replies
