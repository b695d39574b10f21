"""Every trace event kind as a typed, frozen record: the contract of the JSONL trace.

The cycle writes these records (`gwa.trace.TraceWriter.emit`), `gwa.read_trace` yields them,
and the viewer, the CLI progress, evaluation, benchmarks and tests read them. Each record
carries the common fields (``v``, ``ts``, ``run``, ``seq``, ``cycle``, ``event``, ``agent``;
the writer stamps the first four) and the fields of its kind.

Adding an event kind: subclass `Event` here with ``event: Literal["kind"] = "kind"`` and its
fields, and emit it. `trace_schema()` (``gwa schema --trace``) picks it up.

Readers ignore fields they do not know (a newer writer may add one within a version); a
change to an existing field bumps `TRACE_VERSION`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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


class RunStart(Event):
    """A run began: what ran, with which settings and models."""

    event: Literal["run.start"] = "run.start"
    scenario: str
    config_hash: str
    config: dict[str, Any]
    seed: int | None
    goal: str
    model: str | None
    """Why the default model was chosen."""
    agents: list[AgentInfo]


class RunAnnounce(Event):
    """The run was announced on its control topic for remote agents."""

    event: Literal["run.announce"] = "run.announce"
    remote: list[str]
    topic: str


class AgentJoin(Event):
    """A remote agent joined."""

    event: Literal["agent.join"] = "agent.join"
    detail: str


class AgentAbsent(Event):
    """A remote agent left, or did not join in time."""

    event: Literal["agent.absent"] = "agent.absent"
    detail: str


class BusReconnect(Event):
    """The MQTT bus reconnected to its broker."""

    event: Literal["bus.reconnect"] = "bus.reconnect"
    reconnects: int


class BusMalformed(Event):
    """An envelope on the broker could not be decoded and was dropped."""

    event: Literal["bus.malformed"] = "bus.malformed"
    topic: str
    error: str


class BusGap(Event):
    """A sender's sequence numbers skipped: messages were lost."""

    event: Literal["bus.gap"] = "bus.gap"
    sender: str
    topic: str
    expected: int
    got: int


class CycleStart(Event):
    """A cycle began."""

    event: Literal["cycle.start"] = "cycle.start"
    temperature: float
    inputs: list[str]
    notes: list[str]
    """Notes of the workspace itself (escalation prompts) joining this broadcast."""
    working_memory_tokens: int


class MemoryRetrieve(Event):
    """Long-term memory answered queries."""

    event: Literal["memory.retrieve"] = "memory.retrieve"
    mode: Literal["novelty"] | None = None
    """``novelty`` for the deadlock step 'requery'."""
    queries: list[str]
    memories: list[Recalled]


class BroadcastSent(Event):
    """The state S_t was broadcast."""

    event: Literal["broadcast"] = "broadcast"
    working_memory: list[EntryView]
    tokens: int
    winner: str | None
    """The id of the last winner shown."""
    inputs: list[str]
    memories: list[str]
    """Ids of the recalled memories shown."""


class ModelCall(Event):
    """One chat-model call of an agent."""

    event: Literal["model.call"] = "model.call"
    provider: str
    model: str
    temperature: float
    max_tokens: int
    tokens_in: int
    tokens_out: int
    latency_ms: float
    attempt: int
    ok: bool
    error: str | None


class AgentError(Event):
    """An agent was late, failed, or gave an output its role rejects."""

    event: Literal["agent.error"] = "agent.error"
    phase: str
    error_type: str
    error: str


class Proposal(Event):
    """A candidate thought."""

    event: Literal["proposal"] = "proposal"
    candidate: str
    text: str
    salience: float
    final: bool


class CritiqueGiven(Event):
    """A critic's score of a candidate."""

    event: Literal["critique"] = "critique"
    candidate: str
    score: int
    reason: str


class SelectionInhibit(Event):
    """Near-copies of recent winners were kept from winning (inhibition of return)."""

    event: Literal["selection.inhibit"] = "selection.inhibit"
    inhibited: list[str]
    similarity: list[float]
    recent_winners: int


class SelectionMade(Event):
    """The cycle's competition ended (with or without a winner)."""

    event: Literal["selection"] = "selection"
    policy: str
    winner: str | None
    text: str | None
    tag: Literal["THINK_MORE", "RESPOND"]
    scores: dict[str, float]
    reason: str


class MemoryUse(Event):
    """A winner cited long-term memories; the decisions that stored them were credited."""

    event: Literal["memory.use"] = "memory.use"
    winner: str
    memories: list[str]
    credited: list[str]


class MemoryConsolidate(Event):
    """Working memory went over θ and bifurcated into a summary and evicted entries."""

    event: Literal["memory.consolidate"] = "memory.consolidate"
    evicted: list[str]
    summary: str
    text: str
    tokens_before: int
    tokens_after: int


class _Decision(Event):
    candidate: str
    source: str
    p: float
    reason: str
    text: str
    features: dict[str, float]


class MemoryAdmit(_Decision):
    """A candidate was stored in long-term memory."""

    event: Literal["memory.admit"] = "memory.admit"
    memory_id: str | None = None
    links: list[LinkView] = Field(default_factory=list)


class MemoryReject(_Decision):
    """A candidate was kept out of long-term memory."""

    event: Literal["memory.reject"] = "memory.reject"


class MemoryExpire(Event):
    """Stored memories went unused past the admission horizon."""

    event: Literal["memory.expire"] = "memory.expire"
    memories: list[str]


class DriveUpdate(Event):
    """The temperature source observed the cycle and set the next temperature."""

    event: Literal["drive.update"] = "drive.update"
    temperatures: dict[str, float]
    """Per generator, after its bounds."""
    source: str
    """``constant`` or ``entropy``."""
    estimator: str | None = None
    law: str | None = None
    h: float | None = None
    window: int | None = None
    similarity: float | None = None
    temperature: float
    level: int | None = None


class DeadlockSeen(Event):
    """The drive found the workspace stuck and took an escalation step."""

    event: Literal["deadlock"] = "deadlock"
    evidence: str
    step: str
    level: int
    similarity: float | None = None
    h: float | None = None


class ResponseGiven(Event):
    """The workspace answered."""

    event: Literal["response"] = "response"
    answer: str
    winner: str


class RunEnd(Event):
    """The run ended; every exit path writes this."""

    event: Literal["run.end"] = "run.end"
    status: str
    reason: str
    answer: str | None
    cycles: int
    tokens_in: int
    tokens_out: int
    duration_s: float
    error_type: str | None = None
    """The exception that ended the run, for status ``error``."""


KINDS: dict[str, type[Event]] = {
    cls.model_fields["event"].default: cls
    for cls in (
        RunStart,
        RunAnnounce,
        AgentJoin,
        AgentAbsent,
        BusReconnect,
        BusMalformed,
        BusGap,
        CycleStart,
        MemoryRetrieve,
        BroadcastSent,
        ModelCall,
        AgentError,
        Proposal,
        CritiqueGiven,
        SelectionInhibit,
        SelectionMade,
        MemoryUse,
        MemoryConsolidate,
        MemoryAdmit,
        MemoryReject,
        MemoryExpire,
        DriveUpdate,
        DeadlockSeen,
        ResponseGiven,
        RunEnd,
    )
}
"""Event kind → its record class."""

_BUS: dict[str, type[Event]] = {
    "reconnect": BusReconnect,
    "malformed": BusMalformed,
    "gap": BusGap,
}


def bus_event(kind: str, info: Mapping[str, Any]) -> Event:
    """The trace record of something the bus reports (``reconnect``, ``gap`` …)."""
    cls = _BUS.get(kind)
    if cls is None:
        return OtherEvent(event=f"bus.{kind}", **info)
    return cls(**info)


def parse_event(data: Mapping[str, Any]) -> Event:
    """The typed record of one decoded trace line; fields a kind does not know are ignored.

    Raises `pydantic.ValidationError` when a known kind's field has the wrong type.
    """
    cls = KINDS.get(str(data.get("event")))
    if cls is None:
        return OtherEvent.model_validate(dict(data))
    known = cls.model_fields
    return cls.model_validate({k: v for k, v in data.items() if k in known})


def to_record(event: Event) -> dict[str, Any]:
    """The JSON object of an event as written: the common fields first, then the set ones."""
    body = event.model_dump(mode="json", exclude_unset=True)
    head = {k: getattr(event, k) for k in HEADER}
    for k in HEADER:
        body.pop(k, None)
    return {**head, **body}


def trace_schema() -> dict[str, Any]:
    """The JSON Schema of one trace line (any of the kinds, chosen by ``event``)."""
    variants = [cls.model_json_schema(ref_template="#/$defs/{model}") for cls in KINDS.values()]
    defs: dict[str, Any] = {}
    one_of = []
    for cls, schema in zip(KINDS.values(), variants, strict=True):
        defs.update(schema.pop("$defs", {}))
        defs[cls.__name__] = schema
        one_of.append({"$ref": f"#/$defs/{cls.__name__}"})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"GWA trace record (v{TRACE_VERSION})",
        "description": "One JSON object a line; the kind is in 'event'. Readers ignore "
        "unknown fields.",
        "oneOf": one_of,
        "$defs": defs,
    }
