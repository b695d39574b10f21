"""Long-term memory inside runs: eviction → admission → store → recall in a later run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gwa import Workspace, parse_scenario, read_trace
from gwa.agents.testing import FakeModel

SCENARIO = """
goal: plan a reading club for teenagers
agents:
  - {name: g, role: generator}
selection: {policy: score}
workspace: {max_cycles: 10, working_memory_tokens: 40, memory_k: 3}
memory: {path: STORE}
"""


def events(path: Path, kind: str) -> list[Any]:
    return [r for r in read_trace(path) if r.event == kind]


async def test_thoughts_evicted_in_one_run_are_recalled_in_the_next(tmp_path: Path) -> None:
    text = SCENARIO.replace("STORE", str(tmp_path / "store"))
    first, second = tmp_path / "1.jsonl", tmp_path / "2.jsonl"
    for trace in (first, second):
        ws = Workspace(
            parse_scenario(text), models={"default": FakeModel(final_after=99)}, trace_path=trace
        )
        await ws.run()
    admitted = events(first, "memory.admit")
    assert admitted, "the first run stored nothing"
    stored = {r.field("memory_id") for r in admitted}
    assert all(r.field("p") == 1.0 and r.field("reason").startswith("admit-all") for r in admitted)
    # Consecutive evictions of a run are linked in order.
    assert any(link.type == "follows" for r in admitted for link in r.field("links"))
    recalled = {m.id for r in events(second, "memory.retrieve") for m in r.field("memories")}
    assert recalled & stored, "the second run recalled nothing the first run stored"
    first_recall = events(second, "memory.retrieve")[0]
    assert first_recall.field("queries")[0] == "plan a reading club for teenagers"


async def test_no_memory_override_keeps_the_store_untouched(tmp_path: Path) -> None:
    text = SCENARIO.replace("STORE", str(tmp_path / "store"))
    ws = Workspace(
        parse_scenario(text),
        models={"default": FakeModel(final_after=99)},
        trace_path=tmp_path / "t.jsonl",
        memory_path=False,
    )
    await ws.run()
    assert not (tmp_path / "store").exists()
    assert events(tmp_path / "t.jsonl", "memory.admit") == []
