"""LocalBus: the in-process bus, the embedded default."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator

from gwa.broadcast.bus import Handler, Observer, topic_matches, validate_pattern
from gwa.broadcast.envelope import Envelope, SequenceTracker
from gwa.errors import BusClosed, HandlerError


def _wake(fut: asyncio.Future[None] | None) -> None:
    if fut is not None and not fut.done():
        fut.set_result(None)


class LocalSubscription:
    """A bounded queue of envelopes for one subscriber; full means the publisher waits."""

    def __init__(self, bus: LocalBus, pattern: str, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, got {maxsize}")
        self.pattern = pattern
        self.tracker = SequenceTracker()
        self._bus = bus
        self._buf: deque[Envelope] = deque()
        self._maxsize = maxsize
        self._getter: asyncio.Future[None] | None = None
        self._putters: deque[asyncio.Future[None]] = deque()
        self._closed = False
        self._unfinished = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def offer(self, envelope: Envelope) -> bool:
        """Enqueue without waiting; False when full."""
        if self._closed:
            return True
        if len(self._buf) >= self._maxsize:
            return False
        self._buf.append(envelope)
        self._unfinished += 1
        self._idle.clear()
        _wake(self._getter)
        return True

    async def put(self, envelope: Envelope) -> None:
        """Enqueue, waiting while the queue is full (backpressure, never a drop)."""
        while not self.offer(envelope):
            fut = asyncio.get_running_loop().create_future()
            self._putters.append(fut)
            await fut

    def __aiter__(self) -> AsyncIterator[Envelope]:
        return self

    async def __anext__(self) -> Envelope:
        while True:
            while not self._buf:
                if self._closed:
                    raise StopAsyncIteration
                self._getter = asyncio.get_running_loop().create_future()
                await self._getter
            envelope = self._buf.popleft()
            if self._putters:
                _wake(self._putters.popleft())
            if self.tracker.accept(envelope):
                return envelope
            self.task_done()

    def task_done(self) -> None:
        """Mark one taken envelope as fully handled (drives draining)."""
        self._unfinished -= 1
        if self._unfinished <= 0:
            self._unfinished = 0
            self._idle.set()

    async def drained(self) -> None:
        """Wait until every queued envelope has been handled."""
        await self._idle.wait()

    async def close(self) -> None:
        """Unsubscribe: no new envelopes; the iterator ends after the ones already queued."""
        self._closed = True
        self._bus._remove(self)
        _wake(self._getter)
        while self._putters:
            _wake(self._putters.popleft())


class LocalHandler:
    """A running handler subscription; `cancel` stops it at once, abandoning work in flight."""

    def __init__(self, sub: LocalSubscription, task: asyncio.Task[None]) -> None:
        self.subscription = sub
        self.task = task

    async def cancel(self) -> None:
        """Unsubscribe and cancel the handler's task (and any call it is making)."""
        await self.subscription.close()
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


class LocalBus:
    """An in-process bus with MQTT-style topic filters and concurrent fan-out.

    Each subscription has its own bounded queue; a publisher waits when a subscriber's queue is
    full, so nothing is dropped silently. Handlers run as tasks; an exception in one is kept and
    raised from `close` as `HandlerError` (and visible at once in `errors`).
    """

    def __init__(self) -> None:
        self._subs: list[LocalSubscription] = []
        self._routes: dict[str, tuple[LocalSubscription, ...]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._handler_subs: list[LocalSubscription] = []
        self.errors: list[BaseException] = []
        self._closed = False

    async def start(self) -> None:
        """Nothing to connect for an in-process bus."""

    def observe(self, observer: Observer | None) -> None:
        """An in-process bus has no transport events to report."""

    @property
    def closed(self) -> bool:
        """Whether `close` has begun."""
        return self._closed

    def _route(self, topic: str) -> tuple[LocalSubscription, ...]:
        subs = self._routes.get(topic)
        if subs is None:
            subs = tuple(s for s in self._subs if topic_matches(s.pattern, topic))
            self._routes[topic] = subs
        return subs

    def _remove(self, sub: LocalSubscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
            self._routes.clear()

    async def publish(self, envelope: Envelope, *, retain: bool = False) -> None:
        """Deliver to every matching subscription, waiting on full queues (``retain`` has no
        effect in process: there is no later subscriber on another connection to keep it for)."""
        if self._closed:
            raise BusClosed(f"cannot publish on {envelope.topic!r}: the bus is closed")
        for sub in self._route(envelope.topic):
            if not sub.offer(envelope):
                await sub.put(envelope)

    def subscribe(self, pattern: str, *, maxsize: int = 1024) -> LocalSubscription:
        """A new subscription; iterate it with ``async for``."""
        if self._closed:
            raise BusClosed(f"cannot subscribe to {pattern!r}: the bus is closed")
        validate_pattern(pattern)
        sub = LocalSubscription(self, pattern, maxsize)
        self._subs.append(sub)
        self._routes.clear()
        return sub

    def handle(self, pattern: str, handler: Handler, *, maxsize: int = 1024) -> LocalHandler:
        """Run ``handler`` on each matching envelope, in order, in a task of its own."""
        sub = self.subscribe(pattern, maxsize=maxsize)
        self._handler_subs.append(sub)
        task = asyncio.create_task(self._run_handler(sub, handler))
        self._tasks.append(task)
        return LocalHandler(sub, task)

    async def _run_handler(self, sub: LocalSubscription, handler: Handler) -> None:
        async for envelope in sub:
            try:
                await handler(envelope)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # surfaced through `errors` and `close`, never swallowed
                # A BaseException subclass of a user's code must not end the handler silently:
                # every later envelope would go unhandled and the run would wait forever.
                self.errors.append(exc)
            finally:
                sub.task_done()

    async def close(self, *, drain: bool = True) -> None:
        """Let handlers finish what is queued (they may still publish meanwhile), then refuse
        new publishes and end all subscriptions."""
        if drain:
            for sub in self._handler_subs:
                await sub.drained()
        self._closed = True
        for sub in list(self._subs):
            await sub.close()
        if not drain:
            for task in self._tasks:
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.errors:
            raise HandlerError(self.errors)
