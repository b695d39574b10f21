"""MqttBus against a real mosquitto that each test configures, starts and stops."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from broker import Broker

from gwa.broadcast import Envelope, Sender
from gwa.broadcast.mqtt import MqttBus, MqttOptions, redact
from gwa.errors import BusError, ConfigError


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "broker").start()
    yield b
    b.stop()


async def collect(sub: object, n: int, limit_s: float = 20.0) -> list[Envelope]:
    out: list[Envelope] = []
    async with asyncio.timeout(limit_s):
        async for env in sub:  # type: ignore[attr-defined]
            out.append(env)
            if len(out) == n:
                break
    return out


async def test_envelopes_cross_the_broker_in_order_and_any_client_can_watch(
    broker: Broker,
) -> None:
    a, b = MqttBus(broker.url), MqttBus(broker.url)
    await a.start()
    await b.start()
    sub = a.subscribe("gwa/r1/#")
    await a.ready()
    watcher = await asyncio.create_subprocess_exec(
        "mosquitto_sub",
        "-p",
        str(broker.port),
        "-h",
        "127.0.0.1",
        "-t",
        "gwa/r1/broadcast",
        "-C",
        "3",
        "-q",
        "1",
        stdout=asyncio.subprocess.PIPE,
    )
    await asyncio.sleep(0.3)  # let mosquitto_sub subscribe
    sender = Sender("workspace")
    for i in range(50):
        await b.publish(sender.envelope("gwa/r1/broadcast", "request", {"i": i}, cycle=i))
    got = await collect(sub, 50)
    assert [e.payload["i"] for e in got] == list(range(50))
    assert [e.seq for e in got] == list(range(1, 51))
    out, _ = await asyncio.wait_for(watcher.communicate(), 20)
    lines = [json.loads(line) for line in out.decode().splitlines()]
    assert [m["seq"] for m in lines] == [1, 2, 3]
    assert lines[0]["v"] == 1
    assert lines[0]["topic"] == "gwa/r1/broadcast"
    await a.close()
    await b.close()


async def test_inputs_published_by_mosquitto_pub_arrive_and_garbage_is_counted(
    broker: Broker,
) -> None:
    events: list[tuple[str, dict[str, object]]] = []
    bus = MqttBus(broker.url, on_event=lambda k, d: events.append((k, d)))
    await bus.start()
    sub = bus.subscribe("gwa/r2/input")
    await bus.ready()
    env = {
        "topic": "gwa/r2/input",
        "sender": "cli",
        "seq": 1,
        "kind": "input",
        "payload": {"text": "hello"},
        "v": 1,
    }
    for payload in ("not json", json.dumps(env)):
        pub = await asyncio.create_subprocess_exec(
            "mosquitto_pub",
            "-p",
            str(broker.port),
            "-h",
            "127.0.0.1",
            "-q",
            "1",
            "-t",
            "gwa/r2/input",
            "-m",
            payload,
        )
        assert await pub.wait() == 0
    (got,) = await collect(sub, 1)
    assert got.payload == {"text": "hello"}
    assert bus.malformed == 1
    assert events[0][0] == "malformed"
    await bus.close()


async def test_repeats_are_dropped_and_gaps_reported(broker: Broker) -> None:
    events: list[tuple[str, dict[str, object]]] = []
    rx = MqttBus(broker.url, on_event=lambda k, d: events.append((k, d)))
    tx = MqttBus(broker.url)
    await rx.start()
    await tx.start()
    sub = rx.subscribe("gwa/r3/broadcast")
    await rx.ready()
    for seq in (1, 1, 2, 5):
        await tx.publish(Envelope("gwa/r3/broadcast", "w", seq, "k", {"seq": seq}))
    got = await collect(sub, 3)
    assert [e.seq for e in got] == [1, 2, 5]
    assert ("gap", {"sender": "w", "topic": "gwa/r3/broadcast", "expected": 3, "got": 5}) in events
    assert rx.tracker.duplicates == 1
    await rx.close()
    await tx.close()


async def test_nothing_is_lost_when_the_broker_is_killed_and_restarted(broker: Broker) -> None:
    rx = MqttBus(broker.url, client_id="gwa-test-rx", persistent=True)
    tx = MqttBus(broker.url)
    await rx.start()
    await tx.start()
    sub = rx.subscribe("gwa/r4/broadcast")
    await rx.ready()
    sender = Sender("workspace")
    n = 120

    async def produce() -> None:
        for i in range(n):
            await tx.publish(sender.envelope("gwa/r4/broadcast", "request", {"i": i}))
            await asyncio.sleep(0.005)

    producer = asyncio.create_task(produce())
    got: list[Envelope] = []
    async with asyncio.timeout(60):
        async for env in sub:
            got.append(env)
            if len(got) == 30:
                broker.stop(signal.SIGKILL)
                await asyncio.sleep(0.5)
                broker.start()
            if len(got) == n:
                break
    await producer
    assert [e.seq for e in got] == list(range(1, n + 1))
    assert rx.tracker.gaps == []
    assert rx.reconnects >= 1
    assert tx.reconnects >= 1
    await rx.close()
    await tx.close()


async def test_password_login_and_clear_refusal(tmp_path: Path) -> None:
    b = Broker(tmp_path / "broker", users={"agent": "s3cret-pw"}).start()
    try:
        url = f"mqtt://agent:s3cret-pw@127.0.0.1:{b.port}"
        ok = MqttBus(url)
        await ok.start()
        sub = ok.subscribe("gwa/r5/#")
        await ok.publish(Sender("x").envelope("gwa/r5/input", "input", {"text": "hi"}))
        assert (await collect(sub, 1))[0].payload == {"text": "hi"}
        await ok.close()
        bad = MqttBus(f"mqtt://agent:wrong-pw@127.0.0.1:{b.port}", connect_timeout_s=10)
        with pytest.raises(BusError, match="refused the login") as err:
            await bad.start()
        assert "wrong-pw" not in str(err.value)
        assert redact(url) == f"mqtt://agent:***@127.0.0.1:{b.port}"
    finally:
        b.stop()


async def test_tls_with_a_generated_certificate(tmp_path: Path) -> None:
    b = Broker(tmp_path / "broker", tls=True).start()
    try:
        assert b.ca is not None
        opts = MqttOptions.from_url(b.url, ca_file=b.ca)
        bus = MqttBus(opts)
        await bus.start()
        sub = bus.subscribe("gwa/r6/#")
        await bus.publish(Sender("x").envelope("gwa/r6/output", "output", {"text": "secure"}))
        assert (await collect(sub, 1))[0].payload == {"text": "secure"}
        await bus.close()
        untrusted = MqttBus(b.url, connect_timeout_s=3)
        with pytest.raises(BusError, match="cannot reach the MQTT broker") as err:
            await untrusted.start()
        assert "CERTIFICATE_VERIFY_FAILED" in str(err.value) or "certificate" in str(err.value)
    finally:
        b.stop()


def test_bad_bus_urls_are_refused_without_echoing_passwords() -> None:
    with pytest.raises(ConfigError, match="mqtt://HOST:PORT") as err:
        MqttOptions.from_url("http://u:topsecret@host:1883")
    assert "topsecret" not in str(err.value)
    assert MqttOptions.from_url("mqtts://h").port == 8883


def test_a_bus_url_turns_coalescing_off() -> None:
    """``?coalesce=off`` (for receivers older than batch frames) reaches the bus; an explicit
    argument wins; an unknown option or value is refused, naming it, without the password."""
    assert MqttOptions.from_url("mqtt://h:1883").coalesce is True
    off = MqttOptions.from_url("mqtt://h:1883?coalesce=off")
    assert off.coalesce is False
    assert MqttBus(off).coalesce is False
    assert MqttBus(off, coalesce=True).coalesce is True
    assert MqttBus("mqtt://h:1883?coalesce=on").coalesce is True
    with pytest.raises(ConfigError, match="unknown option 'qos'") as err:
        MqttOptions.from_url("mqtt://u:topsecret@h:1883?qos=2")
    assert "topsecret" not in str(err.value)
    with pytest.raises(ConfigError, match="coalesce must be on or off, not 'maybe'"):
        MqttOptions.from_url("mqtt://h:1883?coalesce=maybe")


ACL = """user gwa-host
topic readwrite gwa/#

pattern read gwa/+/broadcast
pattern read gwa/+/control
pattern write gwa/+/proposal
pattern write gwa/+/control
"""


async def test_the_documented_acl_confines_an_agent_to_its_topics(tmp_path: Path) -> None:
    """The ACL of docs/distributed.md: an agent user can reply but cannot forge broadcasts."""
    assert ACL in (Path(__file__).parents[2] / "docs" / "distributed.md").read_text().replace(
        "# the workspace host\n", ""
    ).replace("# every agent user (here: critic), by pattern\n", "")
    b = Broker(tmp_path / "broker", users={"gwa-host": "h-pw", "critic": "c-pw"}, acl=ACL).start()
    try:
        host = MqttBus(f"mqtt://gwa-host:h-pw@127.0.0.1:{b.port}")
        agent = MqttBus(f"mqtt://critic:c-pw@127.0.0.1:{b.port}")
        await host.start()
        await agent.start()
        seen = host.subscribe("gwa/r7/#")
        await host.ready()
        me = Sender("agent:critic")
        await agent.publish(me.envelope("gwa/r7/broadcast", "request", {"forged": True}))
        await agent.publish(me.envelope("gwa/r7/proposal", "reply", {"ok": True}))
        (got,) = await collect(seen, 1)
        assert got.topic == "gwa/r7/proposal"
        with pytest.raises(TimeoutError):
            await collect(seen, 1, limit_s=1.0)  # the forged broadcast never arrives
        await host.close()
        await agent.close()
    finally:
        b.stop()


async def _raw_messages(
    broker: Broker, topic: str, n: int, subscribed: asyncio.Event, limit_s: float = 20.0
) -> list[bytes]:
    """The first ``n`` MQTT messages on ``topic``, as a plain aiomqtt client receives them."""
    import aiomqtt

    out: list[bytes] = []
    async with aiomqtt.Client("127.0.0.1", broker.port) as client:
        await client.subscribe(topic, qos=1)
        subscribed.set()
        async with asyncio.timeout(limit_s):
            async for message in client.messages:
                out.append(bytes(message.payload))  # type: ignore[arg-type]
                if len(out) == n:
                    break
    return out


@pytest.mark.parametrize("coalesce", [True, False])
async def test_envelopes_published_together_travel_as_one_message(
    broker: Broker, coalesce: bool
) -> None:
    """Eight agents reply at once. With coalescing (the default) the first reply goes at
    once, alone, and the seven published while it was in flight follow as one MQTT message (a
    batch frame, as a plain client sees it); the receiving bus delivers all eight envelopes in
    order, each sender's numbering intact. Without it, eight messages. A publish made alone
    afterwards travels alone, as a plain envelope."""
    subscribed = asyncio.Event()
    tx, rx = MqttBus(broker.url, coalesce=coalesce), MqttBus(broker.url)
    await tx.start()
    await rx.start()
    sub = rx.subscribe("gwa/r9/proposal")
    await rx.ready()
    n_wire = 3 if coalesce else 9
    wire = asyncio.create_task(_raw_messages(broker, "gwa/r9/proposal", n_wire, subscribed))
    await subscribed.wait()
    senders = [Sender(f"agent:a{i}@w") for i in range(8)]
    replies = [s.envelope("gwa/r9/proposal", "reply", {"i": i}) for i, s in enumerate(senders)]
    await asyncio.gather(*(tx.publish(e) for e in replies))
    alone = senders[0].envelope("gwa/r9/proposal", "reply", {"i": 8})
    await tx.publish(alone)
    got = await collect(sub, 9)
    assert got == [*replies, alone]
    assert rx.tracker.gaps == []
    messages = [json.loads(m) for m in await wire]
    if coalesce:
        assert [m["kind"] for m in messages] == ["reply", "batch", "reply"]
        assert [e["sender"] for e in messages[1]["payload"]["envelopes"]] == [
            s.name for s in senders[1:]
        ]
        assert tx.batches == 1
    else:
        assert [m["kind"] for m in messages] == ["reply"] * 9
        assert tx.batches == 0
    await tx.close()
    await rx.close()


async def test_publishers_waiting_in_the_outbox_see_the_bus_close(broker: Broker) -> None:
    """Publishes still waiting for their batch when the bus closes raise BusClosed instead
    of hanging; a publish after close is refused the same way."""
    from gwa.errors import BusClosed

    bus = MqttBus(broker.url)
    await bus.start()
    sender = Sender("w")
    pending = [
        asyncio.create_task(bus.publish(sender.envelope("gwa/r10/x", "k"))) for _ in range(5)
    ]
    await asyncio.sleep(0)  # the publishes are queued in this turn, not yet sent
    await bus.close()
    results = await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), 10)
    assert results
    assert all(r is None or isinstance(r, BusClosed) for r in results)
    with pytest.raises(BusClosed):
        await bus.publish(sender.envelope("gwa/r10/x", "k"))


async def test_a_cancelled_first_publisher_does_not_strand_the_others(broker: Broker) -> None:
    """Publishes made while another to the same topic is in flight wait for it. When that
    first publisher is cancelled mid-send, the others are still sent: they arrive, in order,
    and their publishes return."""
    tx, rx = MqttBus(broker.url), MqttBus(broker.url)
    await tx.start()
    await rx.start()
    sub = rx.subscribe("gwa/r11/proposal")
    await rx.ready()
    senders = [Sender(f"agent:a{i}@w") for i in range(3)]
    envs = [s.envelope("gwa/r11/proposal", "reply", {"i": i}) for i, s in enumerate(senders)]
    tasks = [asyncio.create_task(tx.publish(e)) for e in envs]
    await asyncio.sleep(0)  # the first is sending; the other two wait for it
    tasks[0].cancel()
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 20)
    assert isinstance(results[0], asyncio.CancelledError)
    assert results[1:] == [None, None]
    got = await collect(sub, 2)
    if got[0] == envs[0]:  # the cancelled send had reached the broker
        got = got[1:] + await collect(sub, 1)
    assert got == envs[1:]
    await tx.close()
    await rx.close()
