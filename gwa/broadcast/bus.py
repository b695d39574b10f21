"""The bus seam: MQTT-style topics, the `Bus` protocol and the topics of a run."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from gwa.broadcast.envelope import Envelope

Handler = Callable[[Envelope], Awaitable[None]]
"""An async callback run for every envelope that matches its subscription, one at a time."""

Observer = Callable[[str, dict[str, Any]], None]
"""Told what the transport itself went through: (kind, details), e.g. ``("reconnect", {…})``,
``("gap", {…})``, ``("malformed", {…})``."""


@lru_cache(maxsize=4096)
def _levels(pattern: str) -> tuple[str, ...]:
    return tuple(pattern.split("/"))


def validate_pattern(pattern: str) -> None:
    """Raise ValueError unless ``pattern`` is a valid MQTT topic filter."""
    levels = _levels(pattern)
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            raise ValueError(f"invalid topic filter {pattern!r}: '#' must be a whole last level")
        if "+" in level and level != "+":
            raise ValueError(f"invalid topic filter {pattern!r}: '+' must be a whole level")


def topic_matches(pattern: str, topic: str) -> bool:
    """Whether an MQTT topic filter (``+`` one level, ``#`` the rest) matches a topic."""
    pat = _levels(pattern)
    top = topic.split("/")
    for i, level in enumerate(pat):
        if level == "#":
            return True
        if i >= len(top) or (level != "+" and level != top[i]):
            return False
    return len(pat) == len(top)


class Subscription(Protocol):
    """An async iterator of the envelopes that match one topic filter."""

    pattern: str

    def __aiter__(self) -> AsyncIterator[Envelope]: ...

    async def __anext__(self) -> Envelope: ...

    async def close(self) -> None:
        """Stop receiving; the iterator ends after what it already holds."""
        ...


class HandlerHandle(Protocol):
    """A handler registered with `Bus.handle`."""

    async def cancel(self) -> None:
        """Unsubscribe and stop the handler now, abandoning any envelope it is handling."""
        ...


class Bus(Protocol):
    """Moves envelopes between publishers and subscribers; knows nothing of agents or cycles."""

    async def start(self) -> None:
        """Connect or get ready; idempotent."""
        ...

    async def publish(self, envelope: Envelope, *, retain: bool = False) -> None:
        """Deliver to every matching subscription; waits (backpressure) rather than drop.

        ``retain``: a broker keeps the message for later subscribers (run announcements);
        an in-process bus has no later subscribers to keep it for.
        """
        ...

    def observe(self, observer: Observer | None) -> None:
        """Report transport events (reconnects, gaps, malformed messages) to ``observer``."""
        ...

    def subscribe(self, pattern: str, *, maxsize: int = 1024) -> Subscription:
        """A new subscription to a topic filter."""
        ...

    def handle(self, pattern: str, handler: Handler, *, maxsize: int = 1024) -> HandlerHandle:
        """Run ``handler`` for every matching envelope; its errors surface at `close`."""
        ...

    async def close(self, *, drain: bool = True) -> None:
        """Stop: deliver what is queued to handlers (when draining), then end every subscription.

        Raises `gwa.errors.HandlerError` if any handler raised during the bus's life.
        """
        ...


@dataclass(frozen=True, slots=True)
class Topics:
    """The topics of one run, ``gwa/<run>/<name>``."""

    run: str

    @property
    def broadcast(self) -> str:
        """Workspace → agents: requests of every phase, carrying the state S_t."""
        return f"gwa/{self.run}/broadcast"

    @property
    def proposal(self) -> str:
        """Agents → workspace: replies (queries, candidates, critiques, choices …)."""
        return f"gwa/{self.run}/proposal"

    @property
    def control(self) -> str:
        """Run announcements and stop requests."""
        return f"gwa/{self.run}/control"

    @property
    def input(self) -> str:
        """External inputs (user messages, tool results) to be perceived."""
        return f"gwa/{self.run}/input"

    @property
    def output(self) -> str:
        """Responses the workspace gives."""
        return f"gwa/{self.run}/output"

    @property
    def tokens(self) -> str:
        """Agents → watchers: each model output's text as it is generated (when asked)."""
        return f"gwa/{self.run}/tokens"
