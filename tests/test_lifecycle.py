"""One run lifecycle: every exit path writes run.end and closes the trace; a stop or an
abandoned stream never leaks into the next run; an agent's BaseException is its own failure."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from gwa import Workspace, parse_scenario, read_trace
from gwa.agents.models import ChatRequest, ChatResponse
from gwa.agents.testing import FakeModel
from gwa.events import AgentError, RunEnd
from gwa.testing import capture_events
from gwa.types import Memory

SCENARIO = (
    "goal: pick a fruit\nagents:\n  - {name: g, role: generator}\n"
    "selection: {policy: score, respond_min_score: -5}\nworkspace: {max_cycles: MAX}\n"
)


def workspace(trace: Path, *, cycles: int = 3, model: Any = None, **kw: Any) -> Workspace:
    text = SCENARIO.replace("MAX", str(cycles))
    model = model or FakeModel(final_after=2)
    return Workspace(parse_scenario(text), models={"default": model}, trace_path=trace, **kw)


def last_event(trace: Path) -> Any:
    return list(read_trace(trace))[-1]


class Boom(BaseException):
    """Not an Exception: what a careless model or agent might raise."""


class BoomModel:
    name = "boom:1"

    async def complete(self, request: ChatRequest) -> ChatResponse:
        raise Boom("the model blew up")


class FailingRetriever:
    async def retrieve(self, queries: Any, *, k: int) -> tuple[Memory, ...]:
        raise RuntimeError("the vector store is down")


async def test_a_stop_before_a_run_does_not_stop_the_next_run(tmp_path: Path) -> None:
    """stop() with nothing running says so (False) and the next run answers normally."""
    ws = workspace(tmp_path / "t.jsonl")
    assert ws.stop("too early") is False
    result = await ws.run()
    assert result.status == "answered"


async def test_a_workspace_runs_again_after_a_stop(tmp_path: Path) -> None:
    """A run stopped from Python ends as stopped; the same workspace's next run is not."""
    trace = tmp_path / "t.jsonl"
    ws = workspace(trace, cycles=5, model=FakeModel(final_after=10**6))
    async for event in ws.stream():
        if event.event == "selection" and event.cycle == 2:
            assert ws.stop("enough") is True
    stopped = last_event(trace)
    assert stopped.status == "stopped"
    assert stopped.cycles < 5
    result = await ws.run()
    assert (result.status, result.cycles) == ("max_cycles", 5)


async def test_a_workspace_runs_again_after_an_abandoned_stream(tmp_path: Path) -> None:
    """Leaving a stream early stops that run (run.end written); the next run is not stopped."""
    trace = tmp_path / "t.jsonl"
    ws = workspace(trace, cycles=5, model=FakeModel(final_after=10**6))
    stream = ws.stream()
    async for event in stream:
        if event.event == "cycle.start":
            break
    await stream.aclose()
    assert (last_event(trace).status, last_event(trace).cycles) == ("stopped", 1)
    result = await ws.run()
    assert (result.status, result.cycles) == ("max_cycles", 5)


async def test_an_exception_in_the_run_still_writes_run_end(tmp_path: Path) -> None:
    """A retriever that raises ends the run with status error and the error type."""
    trace = tmp_path / "t.jsonl"
    text = SCENARIO.replace("MAX", "3") + "memory: {path: unused}\n"
    ws = Workspace(
        parse_scenario(text),
        models={"default": FakeModel()},
        trace_path=trace,
        retriever=FailingRetriever(),
    )
    with pytest.raises(RuntimeError, match="vector store is down"):
        await ws.run()
    end = last_event(trace)
    assert isinstance(end, RunEnd)
    assert (end.status, end.error_type, end.cycles) == ("error", "RuntimeError", 1)
    assert "vector store is down" in end.reason


async def test_a_listener_that_raises_cannot_lose_run_end(tmp_path: Path) -> None:
    """A trace listener's error fails the run, but the file still ends with run.end."""
    trace = tmp_path / "t.jsonl"
    ws = workspace(trace)

    def listener(event: Any) -> None:
        if event.event == "selection":
            raise ValueError("listener bug")

    ws.add_listener(listener)
    with pytest.raises(ValueError, match="listener bug"):
        await ws.run()
    end = last_event(trace)
    assert (end.event, end.status, end.error_type) == ("run.end", "error", "ValueError")


async def test_a_cancelled_run_writes_run_end_and_closes_the_trace(tmp_path: Path) -> None:
    """A timeout around run() cancels it; the trace ends with run.end (cancelled)."""
    trace = tmp_path / "t.jsonl"
    ws = workspace(trace, cycles=10**6, model=FakeModel(final_after=10**6, latency_s=0.05))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.run(), timeout=1.0)
    end = last_event(trace)
    assert (end.event, end.status, end.error_type) == ("run.end", "cancelled", "CancelledError")
    assert end.cycles >= 1
    assert (await workspace(tmp_path / "b.jsonl").run()).status == "answered"


async def test_a_base_exception_from_a_model_is_the_agents_failure(tmp_path: Path) -> None:
    """A model raising a BaseException subclass is traced as that agent's crash; the run
    goes on and returns (it used to hang in bus.close)."""
    trace = tmp_path / "t.jsonl"
    ws = workspace(trace, cycles=2, model=BoomModel())
    with capture_events(ws) as events:
        result = await asyncio.wait_for(ws.run(), timeout=20)
    assert result.status == "max_cycles"
    errors = events.of(AgentError)
    assert [e.error_type for e in errors] == ["crash:Boom", "crash:Boom"]
    assert events.kinds[-1] == "run.end"
