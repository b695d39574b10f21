"""The broadcast hub's transport: envelopes, topics and buses. A leaf: it knows no agents."""

from gwa.broadcast.bus import (
    Bus,
    Handler,
    HandlerHandle,
    Observer,
    Subscription,
    Topics,
    topic_matches,
    validate_pattern,
)
from gwa.broadcast.envelope import (
    ENVELOPE_VERSION,
    Envelope,
    Sender,
    SequenceTracker,
    decode,
    encode,
)
from gwa.broadcast.local import LocalBus, LocalHandler, LocalSubscription

__all__ = [
    "ENVELOPE_VERSION",
    "Bus",
    "Envelope",
    "Handler",
    "HandlerHandle",
    "LocalBus",
    "LocalHandler",
    "LocalSubscription",
    "Observer",
    "Sender",
    "SequenceTracker",
    "Subscription",
    "Topics",
    "decode",
    "encode",
    "topic_matches",
    "validate_pattern",
]
