"""Each phase of the cycle on hand-built state, without a workspace."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import numpy as np
import pytest

from gwa import parse_scenario
from gwa.agents.agent import Agent, LLMAgent
from gwa.agents.roles import BUILTIN_ROLES
from gwa.agents.testing import FakeModel
from gwa.broadcast import LocalBus, Sender, Topics
from gwa.cycle import CycleContext, CycleState, Inbox, stop_condition
from gwa.cycle.compete import compete
from gwa.cycle.deliberate import deliberate
from gwa.cycle.perceive import perceive
from gwa.cycle.regulate import regulate
from gwa.cycle.update import update
from gwa.drive import ConstantTemperature, Deadlock, Regulation
from gwa.events import Event, SelectionInhibit
from gwa.hub import AgentRunner, Hub
from gwa.memory import AdmissionCandidate, NullRetriever, NullSink, WorkingMemory, make_entry
from gwa.trace import TraceWriter
from gwa.types import Broadcast, Candidate, Critique, Selection

SCENARIO = """
goal: pick a fruit
agents:
  - {name: g1, role: generator}
  - {name: g2, role: generator}
  - {name: critic, role: critic}
selection: {policy: score, threshold: 0.0, margin: 0.0}
drive: {inhibition: always}
workspace: {max_cycles: 5, working_memory_tokens: 24, keep_recent: 1, token_budget: 1000}
"""


class Recording(NullSink):
    """An admission sink that keeps what it is offered."""

    def __init__(self) -> None:
        self.offered: list[AdmissionCandidate] = []

    async def offer(self, candidates: Sequence[AdmissionCandidate]) -> list[Any]:
        self.offered.extend(candidates)
        return []


class HashEmbedder:
    """Each distinct text gets its own random unit vector: only equal texts are similar."""

    def embed(self, texts: Sequence[str]) -> Any:
        rows = []
        for t in texts:
            seed = int(hashlib.sha256(t.encode()).hexdigest()[:8], 16)
            v = np.random.default_rng(seed).normal(size=16)
            rows.append(v / np.linalg.norm(v))
        return np.array(rows, dtype=np.float32)


class Source(ConstantTemperature):
    """A constant temperature with an embedder, that can report a deadlock."""

    def __init__(self, deadlock: Deadlock | None = None) -> None:
        super().__init__(0.7)
        self.deadlock = deadlock

    @property
    def embedder(self) -> Any:
        return HashEmbedder()

    def update(self, cycle: int, winner: str | None) -> Regulation:
        return Regulation(0.9, {"source": "test"}, self.deadlock)


@pytest.fixture
async def parts() -> AsyncIterator[dict[str, Any]]:
    bus = LocalBus()
    hub = Hub(bus, Topics("run-1"))
    await hub.start()
    yield {"bus": bus, "hub": hub}
    await hub.stop()
    await bus.close(drain=False)


def context(
    parts: dict[str, Any], *, agents: Sequence[Agent] = (), **kw: Any
) -> tuple[CycleContext, list[Event]]:
    scenario = parse_scenario(SCENARIO)
    trace = TraceWriter("run-1", None)
    events: list[Event] = []
    trace.listeners.append(events.append)
    ctx = CycleContext(
        scenario=scenario,
        goal="pick a fruit",
        agents=agents,
        hub=parts["hub"],
        trace=trace,
        inbox=Inbox(parts["bus"], Topics("run-1"), Sender("control")),
        memory=WorkingMemory(24, keep_recent=1),
        temperature=kw.pop("temperature", Source()),
        retriever=NullRetriever(),
        admission=kw.pop("admission", NullSink()),
    )
    return ctx, events


def kinds(events: list[Event]) -> list[str]:
    return [e.event for e in events]


async def test_perceive_takes_inputs_and_withholds_the_loop_content(parts: Any) -> None:
    """Inputs join working memory and the broadcast; while withholding, thoughts and the last
    winner are left out of S_t; cycle.start and broadcast are traced."""
    ctx, events = context(parts)
    ctx.memory.add(make_entry("c1.1", 1, "g1", "thought", "apples are crisp"))
    state = CycleState(temperature=0.7, cycle=2, withhold=1, notes=["[workspace] note"])
    state.last_winner = Candidate("c1.1", "g1", "apples are crisp")
    ctx.inbox.receive("  try pears  ")
    b = await perceive(ctx, state)
    assert b.inputs == ("try pears", "[workspace] note")
    assert b.winner is None
    assert [e.kind for e in b.working_memory] == ["input"]
    assert (state.withhold, state.notes) == (0, [])
    assert kinds(events) == ["cycle.start", "broadcast"]


async def test_deliberate_gathers_candidates_and_critiques_over_the_bus(parts: Any) -> None:
    """Generators' candidates get ids c<cycle>.<n> in agent order; the critic scores each."""
    model = FakeModel()
    roles = BUILTIN_ROLES
    agents = [
        LLMAgent("g1", roles["generator"], model),
        LLMAgent("g2", roles["generator"], model),
        LLMAgent("critic", roles["critic"], model),
    ]
    runners = [AgentRunner(a, parts["bus"], Topics("run-1")) for a in agents]
    for r in runners:
        r.attach()
    ctx, events = context(parts, agents=agents)
    state = CycleState(temperature=0.7, cycle=3)
    b = Broadcast("run-1", 3, "pick a fruit", "")
    candidates, critiques = await deliberate(ctx, state, b)
    for r in runners:
        await r.detach()
    assert [(c.id, c.agent) for c in candidates] == [("c3.1", "g1"), ("c3.2", "g2")]
    assert sorted(c.candidate_id for c in critiques) == ["c3.1", "c3.2"]
    assert state.usage.total > 0
    assert kinds(events).count("model.call") == 3


async def test_compete_inhibits_near_copies_after_normalising_case_and_punctuation(
    parts: Any,
) -> None:
    """A candidate that differs from a recent winner only in case and punctuation is a
    near-copy and may not win; a new thought wins."""
    ctx, events = context(parts)
    state = CycleState(temperature=0.7, cycle=4, recent=["This is a fun way to attract teens"])
    copy = Candidate("c4.1", "g1", "...this is a FUN way to attract teens!", salience=1.0)
    fresh = Candidate("c4.2", "g2", "Lend e-readers for the summer", salience=0.5)
    b = Broadcast("run-1", 4, "g", "")
    selection = await compete(ctx, state, b, [copy, fresh], [])
    assert selection.winner == fresh
    (inhibit,) = [e for e in events if isinstance(e, SelectionInhibit)]
    assert inhibit.inhibited == ["c4.1"]


async def test_update_consolidates_and_offers_what_leaves_with_its_provenance(
    parts: Any,
) -> None:
    """The winner joins working memory and the recent window; over θ the older entries leave
    as admission candidates carrying the signals they won with."""
    sink = Recording()
    ctx, events = context(parts, admission=sink)
    state = CycleState(temperature=0.7, window=2)
    b = Broadcast("run-1", 1, "g", "")
    for t in (1, 2, 3):
        state.cycle = t
        winner = Candidate(
            f"c{t}.1", "g1", f"thought number {t} about apples, pears and plums in the old orchard"
        )
        critique = Critique("critic", winner.id, 5, "good")
        await update(ctx, state, b, Selection("score", winner, "THINK_MORE"), [winner], [critique])
    assert state.recent == [
        "thought number 2 about apples, pears and plums in the old orchard",
        "thought number 3 about apples, pears and plums in the old orchard",
    ]
    assert "memory.consolidate" in kinds(events)
    assert [c.entry.id for c in sink.offered][:1] == ["c1.1"]
    first = sink.offered[0]
    assert (first.role, first.signals.won, first.signals.critic) == ("generator", 1.0, 1.0)


async def test_regulate_applies_the_escalation_step(parts: Any) -> None:
    """A 'perspective' deadlock adds the lens note, withholds and inhibits; it is traced."""
    deadlock = Deadlock("3 winners in a row", "perspective", 2, {"similarity": 0.97, "h": 0.1})
    ctx, events = context(parts, temperature=Source(deadlock))
    state = CycleState(temperature=0.7, cycle=5)
    regulate(ctx, state, Candidate("c5.1", "g1", "x"))
    assert state.temperature == 0.9
    (note,) = state.notes
    assert note.startswith("[workspace]")
    assert (state.withhold, state.inhibit) == (2, 5)
    assert kinds(events) == ["drive.update", "deadlock"]


async def test_stop_conditions_in_their_order(parts: Any) -> None:
    """Stalled before stopped before max cycles before the token budget."""
    ctx, _ = context(parts)
    state = CycleState(temperature=0.7, cycle=1)
    assert stop_condition(ctx, state) is None
    state.usage = state.usage.__class__(900, 200)
    assert stop_condition(ctx, state) == ("budget", "token budget 1000 used (1100)")
    state.cycle = 5
    assert stop_condition(ctx, state) == ("max_cycles", "max_cycles=5 reached")
    ctx.inbox.request_stop("operator")
    assert stop_condition(ctx, state) == ("stopped", "operator")
    state.stalled = "stuck"
    assert stop_condition(ctx, state) == ("stalled", "stuck")
