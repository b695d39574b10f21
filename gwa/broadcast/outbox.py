"""Coalescing for a wire transport: the envelopes published to one topic while a send to it is
in flight travel together as one message, a batch frame (`gwa.broadcast.envelope.encode_batch`).

The replies of a worker's agents that finished together, or a burst of streamed tokens, then
cost the broker, the network and every receiver's MQTT client one message instead of one
each. Nothing waits for a batch to fill: what is published while the topic has no send in
flight goes at once, alone. (Waiting 1 or 2 ms for more, so that the replies of a worker's
agents that finish a millisecond apart travel together, was measured in `bench/mqtt.py`'s
swarm row: no better than not waiting, and 2 ms was worse.)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from gwa.broadcast.envelope import Envelope, encode, encode_batch
from gwa.errors import BusClosed

MAX_BATCH = 256
"""At most this many envelopes in one batch frame."""

Item = tuple[Envelope, "asyncio.Future[None] | None"]


class Outbox:
    """Sends what is published to each topic with ``send(topic, data)``, in order, one
    message in flight a topic: a publish made while none is in flight is sent at once, alone;
    the ones made while one is in flight wait for it and then go together, as one batch frame
    (at most `MAX_BATCH` envelopes). A publish alone therefore costs what it did before, and
    a burst costs the broker and every receiver a few messages instead of one each.

    `put` returns when the send carrying its envelope returned, and raises what it raised.
    What waits is sent by a task, so a publisher never sends for others longer than its own
    send."""

    def __init__(self, send: Callable[[str, bytes], Awaitable[None]], sender: str) -> None:
        self._send = send
        self._sender = sender
        self._waiting: dict[str, list[Item]] = {}
        """Per topic with a send in flight: the envelopes waiting for it to finish."""
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0
        """Batch frames sent (each carried more than one envelope)."""

    async def put(self, envelope: Envelope) -> None:
        """Send ``envelope`` now, or with the others published while its topic is busy."""
        topic = envelope.topic
        waiting = self._waiting.get(topic)
        if waiting is not None:
            done = asyncio.get_running_loop().create_future()
            waiting.append((envelope, done))
            await done
            return
        self._waiting[topic] = waiting = []
        try:
            await self._deliver([(envelope, None)])
        finally:  # cancelled or failed too: what waits still goes
            self._next(topic, waiting)

    def _next(self, topic: str, waiting: list[Item]) -> None:
        """The send on ``topic`` finished: a task sends what waits, or the topic is free."""
        if not waiting:
            del self._waiting[topic]
            return
        task = asyncio.get_running_loop().create_task(self._drain(topic, waiting))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)  # its failures are on the futures

    async def _drain(self, topic: str, waiting: list[Item]) -> None:
        try:
            while waiting:
                batch = waiting[:MAX_BATCH]
                del waiting[: len(batch)]
                with contextlib.suppress(Exception):  # settled on the publishers' futures
                    await self._deliver(batch)
        except asyncio.CancelledError:  # the bus is closing
            _settle(waiting, BusClosed("the bus closed"))
            raise
        finally:
            if self._waiting.get(topic) is waiting:
                del self._waiting[topic]

    async def _deliver(self, items: list[Item]) -> None:
        envelopes = [e for e, _ in items]
        data = (
            encode(envelopes[0]) if len(envelopes) == 1 else encode_batch(envelopes, self._sender)
        )
        try:
            await self._send(envelopes[0].topic, data)
        except Exception as exc:
            _settle(items, exc)
            raise
        except asyncio.CancelledError:
            _settle(items, BusClosed("the bus closed"))
            raise
        self.batches += len(envelopes) > 1
        _settle(items, None)

    def cancel(self) -> None:
        """Stop: sends under way in tasks are cancelled, and their publishers see `BusClosed`."""
        for task in list(self._tasks):
            task.cancel()


def _settle(items: list[Item], failure: BaseException | None) -> None:
    for _, done in items:
        if done is None or done.done():
            continue  # the leader, or a publisher that was cancelled
        if failure is None:
            done.set_result(None)
        else:
            done.set_exception(failure)
