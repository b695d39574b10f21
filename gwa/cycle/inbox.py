"""The run's inbox: inputs waiting to be perceived, stop requests and remote presence, fed
from the run's input and control topics."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from gwa.broadcast import Bus, Envelope, Sender, Subscription, Topics
from gwa.cycle.state import Decision

Presence = tuple[str, str, str]
"""(agent, "join" | "leave", detail): a change not yet traced."""


class Inbox:
    """Listens to the input and control topics of one run."""

    def __init__(self, bus: Bus, topics: Topics, sender: Sender) -> None:
        self.bus = bus
        """The bus the run talks over."""
        self.topics = topics
        """The run's topics."""
        self.sender = sender
        self._inputs: list[tuple[str, str]] = []
        self.stop_reason: str | None = None
        self.wake = asyncio.Event()
        """Set when an input or a stop arrives (ends an idle pause)."""
        self._subs: list[Subscription] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.present: dict[str, str] = {}
        """Remote agents that joined over the bus: agent name → worker id."""
        self._presence: list[Presence] = []
        self.joined = asyncio.Event()
        self.idle: bool | None = None
        """Idle thinking switched on or off over the control topic (None: as the scenario)."""
        self._decision: Decision | None = None
        self.decided = asyncio.Event()
        """Set when a person's decision arrives on the control topic (a paused run waits)."""

    async def start(self) -> None:
        """Listen to the input and control topics."""
        for topic, fn in (
            (self.topics.input, self._on_input),
            (self.topics.control, self._on_control),
        ):
            sub = self.bus.subscribe(topic)
            self._subs.append(sub)
            self._tasks.append(asyncio.create_task(self._listen(sub, fn)))

    @staticmethod
    async def _listen(sub: Subscription, fn: Callable[[Envelope], None]) -> None:
        async for envelope in sub:
            fn(envelope)

    def _on_input(self, envelope: Envelope) -> None:
        text = envelope.payload.get("text")
        if envelope.kind == "input" and isinstance(text, str):
            self.receive(text, origin=envelope.sender)

    def receive(self, text: str, *, origin: str = "") -> None:
        """Queue an input for the next perceive (blank text is ignored); ``origin`` is who
        sent it."""
        if text.strip():
            self._inputs.append((text.strip(), origin))
            self.wake.set()

    def _on_control(self, envelope: Envelope) -> None:
        kind, payload = envelope.kind, envelope.payload
        if kind == "stop":
            self.request_stop(str(payload.get("reason") or "stop requested on the control topic"))
        if kind == "idle" and isinstance(payload.get("enabled"), bool):
            self.idle = bool(payload["enabled"])
            self.wake.set()
        if kind in ("approve", "edit", "reject"):
            text = payload.get("text")
            with contextlib.suppress(ValueError):  # an edit without its text is no decision
                self._decision = Decision.parse(kind, text if isinstance(text, str) else None)
                self.decided.set()
        agent, worker = str(payload.get("agent", "")), str(payload.get("worker", ""))
        if kind == "join" and agent:
            self.present[agent] = worker
            self._presence.append((agent, "join", f"worker {worker} joined"))
            self.joined.set()
        elif kind == "leave":  # one worker's agents: ``agents`` (several) or ``agent``
            listed = payload.get("agents")
            for a in [str(x) for x in listed] if isinstance(listed, list) else [agent]:
                if a and self.present.get(a) == worker:
                    del self.present[a]
                    self._presence.append((a, "leave", str(payload.get("reason", "left"))))

    def take_presence(self) -> list[Presence]:
        """Joins and leaves since the last call."""
        taken, self._presence = self._presence, []
        return taken

    def mark_absent(self, agent: str, reason: str) -> None:
        """Stop asking a remote agent until it joins again."""
        if self.present.pop(agent, None) is not None:
            self._presence.append((agent, "leave", reason))

    async def submit(self, text: str) -> None:
        """Publish an input on the run's input topic."""
        await self.bus.publish(self.sender.envelope(self.topics.input, "input", {"text": text}))

    def take_decision(self) -> Decision | None:
        """The decision received on the control topic, if any (taken once)."""
        taken, self._decision = self._decision, None
        self.decided.clear()
        return taken

    async def decide(self, decision: Decision) -> None:
        """Publish a decision on the run's control topic (what a paused run waits for)."""
        payload = {"text": decision.text} if decision.text else {}
        await self.bus.publish(self.sender.envelope(self.topics.control, decision.verdict, payload))

    async def set_idle(self, enabled: bool) -> None:
        """Publish an ``idle`` switch on the run's control topic."""
        envelope = self.sender.envelope(self.topics.control, "idle", {"enabled": enabled})
        await self.bus.publish(envelope)

    def request_stop(self, reason: str) -> None:
        """Stop after the current cycle (the first reason given is kept)."""
        self.stop_reason = self.stop_reason or reason
        self.wake.set()

    async def publish_output(self, answer: str, cycle: int) -> None:
        """Publish a response on the run's output topic."""
        envelope = self.sender.envelope(self.topics.output, "output", {"answer": answer}, cycle)
        await self.bus.publish(envelope)

    def drain_inputs(self) -> list[tuple[str, str]]:
        """Take every input received so far, as (text, origin)."""
        taken, self._inputs = self._inputs, []
        return taken

    def snapshot(self) -> dict[str, Any]:
        """Inputs not yet perceived and the control sender's sequence numbers."""
        return {"inputs": [list(i) for i in self._inputs], "sender": self.sender.snapshot()}

    def restore(self, state: dict[str, Any]) -> None:
        """Take back a `snapshot` (inputs first, before any received since)."""
        self._inputs = [(str(t), str(o)) for t, o in state["inputs"]] + self._inputs
        self.sender.restore(state["sender"])
        if self._inputs:
            self.wake.set()

    @property
    def has_input(self) -> bool:
        """Whether inputs are waiting."""
        return bool(self._inputs)

    async def stop(self) -> None:
        """Stop listening."""
        for sub in self._subs:
            await sub.close()
        await asyncio.gather(*self._tasks)
