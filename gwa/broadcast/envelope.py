"""Versioned message envelopes, the per-sender sequence numbers they carry, and the wire codec."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from gwa.errors import BusError

ENVELOPE_VERSION = 1
BATCH_VERSION = 2
"""A batch frame: several envelopes of one topic in one wire message (kind ``batch``, ``v`` 2,
the envelopes in ``payload.envelopes``). A receiver from before batches refuses it as too new,
with the message to upgrade, instead of misreading it."""


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message on the bus: who sent it, in which order, on which topic, and what it holds.

    ``payload`` is JSON-compatible so that the same envelope can cross a process boundary.
    """

    topic: str
    sender: str
    seq: int
    """Sequence number per (sender, topic), starting at 1, so that any subscriber of a topic can
    detect loss (a gap) and duplication (a repeat) of what a sender published there."""
    kind: str
    payload: dict[str, Any] = field(default_factory=dict)
    cycle: int | None = None
    ts: float = 0.0
    v: int = ENVELOPE_VERSION


_ADAPTER: TypeAdapter[Envelope] = TypeAdapter(Envelope)


def encode(envelope: Envelope) -> bytes:
    """Serialise an envelope to JSON bytes for a wire transport."""
    return _ADAPTER.dump_json(envelope)


def encode_batch(envelopes: Sequence[Envelope], sender: str) -> bytes:
    """One wire message holding ``envelopes`` (all of one topic, in order): a batch frame from
    ``sender`` (the transport's own name; each envelope keeps its sender and number)."""
    topic = envelopes[0].topic
    if any(e.topic != topic for e in envelopes):
        raise ValueError("a batch holds envelopes of one topic")
    head = '{"topic":' + json.dumps(topic) + ',"sender":' + json.dumps(sender)
    head += ',"seq":0,"kind":"batch","payload":{"envelopes":['
    tail = ']},"v":' + str(BATCH_VERSION) + "}"
    return head.encode() + b",".join(_ADAPTER.dump_json(e) for e in envelopes) + tail.encode()


def decode(data: bytes | str) -> Envelope:
    """Parse and validate JSON bytes into an envelope; raises `BusError` naming the problem.
    A batch frame comes back as one envelope of kind ``batch``: see `unbatch`."""
    try:
        envelope = _ADAPTER.validate_json(data)
    except ValidationError as exc:
        raise BusError(f"malformed envelope: {exc.errors(include_url=False)}") from None
    if envelope.v > ENVELOPE_VERSION and not is_batch(envelope):
        raise BusError(_too_new(envelope.v))
    return envelope


def _too_new(version: int) -> str:
    return (
        f"envelope version {version} is newer than this GWA understands ({ENVELOPE_VERSION}); "
        "upgrade gwa"
    )


def is_batch(envelope: Envelope) -> bool:
    """Whether ``envelope`` is a batch frame (`encode_batch`)."""
    return envelope.kind == "batch" and envelope.v == BATCH_VERSION


def unbatch(frame: Envelope) -> tuple[list[Envelope], list[str]]:
    """The envelopes a batch frame holds, in order, and an error for each one that is
    malformed, too new, or of another topic than the frame's (left out)."""
    items = frame.payload.get("envelopes")
    if not isinstance(items, list):
        return [], ["malformed batch: payload.envelopes is not a list"]
    out: list[Envelope] = []
    errors: list[str] = []
    for i, item in enumerate(items):
        try:
            envelope = _ADAPTER.validate_python(item)
        except ValidationError as exc:
            errors.append(f"malformed envelope {i} of a batch: {exc.errors(include_url=False)}")
            continue
        if envelope.v > ENVELOPE_VERSION:
            errors.append(f"envelope {i} of a batch: {_too_new(envelope.v)}")
            continue
        if envelope.topic != frame.topic:
            errors.append(f"envelope {i} of a batch is for {envelope.topic!r}, not {frame.topic!r}")
            continue
        out.append(envelope)
    return out, errors


class Sender:
    """Stamps envelopes of one sender with increasing sequence numbers, one series per topic."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._seq: dict[str, int] = {}

    def envelope(
        self, topic: str, kind: str, payload: dict[str, Any] | None = None, cycle: int | None = None
    ) -> Envelope:
        """A new envelope from this sender with the next sequence number."""
        return Envelope(
            topic=topic,
            sender=self.name,
            seq=self._next(topic),
            kind=kind,
            payload=payload or {},
            cycle=cycle,
            ts=time.time(),
        )

    def _next(self, topic: str) -> int:
        self._seq[topic] = seq = self._seq.get(topic, 0) + 1
        return seq

    def snapshot(self) -> dict[str, Any]:
        """The last sequence number sent per topic (a resumed run goes on from there, so
        receivers that outlived the crash do not drop its messages as repeats)."""
        return dict(self._seq)

    def restore(self, state: dict[str, Any]) -> None:
        """Continue the series `snapshot` returned."""
        self._seq = {str(k): int(v) for k, v in state.items()}


class SequenceTracker:
    """Checks sequence numbers per (sender, topic) on the receiving side.

    `accept` returns False for a duplicate (or replayed older) message, which the receiver drops;
    a jump forward is a gap, recorded in `gaps` as ``(sender, topic, expected, got)``.
    """

    __slots__ = ("duplicates", "gaps", "last")

    def __init__(self) -> None:
        self.last: dict[tuple[str, str], int] = {}
        self.gaps: list[tuple[str, str, int, int]] = []
        self.duplicates = 0

    def accept(self, envelope: Envelope) -> bool:
        """Whether to deliver the envelope (False: a duplicate)."""
        key = (envelope.sender, envelope.topic)
        last = self.last.get(key, 0)
        if envelope.seq <= last:
            self.duplicates += 1
            return False
        if envelope.seq != last + 1 and last:
            self.gaps.append((envelope.sender, envelope.topic, last + 1, envelope.seq))
        self.last[key] = envelope.seq
        return True
