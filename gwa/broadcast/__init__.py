"""The broadcast hub's transport: envelopes, topics and buses. A leaf: it knows no agents.

`MqttBus` and `MqttOptions` are loaded on first use (they need aiomqtt)."""

from importlib import import_module
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from gwa.broadcast.mqtt import MqttBus, MqttOptions

__all__ = [
    "ENVELOPE_VERSION",
    "Bus",
    "Envelope",
    "Handler",
    "HandlerHandle",
    "LocalBus",
    "LocalHandler",
    "LocalSubscription",
    "MqttBus",
    "MqttOptions",
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


def __getattr__(name: str) -> Any:
    if name in ("MqttBus", "MqttOptions"):
        return getattr(import_module("gwa.broadcast.mqtt"), name)
    raise AttributeError(f"module 'gwa.broadcast' has no attribute {name!r}")
