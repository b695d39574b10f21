"""The runs one `gwa serve` process hosts: each a workspace on its own task, its events kept
for replay from any sequence number and pushed to whoever listens.

Runs are independent: each has its own workspace, task and event list, so a slow run delays
nobody else's events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from gwa.errors import ConfigError, GwaError
from gwa.runs import open_store
from gwa.scenario import ModelSpec, Scenario
from gwa.workspace import Decision, RunResult, Workspace


@dataclass(frozen=True, slots=True)
class Served:
    """A scenario this server offers (its name is the OpenAI model name)."""

    scenario: Scenario
    base: Path | None


class Kept(NamedTuple):
    """An event as a run keeps it: its JSON text, with the two fields readers pick by.

    Kept as text, not as the record's dicts and lists: a server holding thousands of ended
    runs would otherwise hand every garbage collection hundreds of objects a run to walk
    (pauses that stall every live run at once). `ServedRun.events` holds plain tuples of
    these fields, which a collection stops tracking once it has seen them (it does not
    untrack a tuple subclass).
    """

    seq: int
    """The trace's sequence number; 0 for a token (not replayed from a sequence number)."""
    event: str
    json: str

    def data(self) -> dict[str, Any]:
        """The record as JSON data."""
        result: dict[str, Any] = json.loads(self.json)
        return result


@dataclass(slots=True)
class ServedRun:
    """One run: its workspace, task, events and how it ended."""

    id: str
    scenario: str
    goal: str
    ws: Workspace | None
    """The run's workspace while its task runs (dropped when it ends: a long-lived server
    keeps an ended run's events, not its agents, bus and model)."""
    task: asyncio.Task[RunResult] | None = None
    events: list[tuple[int, str, str]] = field(default_factory=list)
    """Each event as (seq, event, JSON text): `Kept`'s fields as a plain tuple."""
    result: RunResult | None = None
    error: str | None = None
    created: float = field(default_factory=time.time)
    watchers: int = 0
    """Event streams following the run (its agents stream tokens only while one does)."""
    _new: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, record: dict[str, Any], line: str) -> None:
        """Keep an event (its record as traced, and its JSON line) and wake the listeners."""
        self._push((int(record.get("seq") or 0), str(record.get("event")), line))

    def add_token(self, agent: str, text: str) -> None:
        """A piece of an agent's output as it is generated (no sequence number: a stream
        resumed from one does not replay them)."""
        record = {"event": "token", "agent": agent, "text": text}
        self._push((0, "token", json.dumps(record, ensure_ascii=False)))

    def _push(self, record: tuple[int, str, str]) -> None:
        self.events.append(record)
        self._new.set()
        self._new = asyncio.Event()

    @property
    def status(self) -> str:
        """running, or how it ended (paused, answered …, error)."""
        if self.task is not None and not self.task.done():
            return "running"
        if self.error is not None:
            return "error"
        return self.result.status if self.result else "starting"

    @property
    def live(self) -> bool:
        """Its task is running."""
        return self.task is not None and not self.task.done()

    def info(self) -> dict[str, Any]:
        """The run as JSON data."""
        r = self.result
        pending = next(
            (Kept._make(e) for e in reversed(self.events) if e[1] in ("run.pause", "run.resume")),
            None,
        )
        return {
            "id": self.id,
            "scenario": self.scenario,
            "goal": self.goal,
            "status": self.status,
            "answer": r.answer if r else None,
            "cycles": r.cycles if r else None,
            "events": sum(1 for e in self.events if e[0]),
            "pending": pending.data() if pending and pending.event == "run.pause" else None,
            "error": self.error,
            "created": self.created,
        }

    async def follow(self, since: int = 0) -> AsyncIterator[Kept]:
        """Events with a sequence number above ``since`` (and, from the start, the tokens
        between them), then each new record, until the run ends (and a resume of it, if one
        starts while listening)."""
        self.watchers += 1
        try:
            async for e in self._follow(since):
                yield e
        finally:
            self.watchers -= 1

    async def _follow(self, since: int) -> AsyncIterator[Kept]:
        backlog = [e for e in self.events if e[0] > since or (not e[0] and not since)]
        for e in backlog:
            yield Kept._make(e)
        sent = len(self.events)
        while self.live or sent < len(self.events):
            if sent == len(self.events):
                new = self._new
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(15):
                        await new.wait()
                continue
            fresh, sent = self.events[sent:], len(self.events)
            for e in fresh:
                yield Kept._make(e)


class RunHub:
    """Starts, lists, feeds, stops and resumes the runs of the served scenarios."""

    def __init__(
        self,
        served: Mapping[str, Served],
        *,
        model: ModelSpec | None = None,
        runs: str | Path | None = None,
        memory: bool = True,
    ) -> None:
        self.served = dict(served)
        self.model = model
        self.runs_store: Any = open_store(runs)
        """One checkpoint store for every run (one connection, not one a run)."""
        self.memory = memory
        self.runs: dict[str, ServedRun] = {}

    def _workspace(self, name: str, run: list[ServedRun] | None = None) -> Workspace:
        if name not in self.served:
            known = ", ".join(self.served) or "none"
            raise KeyError(f"no scenario {name!r} is served here (served: {known})")
        s = self.served[name]
        ws = Workspace(
            s.scenario,
            base_dir=s.base,
            model_override=self.model,
            runs=self.runs_store,
            memory_path=None if self.memory else False,
        )
        if run is not None:  # the run's holder: tokens before it exists are dropped
            holder = run

            def token(agent: str, text: str) -> None:
                if holder:
                    holder[0].add_token(agent, text)

            ws.add_token_listener(token)
            ws.stream_when = lambda: bool(holder) and holder[0].watchers > 0
        return ws

    async def start(
        self, name: str, goal: str | None = None, inputs: tuple[tuple[str, str], ...] = ()
    ) -> ServedRun:
        """Start a run; return once it has an id (its ``run.start`` was written)."""
        holder: list[ServedRun] = []
        ws = self._workspace(name, holder)
        goal = goal or ws.scenario.goal
        if not goal or not goal.strip():
            raise ConfigError(f"scenario {name} has no goal: give one")
        run = ServedRun("", name, goal, ws)
        holder.append(run)
        started: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def listen(record: dict[str, Any], line: str) -> None:
            if not started.done():
                run.id = record["run"]
                started.set_result(run.id)
            run.add(record, line)

        ws.add_listener(listen, raw="line")
        task = asyncio.create_task(ws.run(goal, inputs=inputs))
        self._watch(run, task)
        waiting: set[asyncio.Future[Any]] = {started, task}
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if started not in done:
            task.result()  # raises the run's error (a bad scenario, a model that is missing)
            raise RuntimeError("the run ended without an event")
        self.runs[run.id] = run
        return run

    def _watch(self, run: ServedRun, task: asyncio.Task[RunResult]) -> None:
        run.task = task

        def ended(t: asyncio.Task[RunResult]) -> None:
            if t.cancelled():
                run.error = "cancelled"
            elif (exc := t.exception()) is not None:
                run.error = f"{type(exc).__name__}: {exc}"
            else:
                run.result, run.error = t.result(), None
            run.ws = None
            run._new.set()

        task.add_done_callback(ended)

    def get(self, run_id: str) -> ServedRun:
        """A run by id; `KeyError` naming the known ones."""
        if run_id not in self.runs:
            raise KeyError(f"no run {run_id!r} here")
        return self.runs[run_id]

    async def decide(self, run: ServedRun, decision: Decision) -> None:
        """Answer a paused run: live (waiting on its control topic) or ended as paused (a
        resume in a fresh workspace, whose events join the same run)."""
        if run.live and run.ws is not None:
            await run.ws.decide(decision)
            return
        if run.status != "paused":
            raise ValueError(f"run {run.id} is {run.status}, not paused")
        ws = self._workspace(run.scenario, [run])
        ws.add_listener(run.add, raw="line")
        run.ws = ws
        self._watch(run, asyncio.create_task(ws.run(resume=run.id, decision=decision)))

    async def close(self) -> None:
        """Stop every live run and wait for them."""
        for run in self.runs.values():
            if run.live and run.ws is not None:
                run.ws.stop("the server is shutting down")
        tasks = [r.task for r in self.runs.values() if r.task is not None]
        for task in tasks:
            with contextlib.suppress(GwaError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 30)
        self.runs_store.close()
