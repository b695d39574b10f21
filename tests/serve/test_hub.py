"""`RunHub` in-process: an ended run keeps its events for replay (as text no garbage
collection walks), and lets its workspace go (a long-lived server would otherwise hold every
run's agents, bus and model)."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest

from gwa import parse_scenario
from gwa.serve import RunHub, Served
from gwa.serve.hub import Kept

SCENARIO = """
name: park
goal: name a park
models:
  default: {provider: fake, final_after: 2}
agents:
  - {name: g, role: generator}
  - {name: c, role: critic}
selection: {policy: score, respond_min_score: -5}
workspace: {max_cycles: 3}
"""


@pytest.mark.timeout(60)
async def test_an_ended_run_keeps_its_events_and_frees_its_workspace(tmp_path: Path) -> None:
    hub = RunHub(
        {"park": Served(parse_scenario(SCENARIO), None)},
        runs=tmp_path / "runs.sqlite",
        memory=False,
    )
    try:
        run = await hub.start("park")
        assert run.ws is not None
        assert run.live
        workspace = weakref.ref(run.ws)
        assert run.task is not None
        await run.task
        assert run.status == "answered"
        assert run.ws is None
        gc.collect()
        assert workspace() is None, "the ended run's workspace is still referenced"
        kept = [Kept._make(e) for e in run.events]
        kinds = [e.event for e in kept if e.seq]
        assert kinds[0] == "run.start"
        assert kinds[-1] == "run.end"
        replay = [e async for e in run.follow(0)]
        assert [e.seq for e in replay if e.seq] == [e.data()["seq"] for e in kept if e.seq]
        # Kept as text: once a collection has seen them, no collection walks them again.
        assert not any(gc.is_tracked(e) for e in run.events)
        seqs = [e.seq for e in kept if e.seq]
        assert [e.seq async for e in run.follow(seqs[-2])] == seqs[-1:]
    finally:
        await hub.close()
