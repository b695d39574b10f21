"""What a checkpoint per cycle costs: 8 agents, a full working memory, the entropy drive and
learned admission with long-term memory on, on the fake model.

Part 1 runs the scenario and reads each ``checkpoint`` event (capture + encode + SQLite write,
as the run pays it). Part 2 writes the run's last checkpoint state again and again into GWA's
SQLite store, GWA's PostgreSQL store (with --postgres URL) and, side by side, LangGraph's
``SqliteSaver`` (its serializer + its SQLite table) holding the same state. Target: under
5 ms per cycle.

Run: python bench/checkpoint.py [--cycles 60] [--writes 300] [--postgres postgresql://...]
"""

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import table, write

from gwa import Workspace, parse_scenario
from gwa.agents.testing import FakeModel
from gwa.events import CheckpointSaved, Event
from gwa.runs import RunInfo, encode, open_store, owner_id

SCENARIO = """
goal: plan a community garden for a small town with little money and many volunteers
agents:
  - {name: attention, role: attention}
  - {name: g1, role: generator}
  - {name: g2, role: generator}
  - {name: g3, role: generator}
  - {name: c1, role: critic}
  - {name: c2, role: critic}
  - {name: arbiter, role: arbiter}
  - {name: responder, role: responder}
selection: {policy: hybrid}
workspace: {max_cycles: CYCLES, working_memory_tokens: 400, keep_recent: 4}
drive: {window: 6}
memory: {path: MEMORY, admission: learned, offer_proposals: true}
"""


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


async def run_scenario(cycles: int, folder: Path) -> tuple[list[CheckpointSaved], dict[str, Any]]:
    text = SCENARIO.replace("CYCLES", str(cycles)).replace("MEMORY", str(folder / "memory"))
    ws = Workspace(
        parse_scenario(text),
        models={"default": FakeModel(final_after=10**9)},
        trace_path=False,
        runs=folder / "runs.sqlite",
    )
    marks: list[CheckpointSaved] = []

    def keep(e: Event) -> None:
        if isinstance(e, CheckpointSaved):
            marks.append(e)

    ws.add_listener(keep)
    result = await ws.run()
    store = open_store(folder / "runs.sqlite")
    state = store.get(result.run).state
    store.close()
    return marks, state


def timed(fn: Callable[[int], None], n: int) -> list[float]:
    out = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t) * 1000)
    return out


def gwa_writes(where: str, state: dict[str, Any], n: int) -> list[float]:
    store = open_store(where)
    now = time.time()
    run = f"bench-{now:.0f}"
    info = RunInfo(run, "bench", "h", "g", "running", "", 0, None, None, None, None, now, now)
    store.begin(info, owner_id())
    try:
        return timed(lambda i: store.put(run, i + 1, encode(state)), n)
    finally:
        store.delete([run])
        store.close()


def langgraph_writes(path: Path, state: dict[str, Any], n: int) -> list[float] | None:
    try:
        from langgraph.checkpoint.base import empty_checkpoint
        from langgraph.checkpoint.sqlite import SqliteSaver
    except ImportError:
        return None
    conn = sqlite3.connect(path, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    saver = SqliteSaver(conn)
    config: Any = {"configurable": {"thread_id": "bench", "checkpoint_ns": ""}}

    def put(i: int) -> None:
        nonlocal config
        ck = empty_checkpoint()
        ck["channel_values"] = {"workspace": state}
        config = saver.put(config, ck, {"step": i}, {})

    try:
        return timed(put, n)
    finally:
        conn.close()


def row(name: str, ms: list[float], size: float) -> list[Any]:
    return [name, statistics.median(ms), pct(ms, 0.95), max(ms), size / 1024]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=60)
    ap.add_argument("--writes", type=int, default=300)
    ap.add_argument("--postgres", help="also write to this PostgreSQL store")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        marks, state = asyncio.run(run_scenario(args.cycles, folder))
        entries = state["memory"]["entries"]
        fill = sum(e[5] for e in entries) / 400
        in_run = [m.ms for m in marks]
        rows = [
            row(
                "in the run: capture+encode+SQLite", in_run, statistics.mean(m.bytes for m in marks)
            )
        ]
        size = len(encode(state))
        sqlite_ms = gwa_writes(str(folder / "w.sqlite"), state, args.writes)
        rows.append(row("GWA SqliteStore (encode+put)", sqlite_ms, size))
        if args.postgres:
            rows.append(
                row(
                    "GWA PostgresStore (encode+put)",
                    gwa_writes(args.postgres, state, args.writes),
                    size,
                )
            )
        lg = langgraph_writes(folder / "lg.sqlite", state, args.writes)
        if lg is not None:
            rows.append(row("LangGraph SqliteSaver.put (same state)", lg, size))
    headers = ["what", "median ms", "p95 ms", "max ms", "kB"]
    learned = state["admission"]["policy"]
    print(
        f"{args.cycles} cycles, 8 agents, working memory {fill:.0%} full at the end, long-term "
        f"memory {state['admission']['issued']} ids, learned admission "
        f"{learned['rewards']} rewards / {learned['penalties']} penalties, "
        f"{len(learned['lexicon']['words'])} lexicon words in the checkpoint"
    )
    print(table(headers, rows))
    path = write(
        "checkpoint",
        {
            "cycles": args.cycles,
            "agents": 8,
            "working_memory_fill": round(fill, 3),
            "rows": [dict(zip(headers, r, strict=True)) for r in rows],
            "target_ms": 5.0,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
