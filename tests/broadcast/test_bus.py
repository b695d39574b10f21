"""LocalBus: topic filters, fan-out, backpressure, sequence numbers, draining, handler errors."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gwa.broadcast import Envelope, LocalBus, Sender, SequenceTracker, topic_matches
from gwa.broadcast.bus import validate_pattern
from gwa.errors import BusClosed, HandlerError

LEVEL = st.text(alphabet="abc", min_size=1, max_size=3)


@pytest.mark.parametrize(
    ("pattern", "topic", "expected"),
    [
        ("gwa/r1/broadcast", "gwa/r1/broadcast", True),
        ("gwa/+/broadcast", "gwa/r1/broadcast", True),
        ("gwa/+/broadcast", "gwa/r1/proposal", False),
        ("gwa/#", "gwa/r1/proposal", True),
        ("gwa/#", "gwa", True),
        ("gwa/r1", "gwa/r1/broadcast", False),
        ("gwa/r1/broadcast/x", "gwa/r1/broadcast", False),
        ("+", "gwa/r1", False),
    ],
)
def test_topic_filters_follow_mqtt_rules(pattern: str, topic: str, expected: bool) -> None:
    """'+' matches one level, '#' the rest (including the parent), literals match exactly."""
    assert topic_matches(pattern, topic) == expected


@given(st.lists(LEVEL, min_size=1, max_size=5))
def test_a_topic_matches_itself_and_hash(levels: list[str]) -> None:
    """Every topic matches itself, '#', and itself with any level replaced by '+'."""
    topic = "/".join(levels)
    assert topic_matches(topic, topic)
    assert topic_matches("#", topic)
    for i in range(len(levels)):
        assert topic_matches("/".join([*levels[:i], "+", *levels[i + 1 :]]), topic)


@pytest.mark.parametrize("pattern", ["a/#/b", "a/b#", "a/+b"])
def test_invalid_filters_are_rejected(pattern: str) -> None:
    """Wildcards must be whole levels, and '#' only last."""
    with pytest.raises(ValueError, match="invalid topic filter"):
        validate_pattern(pattern)


async def test_fan_out_reaches_every_matching_subscriber_in_order() -> None:
    """Each matching subscriber gets every envelope, in publish order; others get none."""
    bus = LocalBus()
    subs = [bus.subscribe("gwa/r/+") for _ in range(5)]
    other = bus.subscribe("gwa/other/#")
    sender = Sender("s")
    for i in range(10):
        await bus.publish(sender.envelope("gwa/r/broadcast", "k", {"i": i}))
    await bus.close()
    for sub in subs:
        assert [e.payload["i"] async for e in sub] == list(range(10))
    assert [e async for e in other] == []


async def test_a_full_subscriber_makes_the_publisher_wait_and_nothing_is_dropped() -> None:
    """Backpressure: with a queue of 2, the publisher blocks until the subscriber reads."""
    bus = LocalBus()
    sub = bus.subscribe("t", maxsize=2)
    sender = Sender("s")

    async def publish_all() -> None:
        for i in range(6):
            await bus.publish(sender.envelope("t", "k", {"i": i}))

    publisher = asyncio.create_task(publish_all())
    await asyncio.sleep(0.01)
    assert not publisher.done()
    received = [(await anext(sub)).payload["i"] for _ in range(6)]
    await publisher
    assert received == list(range(6))
    await bus.close()


def _env(sender: str, seq: int, topic: str = "t") -> Envelope:
    return Envelope(topic=topic, sender=sender, seq=seq, kind="k")


def test_sequence_tracker_drops_duplicates_and_records_gaps() -> None:
    """Per sender and topic: a repeated number is a duplicate; a jump forward is a gap."""
    tracker = SequenceTracker()
    accepted = [
        tracker.accept(_env(s, n, t))
        for s, n, t in [
            ("a", 1, "t"),
            ("a", 2, "t"),
            ("a", 2, "t"),
            ("b", 1, "t"),
            ("a", 1, "u"),
            ("a", 5, "t"),
        ]
    ]
    assert accepted == [True, True, False, True, True, True]
    assert tracker.duplicates == 1
    assert tracker.gaps == [("a", "t", 3, 5)]


async def test_duplicate_envelopes_are_not_delivered_twice() -> None:
    """A subscription drops an envelope whose (sender, seq) it has already delivered."""
    bus = LocalBus()
    sub = bus.subscribe("t")
    await bus.publish(_env("a", 1))
    await bus.publish(_env("a", 1))
    await bus.publish(_env("a", 2))
    await bus.close()
    assert [e.seq async for e in sub] == [1, 2]
    assert sub.tracker.duplicates == 1


async def test_close_drains_handlers_before_stopping() -> None:
    """Envelopes queued for a handler are all handled before close() returns."""
    bus = LocalBus()
    seen: list[int] = []

    async def slow(envelope: Envelope) -> None:
        await asyncio.sleep(0.001)
        seen.append(envelope.payload["i"])

    bus.handle("t", slow)
    sender = Sender("s")
    for i in range(20):
        await bus.publish(sender.envelope("t", "k", {"i": i}))
    await bus.close()
    assert seen == list(range(20))


async def test_handler_errors_surface_at_close() -> None:
    """A handler that raises does not kill delivery, and close() raises HandlerError with it."""
    bus = LocalBus()
    handled: list[int] = []

    async def picky(envelope: Envelope) -> None:
        if envelope.payload["i"] == 1:
            raise RuntimeError("boom")
        handled.append(envelope.payload["i"])

    bus.handle("t", picky)
    sender = Sender("s")
    for i in range(3):
        await bus.publish(sender.envelope("t", "k", {"i": i}))
    with pytest.raises(HandlerError, match="RuntimeError: boom") as info:
        await bus.close()
    assert handled == [0, 2]
    assert isinstance(info.value.errors[0], RuntimeError)


async def test_a_closed_bus_refuses_publish_and_subscribe() -> None:
    """After close(), publishing or subscribing raises BusClosed naming the topic."""
    bus = LocalBus()
    await bus.close()
    with pytest.raises(BusClosed, match="gwa/x"):
        await bus.publish(_env("a", 1).__class__(topic="gwa/x", sender="a", seq=1, kind="k"))
    with pytest.raises(BusClosed):
        bus.subscribe("gwa/#")


async def test_unsubscribing_releases_a_blocked_publisher() -> None:
    """Closing a full subscription lets a publisher waiting on it continue."""
    bus = LocalBus()
    sub = bus.subscribe("t", maxsize=1)
    await bus.publish(_env("a", 1))
    blocked = asyncio.create_task(bus.publish(_env("a", 2)))
    await asyncio.sleep(0.01)
    assert not blocked.done()
    await sub.close()
    await asyncio.wait_for(blocked, 1)
    await bus.close()
