"""LocalBus broadcast throughput beside autogen-core's SingleThreadedAgentRuntime.

Workload, identical for both: k subscribers each handle every message published on one topic
(the handler counts it); the publisher publishes N messages one after another, then the bus
is drained until every delivery was handled. Reported: deliveries per second (N × k / time),
median of 3 rounds, for k = 1, 5, 20. autogen-core is installed only for this benchmark
(``pip install -e '.[bench]'``); without it, its column says 'not installed'.

Run: python bench/bus.py [--messages N]
"""

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass
from typing import Any

from _common import table, write

from gwa.broadcast import Envelope, LocalBus, Sender


async def gwa_round(k: int, n: int) -> float:
    bus = LocalBus()
    count = 0

    async def handler(envelope: Envelope) -> None:
        nonlocal count
        count += 1

    for _ in range(k):
        bus.handle("bench/+", handler)
    sender = Sender("bench")
    start = time.perf_counter()
    for i in range(n):
        await bus.publish(sender.envelope("bench/topic", "msg", {"i": i}))
    await bus.close()
    elapsed = time.perf_counter() - start
    assert count == n * k, (count, n * k)
    return n * k / elapsed


@dataclass
class Msg:
    i: int


try:
    from autogen_core import (
        MessageContext,
        RoutedAgent,
        SingleThreadedAgentRuntime,
        TopicId,
        TypeSubscription,
        message_handler,
    )
except ImportError:
    HAVE_AUTOGEN = False
else:
    HAVE_AUTOGEN = True
    COUNTER = [0]

    class Sink(RoutedAgent):
        """Counts every message it receives (the same work as the LocalBus handler)."""

        def __init__(self) -> None:
            super().__init__("sink")

        @message_handler
        async def on_msg(self, message: Msg, ctx: MessageContext) -> None:
            COUNTER[0] += 1


async def autogen_round(k: int, n: int) -> float:
    COUNTER[0] = 0
    runtime = SingleThreadedAgentRuntime()
    for j in range(k):
        await Sink.register(runtime, f"sink{j}", Sink)
        await runtime.add_subscription(TypeSubscription("bench", f"sink{j}"))
    runtime.start()
    start = time.perf_counter()
    for i in range(n):
        await runtime.publish_message(Msg(i), TopicId("bench", "default"))
    await runtime.stop_when_idle()
    elapsed = time.perf_counter() - start
    assert COUNTER[0] == n * k, (COUNTER[0], n * k)
    return n * k / elapsed


def median_of(fn: Any, k: int, n: int, rounds: int = 3) -> float:
    return statistics.median(asyncio.run(fn(k, n)) for _ in range(rounds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000, help="messages per round (k=1)")
    args = parser.parse_args()
    have_autogen = HAVE_AUTOGEN
    rows, results = [], []
    for k in (1, 5, 20):
        n = max(1000, args.messages // k)
        ours = median_of(gwa_round, k, n)
        theirs = median_of(autogen_round, k, n) if have_autogen else None
        ratio = ours / theirs if theirs else None
        rows.append(
            [k, n, ours, theirs if theirs else "not installed", f"{ratio:.1f}x" if ratio else "-"]
        )
        results.append(
            {
                "subscribers": k,
                "messages": n,
                "gwa_deliveries_per_s": ours,
                "autogen_deliveries_per_s": theirs,
                "ratio": ratio,
            }
        )
        print(f"  measured k={k}", flush=True)
    print(table(["subscribers", "messages", "LocalBus/s", "autogen-core/s", "ratio"], rows))
    path = write(
        "bus", {"benchmark": "bus", "target": "ratio >= 2 at 20 subscribers", "results": results}
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
