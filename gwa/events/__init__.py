"""Every trace event kind as a typed, frozen record: the contract of the JSONL trace.

The cycle writes these records (`gwa.trace.TraceWriter.emit`), `gwa.read_trace` yields them,
and the viewer, the CLI progress, evaluation, benchmarks and tests read them. Each record
carries the common fields (``v``, ``ts``, ``run``, ``seq``, ``cycle``, ``event``, ``agent``;
the writer stamps the first four) and the fields of its kind.

Adding an event kind: subclass `Event` in `gwa/events/kinds.py` with
``event: Literal["kind"] = "kind"`` and its fields, list it in `KINDS` below, and emit it;
`trace_schema()` (``gwa schema --trace``) picks it up.

Readers ignore fields they do not know (a newer writer may add one within a version); a
change to an existing field bumps `TRACE_VERSION`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gwa.events._base import (
    HEADER,
    TRACE_VERSION,
    AgentInfo,
    EntryView,
    Event,
    LinkView,
    OtherEvent,
    Recalled,
)
from gwa.events.kinds import (
    AgentAbsent,
    AgentError,
    AgentJoin,
    BroadcastSent,
    BusGap,
    BusMalformed,
    BusReconnect,
    CheckpointSaved,
    CritiqueGiven,
    CycleStart,
    DeadlockSeen,
    DriveUpdate,
    MemoryAdmit,
    MemoryConsolidate,
    MemoryExpire,
    MemoryReject,
    MemoryRetrieve,
    MemoryUse,
    ModelCall,
    Proposal,
    ResponseGiven,
    RunAnnounce,
    RunEnd,
    RunPause,
    RunResume,
    RunStart,
    SelectionInhibit,
    SelectionMade,
    ToolCalled,
    ToolResult,
)

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
        ToolCalled,
        ToolResult,
        CheckpointSaved,
        RunResume,
        RunPause,
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


__all__ = [
    "HEADER",
    "KINDS",
    "TRACE_VERSION",
    "AgentAbsent",
    "AgentError",
    "AgentInfo",
    "AgentJoin",
    "BroadcastSent",
    "BusGap",
    "BusMalformed",
    "BusReconnect",
    "CheckpointSaved",
    "CritiqueGiven",
    "CycleStart",
    "DeadlockSeen",
    "DriveUpdate",
    "EntryView",
    "Event",
    "LinkView",
    "MemoryAdmit",
    "MemoryConsolidate",
    "MemoryExpire",
    "MemoryReject",
    "MemoryRetrieve",
    "MemoryUse",
    "ModelCall",
    "OtherEvent",
    "Proposal",
    "Recalled",
    "ResponseGiven",
    "RunAnnounce",
    "RunEnd",
    "RunPause",
    "RunResume",
    "RunStart",
    "SelectionInhibit",
    "SelectionMade",
    "ToolCalled",
    "ToolResult",
    "bus_event",
    "parse_event",
    "to_record",
    "trace_schema",
]
