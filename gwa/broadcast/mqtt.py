"""MqttBus: the same Bus over a real MQTT 5 broker (aiomqtt), for agents in other processes.

Envelopes travel as versioned JSON (`gwa.broadcast.envelope.encode`) on the run's topics with
QoS 1. Inside the process, delivery to subscriptions and handlers reuses `LocalBus`, so
backpressure and draining behave exactly as in one process: the network side only feeds it.

Reliability: QoS 1 is at-least-once, so every subscription drops repeats by (sender, topic,
seq) and records gaps. A publish returns once the broker acknowledged it (PUBACK); when the
connection drops it waits for the reconnect (exponential backoff) and sends again: a repeat is
harmless, a loss is not. On every (re)connect the bus resubscribes. Persistent sessions
(``persistent=True``, a fixed client id, clean_start off, a session expiry) let the broker keep
QoS 1 messages for a worker while it is away. Publishing never floods aiomqtt: at most
``max_inflight`` publishes wait for their PUBACK at once; further publishers wait their turn.

Coalescing (``coalesce=True``, the default; `gwa.broadcast.outbox`): one message is in flight
a topic; what is published to it meanwhile (the replies of a worker's agents that finished
together, a burst of streamed tokens) follows as one MQTT message, a batch frame, which every
receiver unpacks into the same envelopes. Nothing waits for a batch to fill.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import ssl
from collections.abc import Callable
from typing import Any

from gwa.broadcast.bus import (
    Handler,
    HandlerHandle,
    Observer,
    Subscription,
    validate_pattern,
)
from gwa.broadcast.envelope import (
    Envelope,
    SequenceTracker,
    decode,
    encode,
    is_batch,
    unbatch,
)
from gwa.broadcast.local import LocalBus
from gwa.broadcast.mqtt_options import MqttOptions, redact
from gwa.broadcast.outbox import Outbox
from gwa.errors import BusClosed, BusError

__all__ = ["MqttBus", "MqttOptions", "redact"]

log = logging.getLogger("gwa.mqtt")


PENDING_CALLS_WARNING = 10_000
"""Publishes in flight before aiomqtt warns (its default, 10, is a normal phase here)."""


class MqttBus:
    """A Bus over MQTT 5 (see the module docstring for its guarantees)."""

    def __init__(
        self,
        options: MqttOptions | str,
        *,
        client_id: str | None = None,
        persistent: bool = False,
        session_expiry_s: int = 3600,
        keepalive_s: int = 10,
        max_inflight: int = 64,
        reconnect_max_s: float = 2.0,
        connect_timeout_s: float = 30.0,
        will: tuple[str, Envelope] | None = None,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        coalesce: bool | None = None,
    ) -> None:
        self.options = MqttOptions.from_url(options) if isinstance(options, str) else options
        self.client_id = client_id or f"gwa-{secrets.token_hex(4)}"
        self.persistent = persistent
        self.session_expiry_s = session_expiry_s
        self.keepalive_s = keepalive_s
        self.reconnect_max_s = reconnect_max_s
        self.connect_timeout_s = connect_timeout_s
        self.will = will
        self.coalesce = self.options.coalesce if coalesce is None else coalesce
        """Send what is published to a topic while a send to it is in flight as one message
        (default: the options', on unless the URL says ``?coalesce=off``)."""
        self.on_event = on_event or (lambda kind, info: None)
        """Called with ("reconnect" | "gap" | "malformed", details): connection and loss events."""
        self.local = LocalBus()
        self.tracker = SequenceTracker()
        """Every envelope received, by (sender, topic): repeats are dropped, gaps recorded."""
        self.reconnects = 0
        self.malformed = 0
        self._inflight = asyncio.Semaphore(max_inflight)
        self._patterns: dict[str, int] = {}
        self._client: Any = None
        self._connected = asyncio.Event()
        self._closing = False
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self._first: asyncio.Future[None] | None = None
        self._subscribed: set[str] = set()
        self._sub_lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()
        self._outbox = Outbox(self._send_now, self.client_id)

    # -- connection --------------------------------------------------------------------------

    def _session(self) -> dict[str, Any]:
        """MQTT 5 for a persistent session (its expiry is a v5 property); plain 3.1.1 with a
        clean session otherwise: the same QoS 1 delivery without v5's per-packet properties,
        which cost paho about a third of the bus's throughput."""
        import aiomqtt

        if not self.persistent:
            return {"protocol": aiomqtt.ProtocolVersion.V311, "clean_session": True}
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.session_expiry_s
        return {"protocol": aiomqtt.ProtocolVersion.V5, "clean_start": False, "properties": props}

    def _make_client(self) -> Any:
        import aiomqtt

        will = None
        if self.will is not None:
            topic, envelope = self.will
            will = aiomqtt.Will(topic, encode(envelope), qos=1, retain=False)
        o = self.options
        client = aiomqtt.Client(
            o.host,
            o.port,
            username=o.username,
            password=o.password,
            identifier=self.client_id,
            **self._session(),
            keepalive=self.keepalive_s,
            tls_context=o.tls_context(),
            tls_insecure=o.insecure if o.tls else None,
            will=will,
            timeout=10.0,
            # Small request/reply envelopes must not wait for Nagle's algorithm (40 ms stalls
            # with delayed ACKs): every cycle is a chain of them.
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        )
        # Many publishes in flight is how a phase's requests and replies travel, not a fault:
        # aiomqtt would log a warning for every publish past 10 (and build the record each time).
        client.pending_calls_threshold = PENDING_CALLS_WARNING
        return client

    async def start(self) -> None:
        """Connect (retrying until ``connect_timeout_s``) and start receiving; idempotent."""
        if self._closed:
            raise BusClosed("the bus is closed")
        if self._task is not None:
            return
        self._first = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run(), name=f"mqtt:{self.client_id}")
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                await asyncio.shield(self._first)
        except TimeoutError:
            await self.close(drain=False)
            raise BusError(
                f"cannot reach the MQTT broker at {self.options.host}:{self.options.port} within "
                f"{self.connect_timeout_s:g} s; is it running (e.g. `mosquitto -p "
                f"{self.options.port}`)? Last error: {self._last_error}"
            ) from None
        except BusError:
            await self.close(drain=False)
            raise

    _last_error: str = "none"

    async def _run(self) -> None:
        import aiomqtt

        delay = 0.05
        first = True
        while not self._closing:
            client = self._make_client()
            try:
                async with client:
                    self._client = client
                    self._subscribed.clear()
                    await self._resubscribe(client)
                    self._connected.set()
                    delay = 0.05
                    if first:
                        first = False
                        if self._first is not None and not self._first.done():
                            self._first.set_result(None)
                    else:
                        self.reconnects += 1
                        self.on_event("reconnect", {"reconnects": self.reconnects})
                    async for message in client.messages:
                        await self._deliver(bytes(message.payload or b""), str(message.topic))
            except aiomqtt.MqttCodeError as exc:
                self._last_error = str(exc)
                refused = "authoriz" in str(exc) or "user name or password" in str(exc)
                if refused and self._first is not None and not self._first.done():
                    self._first.set_exception(
                        BusError(
                            f"the MQTT broker at {self.options.host}:{self.options.port} "
                            f"refused the login ({exc}); check the user name and password"
                        )
                    )
                    return
            except (aiomqtt.MqttError, OSError, ssl.SSLError) as exc:
                self._last_error = str(exc)
            finally:
                self._connected.clear()
                self._client = None
            if self._closing:
                return
            await asyncio.sleep(delay)
            delay = min(self.reconnect_max_s, delay * 2)

    async def _resubscribe(self, client: Any) -> None:
        async with self._sub_lock:
            for pattern in list(self._patterns):
                await client.subscribe(pattern, qos=1)
                self._subscribed.add(pattern)

    async def _ensure_subscribed(self) -> None:
        """Wait until every pattern asked for is subscribed on the current connection."""
        while not self._closing:
            missing = [p for p in self._patterns if p not in self._subscribed]
            if not missing:
                return
            await self._connected.wait()
            client = self._client
            if client is None:
                continue
            async with self._sub_lock:
                try:
                    for pattern in missing:
                        if pattern not in self._subscribed:
                            await client.subscribe(pattern, qos=1)
                            self._subscribed.add(pattern)
                except Exception as exc:  # the connection dropped: wait for the next one
                    self._last_error = str(exc)
                    await asyncio.sleep(0.05)

    async def _deliver(self, data: bytes, topic: str) -> None:
        if not data:
            return  # a cleared retained message
        try:
            envelope = decode(data)
        except BusError as exc:
            self._malformed(topic, str(exc))
            return
        if not is_batch(envelope):
            await self._accept(envelope)
            return
        envelopes, errors = unbatch(envelope)
        for error in errors:
            self._malformed(topic, error)
        for inner in envelopes:
            await self._accept(inner)

    def _malformed(self, topic: str, error: str) -> None:
        self.malformed += 1
        self.on_event("malformed", {"topic": topic, "error": error[:300]})

    async def _accept(self, envelope: Envelope) -> None:
        gaps = len(self.tracker.gaps)
        if not self.tracker.accept(envelope):
            return  # a QoS 1 repeat (or a resend after a reconnect)
        if len(self.tracker.gaps) > gaps:
            sender, topic, expected, got = self.tracker.gaps[-1]
            self.on_event(
                "gap", {"sender": sender, "topic": topic, "expected": expected, "got": got}
            )
        await self.local.publish(envelope)

    # -- Bus protocol ------------------------------------------------------------------------

    def observe(self, observer: Observer | None) -> None:
        """Report reconnects, sequence gaps and malformed messages to ``observer``."""
        self.on_event = observer or (lambda kind, info: None)

    async def publish(self, envelope: Envelope, *, retain: bool = False) -> None:
        """Publish with QoS 1; returns after the broker's PUBACK, resending across reconnects."""
        if self._closed or self._closing:
            raise BusClosed("the bus is closed")
        await self._ensure_subscribed()
        if retain or not self.coalesce:
            await self._send(envelope.topic, encode(envelope), retain)
            return
        await self._outbox.put(envelope)

    @property
    def batches(self) -> int:
        """Batch frames sent (each carried more than one envelope)."""
        return self._outbox.batches

    async def _send_now(self, topic: str, data: bytes) -> None:
        await self._send(topic, data, False)

    async def _send(self, topic: str, data: bytes, retain: bool) -> None:
        async with self._inflight:
            while True:
                if self._closing:
                    raise BusClosed("the bus closed while publishing")
                await self._connected.wait()
                client = self._client
                if client is None:
                    continue
                try:
                    await client.publish(topic, data, qos=1, retain=retain, timeout=5.0)
                    return
                except Exception as exc:  # dropped connection or timeout: resend after reconnect
                    self._last_error = str(exc)
                    await asyncio.sleep(0.05)

    async def clear_retained(self, topic: str) -> None:
        """Remove the retained message of a topic."""
        await self._connected.wait()
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.publish(topic, b"", qos=1, retain=True, timeout=5.0)

    def _want(self, pattern: str) -> None:
        validate_pattern(pattern)
        if self._closed:
            raise BusClosed("the bus is closed")
        self._patterns[pattern] = self._patterns.get(pattern, 0) + 1
        if self._task is not None and not self._closing:
            # Subscribe at the broker now; publish() and ready() also wait for it.
            task = asyncio.get_running_loop().create_task(self._ensure_subscribed())
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def subscribe(self, pattern: str, *, maxsize: int = 1024) -> Subscription:
        """A subscription fed from the broker (the MQTT SUBSCRIBE completes before the next
        publish from this bus, or use `ready()` to wait for it)."""
        self._want(pattern)
        return self.local.subscribe(pattern, maxsize=maxsize)

    def handle(self, pattern: str, handler: Handler, *, maxsize: int = 1024) -> HandlerHandle:
        """Run ``handler`` for every matching envelope from the broker."""
        self._want(pattern)
        return self.local.handle(pattern, handler, maxsize=maxsize)

    async def ready(self) -> None:
        """Wait until every subscription is active at the broker."""
        await self._ensure_subscribed()

    async def close(self, *, drain: bool = True) -> None:
        """Disconnect from the broker, then close the local fan-out (draining handlers)."""
        if self._closed:
            return
        self._closing = True
        self._connected.set()  # wake publishers so they see the bus closing
        for task in list(self._background):
            task.cancel()
        self._outbox.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._closed = True
        await self.local.close(drain=drain)
