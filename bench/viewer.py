"""How fast a 10,000-cycle (or, with --cycles, a 100,000-cycle) trace opens in the viewer, in
Debian's Chromium.

A synthetic trace in the real format (per cycle: cycle.start, memory.retrieve, broadcast,
three model calls, two proposals, two critiques, selection, drive.update, and a
consolidation every fifth cycle) is written; then the time to index it (what `gwa view` does
before serving) and the time from navigation until the page says it is ready (summary,
timeline page, chart, first cycle and memory panel rendered) are measured, median of 3; the
first is everything `gwa view` does before serving (index the trace, encode the summary; a
trace over 8 MB is indexed that far first and the rest in the background, the page polling
for more); "all cycles" is until the background index is done too.

Run: python bench/viewer.py [--cycles 10000]
"""

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from _common import table, write
from playwright.sync_api import sync_playwright

from gwa.viewer import Viewer, serve_in_background


def synthetic(path: Path, cycles: int) -> int:
    seq = 0
    with path.open("w") as f:

        def emit(event: str, cycle: int | None, agent: str | None = None, **fields: object) -> None:
            nonlocal seq
            seq += 1
            f.write(
                json.dumps(
                    {
                        "v": 1,
                        "ts": 1.0 + seq,
                        "run": "bench",
                        "seq": seq,
                        "cycle": cycle,
                        "event": event,
                        "agent": agent,
                        **fields,
                    }
                )
                + "\n"
            )

        emit(
            "run.start",
            None,
            scenario="bench",
            goal="a long run",
            agents=[
                {"name": "gen-1", "role": "generator"},
                {"name": "gen-2", "role": "generator"},
                {"name": "critic", "role": "critic"},
            ],
        )
        for c in range(1, cycles + 1):
            emit("cycle.start", c, temperature=0.7 + (c % 7) / 20, inputs=[], notes=[])
            emit(
                "memory.retrieve",
                c,
                queries=[f"query {c}"],
                memories=[{"id": f"m{c % 50}", "score": 0.8, "text": "a memory"}],
            )
            emit(
                "broadcast",
                c,
                working_memory=[
                    {
                        "id": f"c{c - 1}.1",
                        "kind": "thought",
                        "author": "gen-1",
                        "text": f"thought {c - 1} " * 8,
                        "tokens": 24,
                    }
                ],
                tokens=24,
            )
            for agent in ("gen-1", "gen-2", "critic"):
                emit(
                    "model.call",
                    c,
                    agent,
                    provider="local",
                    model="local:x",
                    temperature=0.7,
                    tokens_in=300,
                    tokens_out=40,
                    latency_ms=900.0,
                    attempt=1,
                    ok=True,
                    error=None,
                )
            for n, agent in enumerate(("gen-1", "gen-2"), 1):
                emit(
                    "proposal",
                    c,
                    agent,
                    candidate=f"c{c}.{n}",
                    text=f"idea {c}.{n} about the garden " * 4,
                    salience=0.6,
                    final=False,
                )
                emit("critique", c, "critic", candidate=f"c{c}.{n}", score=n, reason="fine")
            emit(
                "selection",
                c,
                "gen-2",
                policy="score",
                winner=f"c{c}.2",
                text=f"idea {c}.2 about the garden",
                tag="THINK_MORE",
                scores={f"c{c}.1": 0.3, f"c{c}.2": 0.4},
                reason="highest score",
            )
            emit("drive.update", c, source="entropy", h=0.5 + (c % 11) / 25, temperature=0.8)
            if c % 5 == 0:
                emit(
                    "memory.consolidate",
                    c,
                    "workspace",
                    evicted=[f"c{c - 3}.2"],
                    summary=f"s{c}",
                    text="summary",
                )
        emit("run.end", cycles, status="max_cycles", reason="bench", cycles=cycles, duration_s=1.0)
    return seq


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.jsonl"
        events = synthetic(path, args.cycles)
        size_mb = path.stat().st_size / 1e6
        index_times, page_times, all_times = [], [], []
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=[
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                ],
            )
            for _ in range(3):
                start = time.perf_counter()
                viewer = Viewer(path)  # what `gwa view` does before it serves: index + encode
                index_times.append(time.perf_counter() - start)
                server, url = serve_in_background(viewer)
                page = browser.new_page()
                start = time.perf_counter()
                page.goto(url)
                page.wait_for_selector("body[data-ready='1']", timeout=60_000)
                page_times.append(time.perf_counter() - start)
                index = viewer.get("a")
                while index.loading:  # a big trace goes on indexing behind the first page
                    time.sleep(0.05)
                all_times.append(time.perf_counter() - start + index_times[-1])
                page.close()
                server.shutdown()
                server.server_close()
                del viewer, server
            browser.close()
    index_s, page_s = statistics.median(index_times), statistics.median(page_times)
    all_s = statistics.median(all_times)
    rows = [
        [
            args.cycles,
            events,
            f"{size_mb:.1f}",
            f"{index_s:.2f}",
            f"{page_s:.2f}",
            f"{index_s + page_s:.2f}",
            f"{all_s:.2f}",
        ]
    ]
    headers = ["cycles", "events", "MB", "index s", "page ready s", "ready total s", "all cycles s"]
    print(table(headers, rows))
    target = 1.0 if args.cycles <= 10_000 else 3.0
    met = "met" if index_s + page_s < target else "not met"
    print(f"target: ready in under {target:g} s: {met}")
    path_out = write(
        "viewer",
        {
            "benchmark": "viewer",
            "cycles": args.cycles,
            "events": events,
            "megabytes": size_mb,
            "index_s": index_s,
            "page_ready_s": page_s,
            "total_s": index_s + page_s,
            "all_cycles_s": all_s,
        },
    )
    print(f"wrote {path_out}")


if __name__ == "__main__":
    main()
