"""The common fields of every trace record, and the small records events carry."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

TRACE_VERSION = 1
"""The schema version written in every record's ``v``."""

HEADER = ("v", "ts", "run", "seq", "cycle", "event", "agent")
"""The common fields, in the order they are written."""


class Event(BaseModel):
    """The common fields of every trace record."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: int = TRACE_VERSION
    """Schema version."""
    ts: float = 0.0
    """Unix time the event was written."""
    run: str = ""
    """The run's id."""
    seq: int = 0
    """Monotonic within a run, from 1."""
    cycle: int | None = None
    """The cycle it belongs to (None before the first)."""
    event: str
    """The kind."""
    agent: str | None = None
    """The agent that acted, where one did."""

    @classmethod
    def kind(cls) -> str:
        """The ``event`` value of this record class ("" for the base)."""
        default = cls.model_fields["event"].default
        return default if isinstance(default, str) else ""

    def field(self, name: str, default: Any = None) -> Any:
        """A field by name (for code that handles several kinds alike)."""
        value = getattr(self, name, default)
        if value is None and self.model_extra:
            return self.model_extra.get(name, default)
        return value


class OtherEvent(Event):
    """A kind this GWA does not know (written by a newer or a custom writer): kept as is."""

    model_config = ConfigDict(frozen=True, extra="allow")


class _Item(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AgentInfo(_Item):
    """An agent of the run, as listed in ``run.start``."""

    name: str
    role: str
    output: str
    model: str


class EntryView(_Item):
    """A working-memory entry as broadcast."""

    id: str
    kind: str
    author: str
    text: str
    tokens: int


class Recalled(_Item):
    """A long-term memory returned by a retrieval."""

    id: str
    score: float
    text: str


class LinkView(_Item):
    """A link made for a new long-term memory."""

    type: str
    target: str
